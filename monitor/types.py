"""Wire types: posts in, scored posts, DLQ records and window statistics out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

Label = Literal["negative", "neutral", "positive"]


class Media(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["image", "audio"]
    mime: str | None = None
    data: str | None = None  # base64
    uri: str | None = None
    _payload: bytes | None = PrivateAttr(default=None)  # inline data, base64-decoded once at validation

    def attach_payload(self, raw: bytes) -> None:
        self._payload = raw

    @property
    def payload(self) -> bytes | None:
        """The decoded bytes of `data` (decoding here if validation did not); None for a `uri` item."""
        if self._payload is None and self.data is not None:
            import base64

            self._payload = base64.b64decode(self.data)
        return self._payload


class Post(BaseModel):
    """A post on `posts.raw` (JSON). `created_at`: RFC 3339 string or epoch milliseconds."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    created_at: datetime
    source: str = "unknown"
    author: str | None = None
    lang: str | None = None
    text: str | None = None
    topics: list[str] = Field(default_factory=list)
    media: list[Media] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("created_at", mode="before")
    @classmethod
    def _event_time(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("created_at must be RFC 3339 or epoch milliseconds")
        if isinstance(v, int | float):
            try:
                return datetime.fromtimestamp(v / 1000.0, tz=UTC)
            except (OverflowError, OSError, ValueError):  # OSError: EOVERFLOW from the C library for huge values
                raise ValueError(f"created_at out of range: {v!r} (epoch milliseconds)") from None
        if isinstance(v, str):
            s = v.strip()
            if s.endswith("Z"):
                s = s[:-1] + "+00:00"
            dt = datetime.fromisoformat(s)
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
        return v

    @property
    def event_ms(self) -> int:
        return int(self.created_at.timestamp() * 1000)


# ---- Wire schema of every output record -------------------------------------------------------------------------
# The stages build these records as plain dicts (a pydantic round trip per post would cost more than the VADER
# scorer); these models are the contract those dicts must satisfy, checked field for field (extra="forbid") by
# tests/unit/test_schema.py on every builder and by the integration test on the records read back from the broker.
# Consumers (replay, verify, the incident page, users' own tools) can parse with them.


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DlqRecord(_Wire):
    """posts.dlq (and alert delivery dead letters): why, and the original bytes."""

    reason: str
    detail: str
    original_b64: str | None = None  # posts.dlq: the message value as received
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    post_id: str | None = None
    time: str
    alert: dict[str, Any] | None = None  # alert_delivery_failed: the alert record no webhook accepted


class ScoredPost(_Wire):
    """posts.scored, key = post id: one record per post."""

    id: str
    topics: list[str]
    event_ms: int
    source: str
    probs: dict[Label, float]  # empty when unscored
    label: Label | Literal["unscored_modality"]
    modalities: list[str]
    model: str
    latency_s: float
    text: str
    by_modality: dict[str, list[float]] = Field(default_factory=dict)
    evidence: dict[str, Any] = Field(default_factory=dict)  # OCR text, transcript, faces, speech seconds ...
    contributions: dict[str, float] = Field(default_factory=dict)
    lane: Literal["text", "media"]
    media_shed: bool
    shed_reason: str | None = None
    cached: bool | None = None


class TopicEvent(_Wire):
    """One post in a by-topic record (internal topic `<app>-bytopic`); explanation fields for negatives only."""

    id: str
    ts: int
    label: Label | Literal["unscored_modality"]
    score: float
    pn: float | None = None
    src: str | None = None
    tx: str | None = None
    mod: list[str] | None = None


class TopicBatch(_Wire):
    """`<app>-bytopic`, key = topic: the events of one input batch for one topic."""

    topic: str
    events: list[TopicEvent]


class NegativePost(_Wire):
    id: str
    p_negative: float
    text: str
    source: str


class WindowStat(_Wire):
    """sentiment.windows, key = topic: one closed event-time window (tumbling; hopping = sum of tumbling ones)."""

    topic: str
    kind: Literal["tumbling", "hopping"]
    start_ms: int
    end_ms: int
    n: int
    negatives: int
    neutrals: int
    positives: int
    negative_rate: float
    mean_score: float
    unscored: int = 0
    closed_at_ms: int
    top_negative: list[NegativePost] | None = None  # tumbling only
    negative_by_modality: dict[str, int] | None = None
    negative_terms: dict[str, int] | None = None


class AlertWindow(_Wire):
    start: str
    end: str
    n: int
    negatives: int


class AlertBlock(_Wire):
    windows: int
    n: int
    negatives: int


class AlertRecord(_Wire):
    """alerts, key = fingerprint: one state change (firing / resolved) of one incident."""

    fingerprint: str
    topic: str
    signal: Literal["negative_rate", "volume"]
    status: Literal["firing", "resolved"]
    startsAt: str  # noqa: N815 - Alertmanager's spelling
    endsAt: str | None  # noqa: N815
    window: AlertWindow
    observed_rate: float
    baseline_rate: float
    block: AlertBlock | None = None  # the firing block (volume: n = posts in it)
    score: float
    p_value: float
    peak_rate: float
    peak_score: float
    onset: str
    scale_windows: int
    scale_s: float | None = None  # the firing block's time scale in seconds
    volume: dict[str, Any] | None = None  # negative_rate alerts while mentions also spike: posts, expected, ratio
    time_to_detect_s: float
    evidence_digits: float
    confidence: Literal["low", "high"]
    runbook_url: str
    dashboardURL: str  # noqa: N815
    incident_url: str = ""  # the incident page of `monitor ui` (also the Alertmanager generatorURL)
    silenced: bool
    silence: dict[str, Any] | None
    top_posts: list[NegativePost]
    rising_terms: list[Any]
    modalities: dict[str, int]
    summary: str


class SilenceRecord(_Wire):
    """alert.silences (compacted), key = topic; a tombstone (null) expires the silence."""

    topic: str
    starts_ms: int
    until_ms: int
    comment: str
    created_by: str
    created_at: str


WIRE_MODELS: dict[str, type[BaseModel]] = {"posts.raw": Post, "posts.scored": ScoredPost, "posts.dlq": DlqRecord,
                                            "bytopic": TopicBatch, "sentiment.windows": WindowStat,
                                            "alerts": AlertRecord, "alert.silences": SilenceRecord}
