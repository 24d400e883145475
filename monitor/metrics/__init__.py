"""Every metric of the service, in one place (prometheus-client; `monitor_` prefix, base units).

Build one `Metrics` per process (tests pass a fresh CollectorRegistry). Label cardinality: `reason`, `label`,
`kind`, `modality` are small closed sets; `topic` is bounded by `max_topic_series` (topics past the cap
are aggregated under topic="_other").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONFIDENCE_BUCKETS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
FRESHNESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, max_topic_series: int = 500) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.max_topic_series = max_topic_series
        self._topics: set[str] = set()
        self._ingest(r)
        self._windows(r)
        self._alerting(r)
        self._scores(r)
        self._pipeline(r)
        self._rereads(r)
        self._topics_and_info(r)

    def _ingest(self, r: CollectorRegistry) -> None:
        """Reading, scoring and dead-lettering posts."""
        self.posts_received = Counter("monitor_posts_received_total", "Messages read from the raw posts topic",
                                      registry=r)
        self.posts_scored = Counter("monitor_posts_scored_total", "Posts scored and published", ["label"],
                                    registry=r)
        self.posts_dead_lettered = Counter("monitor_posts_dead_lettered_total",
                                           "Messages sent to the dead-letter topic", ["reason"], registry=r)
        self.processing_seconds = Histogram("monitor_processing_seconds",
                                            "Seconds from the raw message's broker timestamp to its scored record",
                                            buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("monitor_batch_size", "Posts per scoring micro-batch", buckets=BATCH_BUCKETS,
                                    registry=r)
        self.scorer_seconds = Histogram("monitor_scorer_seconds", "Scorer wall time per micro-batch", ["modality"],
                                        buckets=LATENCY_BUCKETS, registry=r)

    def _windows(self, r: CollectorRegistry) -> None:
        """Window aggregation and the event-time watermark."""
        self.window_negative_rate = Gauge("monitor_window_negative_ratio",
                                          "Negative share of the last closed window per topic", ["topic", "kind"],
                                          registry=r)
        self.window_posts = Gauge("monitor_window_posts", "Scored posts in the last closed window per topic",
                                  ["topic", "kind"], registry=r)
        self.window_closed_ts = Gauge("monitor_window_last_closed_timestamp_seconds",
                                      "Wall time at which the last window of a topic closed", ["topic"], registry=r)
        self.windows_emitted = Counter("monitor_windows_emitted_total", "Closed windows published", ["kind"],
                                       registry=r)
        self.late_events = Counter("monitor_late_events_total",
                                   "Scored posts whose window had already closed (beyond grace): not counted",
                                   registry=r)
        self.duplicates_skipped = Counter("monitor_duplicates_skipped_total",
                                          "Redelivered posts skipped by the idempotent window aggregation",
                                          registry=r)
        self.watermark = Gauge("monitor_watermark_timestamp_seconds", "Event-time watermark of this worker",
                               registry=r)

    def _alerting(self, r: CollectorRegistry) -> None:
        """Detection, alert state changes, silences and webhook delivery."""
        self.detect_windows = Counter("monitor_detect_windows_total",
                                      "Closed tumbling windows the detectors evaluated (each record once)", registry=r)
        self.alerts = Counter("monitor_alerts_total", "Alert state changes published", ["status"], registry=r)
        self.silences = Gauge("monitor_silences", "Silences this worker holds (from the silences topic, incl. "
                              "expired ones not yet tombstoned)", registry=r)
        self.alerts_silenced = Counter("monitor_alerts_silenced_total",
                                       "Alert state changes published while their topic was silenced (no webhook)",
                                       ["signal"], registry=r)
        self.alert_deliveries = Counter("monitor_alert_delivery_attempts_total",
                                        "Webhook delivery attempts by outcome (ok, retry, give_up)",
                                        ["target", "outcome"], registry=r)
        self.alert_delivery_seconds = Histogram("monitor_alert_delivery_seconds", "Webhook request duration",
                                                buckets=LATENCY_BUCKETS, registry=r)

    def _scores(self, r: CollectorRegistry) -> None:
        """Per-topic labels and the model's confidence."""
        self.topic_posts = Counter("monitor_topic_posts_total",
                                   "Scored posts per monitored topic and label (PromQL negative rates)",
                                   ["topic", "label"], registry=r)
        self.model_confidence = Histogram("monitor_model_confidence",
                                          "Top class probability of each scored post", ["label"],
                                          buckets=CONFIDENCE_BUCKETS, registry=r)

    def _pipeline(self, r: CollectorRegistry) -> None:
        """Consumer lag, in-flight work, lanes, caches and the producer."""
        self.consumer_lag = Gauge("monitor_consumer_lag_messages",
                                  "Messages between the end of a partition and this worker's consumer position",
                                  ["topic", "partition"], registry=r)
        self.inflight_batches = Gauge("monitor_inflight_batches", "Micro-batches being scored or published",
                                      registry=r)
        self.encoder_queue = Gauge("monitor_encoder_queue_posts",
                                   "Posts handed to the encoders and not yet scored", registry=r)
        self.assigned_partitions = Gauge("monitor_assigned_partitions",
                                         "Partitions of the consumer group assigned to this worker", registry=r)
        self.media_shed = Counter("monitor_media_shed_total",
                                  "Media items whose enrichment was skipped (reason: media lane full or timed out, or "
                                  "a remote link that could not be fetched); the post was scored on its text and "
                                  "marked media_shed", ["modality", "reason"], registry=r)
        self.media_lane_posts = Gauge("monitor_media_lane_posts", "Media posts queued or being encoded in the media lane",
                                      registry=r)
        self.lane_lag_seconds = Gauge("monitor_lane_lag_seconds",
                                      "Freshness per lane: age (now - broker timestamp) of the oldest post not yet "
                                      "scored; 0 when caught up", ["lane"], registry=r)
        self.event_to_scored_seconds = Histogram("monitor_event_to_scored_seconds",
                                                 "Seconds from a post's event time (created_at) to its scored record",
                                                 ["lane"], buckets=FRESHNESS_BUCKETS, registry=r)
        self.text_cache = Counter("monitor_text_cache_requests_total",
                                  "Duplicate-text cache lookups by result (hit, miss)", ["result"], registry=r)
        self.text_cache_hit_ratio = Gauge("monitor_text_cache_hit_ratio",
                                          "Hits / lookups of the duplicate-text cache since start", registry=r)
        self.produce_errors = Counter("monitor_produce_errors_total", "Records the producer failed to deliver",
                                      ["topic"], registry=r)

    def _rereads(self, r: CollectorRegistry) -> None:
        """Re-reads and held partitions of the ordered stages."""
        self.ingest_rereads = Counter("monitor_ingest_rereads_total",
                                      "Raw partitions re-read because fetched records never reached the ingest "
                                      "stage (a record dropped by the consumer during a restart's recovery)",
                                      registry=r)
        self.aggregate_rereads = Counter("monitor_aggregate_rereads_total",
                                         "By-topic partitions re-read because a record was fetched but never reached "
                                         "the aggregation stage (its windows were held until it arrived)", registry=r)
        self.windows_held = Gauge("monitor_windows_held_partitions",
                                  "By-topic partitions whose window closing waits for a record fetched but never "
                                  "delivered to the aggregation stage", registry=r)
        self.ordered_rereads = Counter("monitor_ordered_rereads_total",
                                       "Windows/alerts partitions re-read because a record past a missing offset "
                                       "arrived (the missing record was fetched but never delivered)", ["stage"],
                                       registry=r)
        self.ordered_held = Gauge("monitor_ordered_held_partitions",
                                  "Windows/alerts partitions whose records are held until a missing earlier record "
                                  "arrives (detection and delivery take a partition's records in order)", ["stage"],
                                  registry=r)
        self.ordered_late = Counter("monitor_ordered_late_total",
                                    "Windows/alerts records that arrived after their hole was given up (handled late, "
                                    "out of order)", ["stage"], registry=r)
        self.ordered_give_ups = Counter("monitor_ordered_give_ups_total",
                                        "Holes given up on after the re-read brought nothing (offsets that are not "
                                        "records, a retention jump): the held records went on", ["stage"], registry=r)

    def _topics_and_info(self, r: CollectorRegistry) -> None:
        """Topic folding, detector eviction, alert dead letters and info metrics."""
        self.topics_folded = Counter("monitor_topics_folded_total",
                                     "Hashtags, cashtags or explicit topics outside their top-N by volume, counted "
                                     "under their kind's catch-all topic (_hashtags, _cashtags, _topics)", ["kind"],
                                     registry=r)
        self.detector_evictions = Counter("monitor_detector_evictions_total",
                                          "Topics whose detector state was forgotten after detect_idle_evict_s "
                                          "without a window", registry=r)
        self.alert_dead_letters = Counter("monitor_alert_dead_letters_total",
                                          "Alerts given up on a webhook after the retry horizon (to the alerts DLQ)",
                                          ["target"], registry=r)
        self.model_info = Info("monitor_model", "Scorer model in use", registry=r)
        self.build_info = Info("monitor_build", "Monitor build", registry=r)

    def topic_label(self, topic: str) -> str:
        if topic in self._topics:
            return topic
        if len(self._topics) < self.max_topic_series:
            self._topics.add(topic)
            return topic
        return "_other"


class SourceMetrics:
    """Metrics of one connector process (`monitor ingest SOURCE`); label `source` is the connector name."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.posts = Counter("monitor_source_posts_total", "Posts a connector published to the raw topic",
                             ["source"], registry=r)
        self.filtered = Counter("monitor_source_filtered_total", "Source items dropped by the connector's filters",
                                ["source"], registry=r)
        self.ignored = Counter("monitor_source_ignored_total",
                               "Source events that are not posts (deletes, profile updates, other collections)",
                               ["source"], registry=r)
        self.malformed = Counter("monitor_source_malformed_total",
                                 "Source frames or items that could not be parsed (sent to the dead-letter topic)",
                                 ["source"], registry=r)
        self.media_skipped = Counter("monitor_source_media_skipped_total",
                                     "Media left as uris in meta because the worker may not fetch their host",
                                     ["source"], registry=r)
        self.reconnects = Counter("monitor_source_reconnects_total", "Connections or polls retried after an error",
                                  ["source"], registry=r)
        self.rate_limited = Counter("monitor_source_rate_limited_total",
                                    "Responses that asked the connector to slow down (HTTP 429 / exhausted quota)",
                                    ["source"], registry=r)
        self.lag_seconds = Gauge("monitor_source_lag_seconds",
                                 "Now minus the creation time of the last post published", ["source"], registry=r)
        self.checkpoints = Counter("monitor_source_checkpoints_total", "Checkpoints saved after a broker flush",
                                   ["source"], registry=r)
        self.gaps = Counter("monitor_source_gaps_total",
                            "Polls that stopped paging back (page cap, rate limit, bad page) before reaching the "
                            "last post published: newer posts older than the pages read were skipped",
                            ["source"], registry=r)
