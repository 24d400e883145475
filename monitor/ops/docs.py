"""Reference documentation generated from the code: every setting (docs/configuration.md) and every metric
(docs/metrics.md). `monitor ops render --check` (run in CI) fails when a setting has no description here or the
committed files are stale."""

from __future__ import annotations

import json
from typing import Any

from monitor.config import Limits, Settings
from monitor.metrics import Metrics

FIELD_DOCS: dict[str, str] = {
    "bootstrap_servers": "Kafka bootstrap servers, comma-separated host:port.",
    "app_id": "Consumer group id and prefix of the internal topics (by-topic repartition, table changelogs).",
    "topic_raw": "Input topic of posts (JSON, see README: Post schema).",
    "topic_scored": "Output topic of scored posts (key = post id).",
    "topic_dlq": "Dead-letter topic: one record with a reason code per rejected message.",
    "topic_windows": "Closed tumbling and hopping window statistics per monitored topic.",
    "topic_alerts": "Durable record of every alert state change (firing / resolved).",
    "partitions": "Partitions of the topics the worker creates; the maximum parallelism (workers).",
    "replication_factor": "Replication factor of created topics (3 on a production cluster).",
    "session_timeout_s": "Consumer group session timeout: how long a dead worker keeps its partitions.",
    "commit_interval_s": "Offset commit interval (at-least-once; windows are idempotent by post id).",
    "batch_size": "Maximum posts per scoring micro-batch.",
    "batch_max_wait_s": "Longest wait to fill a micro-batch.",
    "ingest_batch_size": "Maximum raw messages read and published per ingest batch (Kafka I/O batch).",
    "media_lane_capacity": "Media posts the media lane holds (queued + encoding); beyond it media are shed.",
    "media_max_wait_s": "A media post queued longer than this is shed (scored on its text, media_shed: true).",
    "media_batch_size": "Media posts encoded per media-lane batch.",
    "text_cache_entries": "Entries of the duplicate-text cache (0: off).",
    "text_cache_mb": "Bytes (MiB) of normalised text the duplicate-text cache may hold.",
    "max_hashtag_topics": "Hashtags that are topics at a time (top by volume); the rest count under _hashtags.",
    "webhook_give_up_s": "A webhook still failing this long after an alert's first attempt gives up: the alert "
                         "goes to the dead-letter topic (reason alert_delivery_failed). 0: retry forever.",
    "window_s": "Tumbling window (bucket) size in seconds of event time.",
    "hop_size_s": "Hopping window size (a multiple of hop_step_s).",
    "hop_step_s": "Hopping window step (a multiple of window_s).",
    "grace_s": "Allowed lateness: a bucket closes when the watermark passes its end plus this.",
    "tick_interval_s": "How often a worker sends its watermark to the aggregation partitions.",
    "watermark_idle_s": "A raw partition silent this long no longer holds the watermark back.",
    "lag_interval_s": "How often the consumer lag per partition is measured.",
    "catch_all_topic": "Monitored topic every post also counts in (empty string: none).",
    "keywords": "Monitored keyword topics: {topic: [word | 're:regex', ...]} (cashtags and hashtags are automatic).",
    "scorer": "auto (fine-tuned text model, VADER if it cannot load) | text | vader.",
    "text_model_dir": "Directory of a trained text model artefact (default: the one shipped in the package).",
    "media_encoders": "Score image and audio posts with the media encoders (OCR, faces, speech, prosody).",
    "device": "Torch device for the encoders (default: cuda when available, else cpu).",
    "single_record_batches": "One record per produced batch. Needed on the embedded Tansu broker, which reports a "
                             "partition's end offset as the last batch's base offset + 1: table recovery and "
                             "readers then stop before the last records of a multi-record batch (state lost "
                             "after a restart). Set false on Apache Kafka (deploy/).",
    "text_backend": "Text model backend: auto (int8 dynamic quantisation on CPU, fp16 torch on a GPU), torch "
                    "(fp32 on CPU), int8.",
    "metrics_port": "Port of /metrics, /healthz and /readyz.",
    "metrics_host": "Address the metrics server binds (0.0.0.0 in containers).",
    "state_dir": "Faust data directory (table metadata; default: <app_id>-data in the working directory).",
    "allow_remote_media": "Fetch media given by uri (off: such media are dead-lettered).",
    "remote_media_allowlist": "Hosts media may be fetched from when allow_remote_media is on.",
    "remote_media_allow_private": "Allow fetching from private / loopback addresses (tests only; SSRF guard).",
    "limits": "Input limits (see the limits.* rows).",
    "detect_warmup_windows": "Windows of a topic before the spike detector may fire.",
    "detect_min_posts": "Minimum posts in a window for the rate test.",
    "detect_p_threshold": "Scale-adjusted tail probability under the topic's baseline below which a block of windows "
                          "is anomalous (chosen on the simulator's dev seeds for <= 0.5 false alarms per topic-week).",
    "detect_min_ratio": "Minimum observed/baseline negative-rate ratio of the firing block.",
    "malloc_trim_interval_s": "Seconds between malloc_trim(0) calls in the worker (0 = never): returns freed heap "
                              "pages to the OS so RSS follows the live heap (monitor/memory.py).",
    "malloc_arena_max": "glibc malloc arenas in the worker (0 = glibc default, 8 x cores): 2 measured ~0.5 GB less "
                        "RSS in a 12-minute soak; MALLOC_ARENA_MAX in the environment wins.",
    "detect_scales": "Block lengths (in windows) scanned for evidence; the best is kept, Bonferroni-adjusted.",
    "detect_overdispersion": "Beta prior strength of the rate test: smaller tolerates more natural variation.",
    "topic_overrides": "Per topic: {sensitivity (multiplies detect_p_threshold), min_posts, min_ratio, "
                       "mute: [{start: HH:MM, end: HH:MM, days: [mon..sun]}] (UTC; no new incident fires)}.",
    "topic_silences": "Compacted topic of silences (`monitor silence add|expire|list`); every worker reads it all.",
    "runbook_base_url": "Alerts carry runbook_url = <base>/<signal>.md (docs/runbooks in this repository).",
    "dashboard_url": "Alerts carry dashboardURL = this + ?var-topic=<topic>&from=&to= around the incident.",
    "alert_resolve_windows": "Consecutive normal windows before an alert resolves (hysteresis).",
    "alert_cooldown_s": "After a resolve, a new rate alert on the same topic waits this long.",
    "volume_cooldown_s": "Cooldown of volume-spike alerts.",
    "webhooks": "Webhook targets: [{name, url, secret, timeout_s, format: alertmanager | slack | raw}].",
    "security_protocol": "PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL.",
    "sasl_mechanism": "PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512.",
    "sasl_username": "SASL user.",
    "sasl_password": "SASL password (never logged).",
    "ssl_cafile": "CA bundle for SSL.",
    "ssl_certfile": "Client certificate for SSL.",
    "ssl_keyfile": "Client key for SSL.",
    "fault_scorer_marker": "Fault injection for the reliability suite: the scorer raises on texts containing it.",
    "limits.max_message_bytes": "Largest raw message (too_large).",
    "limits.max_text_chars": "Longest text (text_too_long).",
    "limits.max_media": "Most media items per post (too_many_media).",
    "limits.max_media_bytes": "Largest decoded media item (media_too_large).",
    "limits.max_topics": "Most explicit topics per post.",
    "limits.max_id_chars": "Longest post id.",
}


def _rows() -> list[tuple[str, str, Any]]:
    rows: list[tuple[str, str, Any]] = []
    for name, f in Settings.model_fields.items():
        default = f.default_factory() if f.default_factory else f.default  # type: ignore[call-arg]
        if name == "limits":
            continue
        rows.append((name, f"MONITOR_{name.upper()}", default))
    for name, f in Limits.model_fields.items():
        rows.append((f"limits.{name}", "MONITOR_LIMITS (JSON object)", f.default))
    return rows


def missing_docs() -> list[str]:
    return [name for name, _, _ in _rows() if name not in FIELD_DOCS]


def configuration_md() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `monitor/config.py` by `monitor ops render`. Precedence: defaults < YAML file "
             "(`--config` or `MONITOR_CONFIG`) < `MONITOR_*` environment variables (JSON for lists and mappings) "
             "< command-line flags.", "",
             "| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, env, default in _rows():
        lines.append(f"| `{name}` | `{env}` | `{json.dumps(default)}` | {FIELD_DOCS.get(name, '')} |")
    return "\n".join(lines) + "\n"


def metrics_md() -> str:
    lines = ["# Metrics reference", "",
             "Generated from `monitor/metrics/__init__.py` by `monitor ops render`. Served on "
             "`http://<worker>:9108/metrics`.", "",
             "| metric | type | labels | help |", "|---|---|---|---|"]
    for fam in Metrics().registry.collect():
        name = fam.name + ("_total" if fam.type == "counter" else "_info" if fam.type == "info" else "")
        label_names = _declared_labels(fam.name)
        lines.append(f"| `{name}` | {fam.type} | {', '.join(label_names) or '—'} | {fam.documentation} |")
    return "\n".join(lines) + "\n"


def _declared_labels(family: str) -> list[str]:
    m = Metrics()
    for attr in vars(m).values():
        names = getattr(attr, "_labelnames", None)
        if names is not None and getattr(attr, "_name", None) in (family, family + "_total"):
            return list(names)
    return []
