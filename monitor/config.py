"""One frozen settings object, built once (CLI) from defaults < YAML file < MONITOR_* env < explicit overrides."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.detect.controls import TopicOverride

MiB = 1024 * 1024


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_message_bytes: int = 8 * MiB
    max_text_chars: int = 20_000
    max_media: int = 8
    max_media_bytes: int = 5 * MiB
    max_topics: int = 32
    max_id_chars: int = 256


class Settings(BaseModel):
    """Every setting of the worker, demo and tools. Env: MONITOR_<NAME> (JSON for lists/dicts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "sentiment-monitor"
    topic_raw: str = "posts.raw"
    topic_scored: str = "posts.scored"
    topic_dlq: str = "posts.dlq"
    topic_windows: str = "sentiment.windows"
    topic_alerts: str = "alerts"
    partitions: int = 4
    replication_factor: int = 1
    session_timeout_s: float = 10.0
    commit_interval_s: float = 1.0
    batch_size: int = 64
    batch_max_wait_s: float = 0.25
    ingest_batch_size: int = 512
    media_lane_capacity: int = 16
    media_max_wait_s: float = 10.0
    media_batch_size: int = 4
    text_cache_entries: int = 50_000
    text_cache_mb: int = 16
    max_hashtag_topics: int = 200
    webhook_give_up_s: float = 3600.0
    window_s: int = 60
    hop_size_s: int = 300
    hop_step_s: int = 60
    grace_s: int = 30
    tick_interval_s: float = 1.0
    watermark_idle_s: float = 5.0
    lag_interval_s: float = 5.0
    catch_all_topic: str = "_all"
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    scorer: str = "auto"  # auto | text | vader
    text_model_dir: str | None = None
    media_encoders: bool = True
    device: str | None = None
    text_backend: Literal["auto", "torch", "int8"] = "auto"
    single_record_batches: bool = True
    malloc_arena_max: int = 2  # glibc malloc arenas for the worker (0 = glibc default); see worker.limit_malloc_arenas
    malloc_trim_interval_s: float = 60.0  # return freed heap to the OS this often (0 = never); see monitor/memory.py
    metrics_port: int = 9108
    metrics_host: str = "127.0.0.1"
    state_dir: str | None = None  # Faust data directory; default <app_id>-data in the working directory
    allow_remote_media: bool = False
    remote_media_allowlist: list[str] = Field(default_factory=list)
    remote_media_allow_private: bool = False
    limits: Limits = Field(default_factory=Limits)
    detect_warmup_windows: int = 30
    detect_min_posts: int = 10
    detect_p_threshold: float = 5e-4
    detect_min_ratio: float = 1.3
    detect_scales: list[int] = Field(default_factory=lambda: [1, 3, 6, 12])
    detect_overdispersion: float = 200.0
    # per-topic operator overrides: {topic: {sensitivity, min_posts, min_ratio, mute: [{start, end, days}]}}
    topic_overrides: dict[str, TopicOverride] = Field(default_factory=dict)
    topic_silences: str = "alert.silences"  # compacted; written by `monitor silence`, read by every worker
    runbook_base_url: str = "docs/runbooks"  # alerts link to <base>/<signal>.md
    dashboard_url: str = "http://localhost:3000/d/sentiment-monitor-topics/topics"  # + ?var-topic=&from=&to=
    alert_resolve_windows: int = 3
    alert_cooldown_s: int = 600
    volume_cooldown_s: int = 3600
    # webhook targets: [{url, secret, timeout_s, format: alertmanager|slack|raw, name}]
    webhooks: list[dict[str, Any]] = Field(default_factory=list)
    # Kafka security, passed through to Faust/aiokafka and kafka-python (not testable on the embedded broker)
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # fault injection for the reliability suite only: the scorer raises on any text containing this marker
    fault_scorer_marker: str | None = None

    @field_validator("detect_scales")
    @classmethod
    def _scales(cls, v: list[int]) -> list[int]:
        if not v or any(x <= 0 for x in v):
            raise ValueError("detect_scales: a non-empty list of window counts > 0")
        return sorted(set(v))

    @field_validator("window_s", "hop_size_s", "hop_step_s", "partitions", "batch_size")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be > 0")
        return v

    @field_validator("security_protocol")
    @classmethod
    def _protocol(cls, v: str) -> str:
        if v not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError("security_protocol must be PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL")
        return v

    def kafka_python_kwargs(self) -> dict[str, Any]:
        """Security settings for kafka-python clients (admin, producer, consumer)."""
        kw: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            kw.update(sasl_mechanism=self.sasl_mechanism or "PLAIN", sasl_plain_username=self.sasl_username,
                      sasl_plain_password=self.sasl_password)
        if self.security_protocol.endswith("SSL"):
            kw.update(ssl_cafile=self.ssl_cafile, ssl_certfile=self.ssl_certfile, ssl_keyfile=self.ssl_keyfile)
        return kw

    def ssl_context(self) -> Any:
        import ssl

        if not self.security_protocol.endswith("SSL"):
            return None
        ctx = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return ctx

    @field_validator("scorer")
    @classmethod
    def _scorer(cls, v: str) -> str:
        if v not in ("auto", "text", "vader"):
            raise ValueError("scorer must be auto | text | vader")
        return v

    def model_post_init(self, _ctx: Any) -> None:
        if self.hop_step_s % self.window_s or self.hop_size_s % self.hop_step_s:
            raise ValueError("hop_step_s must be a multiple of window_s and hop_size_s a multiple of hop_step_s")

    @classmethod
    def load(cls, path: str | Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        data: dict[str, Any] = {}
        path = path or os.environ.get("MONITOR_CONFIG")
        if path:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: config must be a mapping")
            data.update(loaded)
        env = os.environ if env is None else env
        for name, field in cls.model_fields.items():
            raw = env.get(f"MONITOR_{name.upper()}")
            if raw is None:
                continue
            ann = field.annotation
            if ann in (int, float, str, str | None):
                data[name] = raw
            elif ann is bool:
                data[name] = raw.lower() in ("1", "true", "yes", "on")
            else:
                data[name] = json.loads(raw)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)
