"""Wire types: posts in, scored posts, DLQ records and window statistics out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Label = Literal["negative", "neutral", "positive"]


class Media(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["image", "audio"]
    mime: str | None = None
    data: str | None = None  # base64
    uri: str | None = None

    @field_validator("uri")
    @classmethod
    def _one_source(cls, v: str | None) -> str | None:
        return v


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


class DlqRecord(BaseModel):
    reason: str
    detail: str
    original_b64: str
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    post_id: str | None = None
    time: str


class ScoredPost(BaseModel):
    id: str
    topics: list[str]
    event_ms: int
    source: str
    probs: dict[str, float]
    label: Label | Literal["unscored_modality"]
    modalities: list[str]
    model: str
    latency_s: float
    text: str | None = None


class WindowStat(BaseModel):
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
