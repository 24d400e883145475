"""The settings' sections: one pydantic model per section, each field with its default and description.

`monitor.config.Settings` holds one of each (`SECTIONS`, in order); docs/configuration.md is generated from the
descriptions here (`monitor ops render`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.detect.controls import TopicOverride

MiB = 1024 * 1024


def _positive(v: int | None) -> int | None:
    if v is not None and v <= 0:
        raise ValueError("must be > 0")
    return v


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_message_bytes: int = Field(8 * MiB, description="Largest raw message (too_large).")
    max_text_chars: int = Field(20_000, description="Longest text (text_too_long).")
    max_media: int = Field(8, description="Most media items per post (too_many_media).")
    max_media_bytes: int = Field(5 * MiB, description="Largest decoded media item (media_too_large).")
    max_topics: int = Field(32, description="Most explicit topics per post.")
    max_id_chars: int = Field(256, description="Longest post id.")


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(Section):
    """The broker, the topics the worker reads and writes, consumer/producer behaviour and security."""

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port.")
    app_id: str = Field(
        "sentiment-monitor", description=(
            "Consumer group id and prefix of the internal topics (by-topic repartition, table "
            "changelogs)."))
    topic_raw: str = Field("posts.raw", description="Input topic of posts (JSON, see README: Post schema).")
    topic_scored: str = Field("posts.scored", description="Output topic of scored posts (key = post id).")
    topic_dlq: str = Field(
        "posts.dlq", description="Dead-letter topic: one record with a reason code per rejected message.")
    topic_windows: str = Field(
        "sentiment.windows", description="Closed tumbling and hopping window statistics per monitored topic.")
    topic_alerts: str = Field(
        "alerts", description="Durable record of every alert state change (firing / resolved).")
    # compacted; written by `monitor silence`, read by every worker
    topic_silences: str = Field(
        "alert.silences", description=(
            "Compacted topic of silences (`monitor silence add|expire|list`); every worker reads it "
            "all."))
    partitions: int = Field(
        4, description="Partitions of the topics the worker creates; the maximum parallelism (workers).")
    replication_factor: int = Field(
        1, description="Replication factor of created topics (3 on a production cluster).")
    session_timeout_s: float = Field(
        10.0, description="Consumer group session timeout: how long a dead worker keeps its partitions.")
    commit_interval_s: float = Field(
        1.0, description="Offset commit interval (at-least-once; windows are idempotent by post id).")
    single_record_batches: bool = Field(
        True, description=(
            "One record per produced batch. Needed on the embedded Tansu broker, which reports a "
            "partition's end offset as the last batch's base offset + 1: table recovery and readers "
            "then stop before the last records of a multi-record batch (state lost after a restart). "
            "Set false on Apache Kafka (deploy/)."))
    batched_outputs: bool = Field(
        True, description=(
            "Stage outputs (scored posts, by-topic records and ticks, DLQ, windows) go through a dedicated "
            "producer with normal batching, flushed before every offset commit; Faust's own producer (table "
            "changelogs, alerts) keeps `single_record_batches`. Only matters with `single_record_batches` (the "
            "embedded broker): 2.1-2.7x the vader bench there. The restart race once seen with it on (a pending "
            "alert skipped) was Faust's fetch loop across a seek (monitor/faust_compat/patches.py, fix 3)."))
    # Kafka security, passed through to Faust/aiokafka and kafka-python (not testable on the embedded broker)
    # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL.")
    # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_mechanism: str | None = Field(None, description="PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512.")
    sasl_username: str | None = Field(None, description="SASL user.")
    sasl_password: str | None = Field(default=None, repr=False, description="SASL password (never logged).")
    ssl_cafile: str | None = Field(None, description="CA bundle for SSL.")
    ssl_certfile: str | None = Field(None, description="Client certificate for SSL.")
    ssl_keyfile: str | None = Field(None, description="Client key for SSL.")

    _partitions = field_validator("partitions")(_positive)

    @field_validator("security_protocol")
    @classmethod
    def _protocol(cls, v: str) -> str:
        if v not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError("security_protocol must be PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL")
        return v


class WindowsSettings(Section):
    """Event-time windows, the watermark, and how stalled or silent partitions are handled."""

    window_s: int = Field(60, description="Tumbling window (bucket) size in seconds of event time.")
    hop_size_s: int | None = Field(
        None, description="Hopping window size (a multiple of hop_step_s). Default: 5 steps.")
    hop_step_s: int | None = Field(
        None, description="Hopping window step (a multiple of window_s). Default: window_s.")
    grace_s: int = Field(
        30, description="Allowed lateness: a bucket closes when the watermark passes its end plus this.")
    tick_interval_s: float = Field(
        1.0, description="How often a worker sends its watermark to the aggregation partitions.")
    watermark_idle_s: float = Field(
        5.0, description="A raw partition silent this long no longer holds the watermark back.")
    ingest_stall_s: float = Field(
        15.0, description="A raw partition with records the ingest stage has not finished and no progress this long "
        "(the stage idle) is re-read from its next unfinished offset (recovers records Faust dropped while a "
        "restart's recovery was finishing).")

    _sizes = field_validator("window_s", "hop_size_s", "hop_step_s")(_positive)

    @model_validator(mode="after")
    def _hops(self) -> WindowsSettings:
        # hop settings follow window_s unless set: MONITOR_WINDOW_S=3600 alone must never fail
        if self.hop_step_s is None:
            object.__setattr__(self, "hop_step_s", self.window_s)
        if self.hop_size_s is None:
            object.__setattr__(self, "hop_size_s", 5 * int(self.hop_step_s or self.window_s))
        assert self.hop_step_s is not None and self.hop_size_s is not None
        if self.hop_step_s % self.window_s or self.hop_size_s % self.hop_step_s:
            raise ValueError(
                f"hop_step_s ({self.hop_step_s}) must be a multiple of window_s ({self.window_s}) and hop_size_s "
                f"({self.hop_size_s}) a multiple of hop_step_s; leave both unset to derive them from window_s")
        return self


class DetectSettings(Section):
    """The negative-rate and volume detectors, per-topic overrides, alert hysteresis and cooldowns."""

    detect_idle_evict_s: float = Field(
        30 * 86400, description="A topic's detector state (its learnt baseline) is forgotten after this long without "
        "a window, in event time (bounded state: topics that fell out of the topic budgets). 0: never.")
    detect_warmup_windows: int = Field(
        30, description="Warm-up in windows, used when detect_warmup_s is not set (30 windows of window_s).")
    detect_warmup_s: float | None = Field(
        None, description="Event time of a topic before the negative-rate detector may fire (seconds).")
    detect_min_posts: int = Field(10, description="Minimum posts in the firing block for the rate test.")
    detect_p_threshold: float | None = Field(
        None, description=(
            "Scale-adjusted tail probability below which a block is anomalous. Default: "
            "detect_false_alarms_per_week * window_s / one week (the same budget in time for any window size)."))
    detect_false_alarms_per_week: float = Field(
        0.5, description=(
            "Nominal false-alarm budget per topic-week that sets the negative-rate test's default p threshold, "
            "spread over the windows a topic is actually tested on."))
    volume_false_alarms_per_week: float = Field(
        0.15, description=(
            "Nominal false-alarm budget per topic-week that sets the volume test's default p threshold (chosen on "
            "the dev half of the real cashtag stream for <= 0.1 unmatched alerts per ticker-week)."))
    detect_min_ratio: float = Field(
        1.3, description="Minimum observed/baseline negative-rate ratio of the firing block.")
    detect_scales_s: list[float] = Field(
        default_factory=lambda: [60, 300, 900, 3600, 21600, 86400], description=(
            "Time scales (seconds) scanned for evidence, rounded to whole windows (those under a window are "
            "dropped); the best is kept, Bonferroni-adjusted over the scales tested."))
    detect_scales: list[int] | None = Field(
        None, description="Deprecated: scales in windows (overrides detect_scales_s as window counts).")
    detect_half_life_s: float = Field(
        3 * 3600.0, description=(
            "Memory of a topic's baseline negative share (event-time half-life, seconds); the baseline never "
            "decays below detect_memory_posts posts, so a sparse topic remembers for months."))
    detect_memory_posts: float = Field(
        400.0, description="Posts of memory the negative-share baseline always keeps.")
    detect_overdispersion: float = Field(
        200.0, description="Beta prior strength of the rate test: smaller tolerates more natural variation.")
    # per-topic operator overrides: {topic: {sensitivity, min_posts, min_ratio, mute: [{start, end, days}]}}
    topic_overrides: dict[str, TopicOverride] = Field(
        default_factory=dict, description=(
            "Per topic: {sensitivity (multiplies detect_p_threshold), min_posts, min_ratio, mute: "
            "[{start: HH:MM, end: HH:MM, days: [mon..sun]}] (UTC; no new incident fires)}."))
    alert_resolve_windows: int = Field(
        3, description="Consecutive normal windows before an alert resolves (hysteresis).")
    alert_cooldown_s: int = Field(
        600, description="After a resolve, a new rate alert on the same topic waits this long.")
    volume_cooldown_s: int = Field(3600, description="Cooldown of volume-spike alerts.")
    volume_warmup_s: float = Field(
        86400.0, description="Event time of a topic before the volume detector may fire (seconds): a daily cycle.")
    volume_half_life_s: float = Field(
        14 * 86400.0, description="Memory of a topic's volume baseline and seasonality (half-life, seconds).")
    volume_min_ratio: float = Field(2.0, description="Minimum observed/expected posts of a firing volume block.")
    volume_min_count: int = Field(5, description="Minimum posts of a firing volume block.")
    volume_p_threshold: float | None = Field(
        None, description="Scale-adjusted p threshold of the volume test (default: from the false-alarm budget).")

    @field_validator("detect_scales")
    @classmethod
    def _scales(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(x <= 0 for x in v)):
            raise ValueError("detect_scales: a non-empty list of window counts > 0")
        return sorted(set(v)) if v is not None else None

    @field_validator("detect_scales_s")
    @classmethod
    def _scales_s(cls, v: list[float]) -> list[float]:
        if not v or any(x <= 0 for x in v):
            raise ValueError("detect_scales_s: a non-empty list of durations in seconds > 0")
        return sorted(set(v))


class MediaSettings(Section):
    """Scoring: the scorer and text model, micro-batches, the duplicate-text cache, the media lane and encoders,
    and remote media fetching."""

    # auto | text | vader
    scorer: str = Field(
        "auto", description="auto (fine-tuned text model, VADER if it cannot load) | text | vader.")
    text_model_dir: str | None = Field(
        None, description=(
            "Directory of a trained text model artefact (default: the one shipped in the package)."))
    text_backend: Literal["auto", "torch", "int8"] = Field(
        "auto", description=(
            "Text model backend: auto (int8 per token x per channel on CPU, fp16 torch on a GPU), torch "
            "(fp32 on CPU), int8."))
    device: str | None = Field(
        None, description="Torch device for the encoders (default: cuda when available, else cpu).")
    batch_size: int = Field(64, description="Maximum posts per scoring micro-batch.")
    batch_max_wait_s: float = Field(0.25, description="Longest wait to fill a micro-batch.")
    text_cache_entries: int = Field(50_000, description="Entries of the duplicate-text cache (0: off).")
    text_cache_mb: int = Field(
        16, description="Bytes (MiB) of normalised text the duplicate-text cache may hold.")
    media_encoders: bool = Field(
        True, description="Score image and audio posts with the media encoders (OCR, faces, speech, prosody).")
    media_lane_capacity: int = Field(
        16, description="Media posts the media lane holds (queued + encoding); beyond it media are shed.")
    media_lane_max_mb: float = Field(
        64.0, description="Raw media-post bytes (MiB) the media lane holds (queued + encoding); beyond it media are "
        "shed (one post is always admitted into an empty lane). Bounds the worker's memory, not only the count.")
    media_max_wait_s: float = Field(
        10.0, description=(
            "A media post queued longer than this is shed (scored on its text, media_shed: true)."))
    media_batch_size: int = Field(4, description="Media posts encoded per media-lane batch.")
    allow_remote_media: bool = Field(
        False, description="Fetch media given by uri (off: such media are dead-lettered).")
    remote_media_allowlist: list[str] = Field(
        default_factory=list, description="Hosts media may be fetched from when allow_remote_media is on.")
    remote_media_allow_private: bool = Field(
        False, description="Allow fetching from private / loopback addresses (tests only; SSRF guard).")

    _batch = field_validator("batch_size")(_positive)

    @field_validator("scorer")
    @classmethod
    def _scorer(cls, v: str) -> str:
        if v not in ("auto", "text", "vader"):
            raise ValueError("scorer must be auto | text | vader")
        return v


class SourcesSettings(Section):
    """What counts as a topic (keywords, budgets of hashtag / cashtag / explicit topics) and the input limits of a
    post."""

    catch_all_topic: str = Field(
        "_all", description="Monitored topic every post also counts in (empty string: none).")
    keywords: dict[str, list[str]] = Field(
        default_factory=dict, description=(
            "Monitored keyword topics: {topic: [word | 're:regex', ...]} (cashtags and hashtags are "
            "automatic)."))
    monitored_topics: list[str] = Field(
        default_factory=list, description="Topics (tickers, hashtags, names) that are always monitored, never "
        "folded by the budgets above.")
    max_hashtag_topics: int = Field(
        200, description="Hashtags that are topics at a time (top by volume); the rest count under _hashtags.")
    max_cashtag_topics: int = Field(
        1000, description="Cashtags that are topics at a time (top by volume; monitored_topics always are); the "
        "rest count under _cashtags. 0: unbounded.")
    max_explicit_topics: int = Field(
        500, description="A post's own explicit topics that are topics at a time (top by volume); the rest count "
        "under _topics. 0: unbounded.")
    limits: Limits = Field(default_factory=Limits, description="Input limits (see the limits.* rows).")


class AlertsSettings(Section):
    """Where alerts go (webhooks), how long delivery retries, and the runbook link they carry."""

    # webhook targets: [{url, secret, timeout_s, format: alertmanager|slack|raw, name}]
    webhooks: list[dict[str, Any]] = Field(
        default_factory=list, repr=False, description=(  # secrets and secret URLs: never in a repr or a log
            "Webhook targets: [{name, url, secret, timeout_s, format: alertmanager | slack | raw}]."))
    webhook_give_up_s: float = Field(
        3600.0, description=(
            "A webhook still failing this long after an alert's first attempt gives up: the alert goes "
            "to the dead-letter topic (reason alert_delivery_failed). 0: retry forever."))
    # alerts link to <base>/<signal>.md
    runbook_base_url: str = Field(
        "docs/runbooks", description=(
            "Alerts carry runbook_url = <base>/<signal>.md (docs/runbooks in this repository)."))


class UiSettings(Section):
    """The pages people open from an alert: the incident UI (`monitor ui`) and the Grafana dashboard."""

    # + ?var-topic=&from=&to=
    ui_base_url: str = Field(
        "http://127.0.0.1:8090", description=(
            "External base URL of `monitor ui`: alerts carry incident_url = <base>/incidents/<fingerprint>, also "
            "their Alertmanager generatorURL (empty: no incident link, generatorURL = dashboardURL)."))
    dashboard_url: str = Field(
        "http://localhost:3000/d/sentiment-monitor-topics/topics", description=(
            "Alerts carry dashboardURL = this + ?var-topic=<topic>&from=&to= around the incident."))


class WorkerSettings(Section):
    """The worker process: ingest I/O batches, lag measurement, memory, the metrics server and local state."""

    ingest_batch_size: int = Field(
        512, description="Maximum raw messages read and published per ingest batch (Kafka I/O batch).")
    lag_interval_s: float = Field(5.0, description="How often the consumer lag per partition is measured.")
    # glibc malloc arenas for the worker (0 = glibc default); see worker.limit_malloc_arenas
    malloc_arena_max: int = Field(
        2, description=(
            "glibc malloc arenas in the worker (0 = glibc default, 8 x cores): 2 measured ~0.5 GB less "
            "RSS in a 12-minute soak; MALLOC_ARENA_MAX in the environment wins."))
    # return freed heap to the OS this often (0 = never, the default); see monitor/memory.py
    malloc_trim_interval_s: float = Field(
        0.0, description=(
            "Seconds between malloc_trim(0) calls in the worker (0 = never, the default). Trimming lowers the "
            "average RSS (~1.4 GB against ~1.57 GB in 60-minute soaks at 100 posts/s) but the freed pages are "
            "faulted back within seconds: RSS swung by +-100 MB and crept up for ~30 minutes (+15 % peak from "
            "minute 10), with 12 % fewer image batches. Untrimmed, RSS stays at the heap's high-water mark: "
            "+2.3 % peak from minute 10 (docs/operations.md#soak)."))
    metrics_port: int = Field(9108, description="Port of /metrics, /healthz and /readyz.")
    metrics_host: str = Field(
        "127.0.0.1", description="Address the metrics server binds (0.0.0.0 in containers).")
    # Faust data directory; default <app_id>-data in the working directory
    state_dir: str | None = Field(
        None, description=(
            "Faust data directory (table metadata; default: <app_id>-data in the working directory)."))


class TestingSettings(Section):
    """Fault injection for the reliability suite (tests/reliability) only: never set in production."""

    __test__ = False  # not a pytest test class

    # fault injection for the reliability suite only: the scorer raises on any text containing this marker
    fault_scorer_marker: str | None = Field(
        None, description=(
            "Fault injection for the reliability suite: the scorer raises on texts containing it."))
    fault_drop_raw_marker: str | None = Field(
        None, description="Fault injection for the reliability suite: the first raw record containing it is "
        "dropped before the ingest stage and never acknowledged, like a record Faust drops while a restart's "
        "recovery finishes.")
    fault_drop_bytopic_key: str | None = Field(
        None, description="Fault injection for the reliability suite: the first by-topic record of this topic is "
        "dropped before the aggregation stage and never acknowledged.")
    fault_produce_marker: str | None = Field(
        None, description="Fault injection for the reliability suite: a connector's record containing it is never "
        "sent and its delivery fails, as when the broker does not acknowledge it after its retries.")
    fault_produce_fail_topic: str | None = Field(
        None, description="Fault injection for the reliability suite: the worker's first two records to this topic "
        "are refused (their delivery fails, nothing reaches the broker), as a broker refusing a produce would.")
    fault_drop_ordered_stage: Literal["detect", "deliver"] | None = Field(
        None, description="Fault injection for the reliability suite: the first record the detection (windows) or "
        "delivery (alerts) stage receives is dropped before it and never acknowledged.")


# section name -> model, in the order of Settings' fields and docs/configuration.md
SECTIONS: dict[str, type[Section]] = {
    "kafka": KafkaSettings, "windows": WindowsSettings, "detect": DetectSettings, "media": MediaSettings,
    "sources": SourcesSettings, "alerts": AlertsSettings, "ui": UiSettings, "worker": WorkerSettings,
    "testing": TestingSettings}

