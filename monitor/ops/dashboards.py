"""Grafana dashboards as code (grafana-foundation-sdk 10.1), rendered to dashboards/*.json.

Every panel's PromQL is listed by `panel_queries()` so the end-to-end test can run each one against a real
Prometheus; `monitor ops render --check` fails when the committed JSON differs from this code.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh, VariableSort

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
TOPIC = 'topic=~"$topic"'


def _q(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q


def _ts(title: str, unit: str, *queries: prom.Dataquery, w: int = 12, h: int = 8, desc: str = "") -> Any:
    p = (timeseries.Panel().title(title).unit(unit).datasource(DS).span(w).height(h)
         .legend(cb.VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
                 .show_legend(True).calcs(["lastNotNull"]))
         .tooltip(cb.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)))
    if desc:
        p = p.description(desc)
    for q in queries:
        p = p.with_target(q)
    return p


def _variables() -> list[Any]:
    return [
        db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"),
        db.QueryVariable("topic").label("Topic").datasource(DS)
        .query("label_values(monitor_topic_posts_total, topic)").refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True).all_value(".*"),
    ]


def _throughput(d: Any) -> Any:
    """Ingest, scoring and dead-letter rates."""
    d = d.with_row(db.Row("Throughput"))
    d = d.with_panel(_ts("Ingest and scoring rate", "reqps",
                         _q("sum(rate(monitor_posts_received_total[$__rate_interval]))", "received/s"),
                         _q("sum by (label) (rate(monitor_posts_scored_total[$__rate_interval]))", "scored {{label}}",
                            "B")))
    d = d.with_panel(_ts("Dead-lettered by reason", "reqps",
                         _q("sum by (reason) (rate(monitor_posts_dead_lettered_total[$__rate_interval]))",
                            "{{reason}}")))
    return d


def _latency_and_batching(d: Any) -> Any:
    """End-to-end latency, batch size and encoder time."""
    d = d.with_row(db.Row("Latency and batching"))
    d = d.with_panel(_ts("End-to-end latency (broker timestamp to scored)", "s",
                         _q("histogram_quantile(0.5, sum by (le) (rate(monitor_processing_seconds_bucket"
                            "[$__rate_interval])))", "p50"),
                         _q("histogram_quantile(0.99, sum by (le) (rate(monitor_processing_seconds_bucket"
                            "[$__rate_interval])))", "p99", "B"), w=8))
    d = d.with_panel(_ts("Batch size (mean posts per micro-batch)", "short",
                         _q("sum(rate(monitor_batch_size_sum[$__rate_interval])) / "
                            "sum(rate(monitor_batch_size_count[$__rate_interval]))", "mean batch"), w=8))
    d = d.with_panel(_ts("Encoder time per batch by modality (p90)", "s",
                         _q("histogram_quantile(0.9, sum by (le, modality) (rate(monitor_scorer_seconds_bucket"
                            "[$__rate_interval])))", "{{modality}}"), w=8))
    return d


def _kafka(d: Any) -> Any:
    """Consumer lag, freshness per lane, media shedding, work in progress and re-reads."""
    d = d.with_row(db.Row("Kafka"))
    d = d.with_panel(_ts("Consumer lag by topic", "short",
                         _q("sum by (topic) (monitor_consumer_lag_messages)", "{{topic}}"),
                         desc="End offset minus the consumer position, summed over partitions."))
    d = d.with_panel(_ts("Freshness: lag in seconds per lane", "s",
                         _q("max by (lane) (monitor_lane_lag_seconds)", "{{lane}} lane lag"),
                         _q("histogram_quantile(0.99, sum by (le, lane) (rate(monitor_event_to_scored_seconds_bucket"
                            "[$__rate_interval])))", "{{lane}} event→scored p99", "B"),
                         desc="Age of the oldest unscored post per lane; event time to scored, p99."))
    d = d.with_panel(_ts("Media shed and text cache", "short",
                         _q("sum by (modality) (rate(monitor_media_shed_total[$__rate_interval]))",
                            "shed {{modality}}/s"),
                         _q("max(monitor_text_cache_hit_ratio)", "text cache hit ratio", "B"),
                         _q("sum(monitor_media_lane_posts)", "media lane posts", "C")))
    d = d.with_panel(_ts("Work in progress", "short",
                         _q("sum(monitor_inflight_batches)", "in-flight batches"),
                         _q("sum(monitor_encoder_queue_posts)", "posts at the encoders", "B"),
                         _q("sum(monitor_assigned_partitions)", "assigned partitions", "C")))
    d = d.with_panel(_ts("Re-reads and held partitions (restart nets)", "short",
                         _q("sum(increase(monitor_ingest_rereads_total[$__rate_interval]))", "raw re-reads"),
                         _q("sum(increase(monitor_aggregate_rereads_total[$__rate_interval]))", "by-topic re-reads",
                            "B"),
                         _q("sum by (stage) (increase(monitor_ordered_rereads_total[$__rate_interval]))",
                            "{{stage}} re-reads", "C"),
                         _q("sum(monitor_windows_held_partitions) + sum(monitor_ordered_held_partitions)",
                            "held partitions", "D"),
                         _q("sum(increase(monitor_ordered_give_ups_total[$__rate_interval]))", "holes given up",
                            "E"),
                         desc="Records fetched but never delivered to a stage (a restart's recovery race) are "
                              "re-read; a partition waiting for one holds its windows / detection / delivery. "
                              "Held for minutes or give-ups: read the worker log."))
    return d


def _sources(d: Any) -> Any:
    """The connectors' output, freshness and reconnects."""
    d = d.with_row(db.Row("Sources (monitor ingest)"))
    d = d.with_panel(_ts("Posts published by source", "reqps",
                         _q("sum by (source) (rate(monitor_source_posts_total[$__rate_interval]))", "{{source}}"),
                         _q("sum by (source) (rate(monitor_source_malformed_total[$__rate_interval]))",
                            "{{source}} malformed", "B"),
                         desc="Connector output; malformed frames go to the dead-letter topic."))
    d = d.with_panel(_ts("Source freshness and reconnects", "s",
                         _q("max by (source) (monitor_source_lag_seconds)", "{{source}} lag"),
                         _q("sum by (source) (increase(monitor_source_reconnects_total[$__rate_interval]))",
                            "{{source}} reconnects", "B"),
                         _q("sum by (source) (increase(monitor_source_rate_limited_total[$__rate_interval]))",
                            "{{source}} rate-limited", "C"),
                         desc="Now minus the creation time of the last published post; reconnects and 429s."))
    return d


def _windows_and_alerts(d: Any) -> Any:
    """Late/duplicate events, window closing, alert deliveries, workers and models."""
    d = d.with_row(db.Row("Windows and alerts"))
    d = d.with_panel(_ts("Late and duplicate events", "reqps",
                         _q("sum(rate(monitor_late_events_total[$__rate_interval]))", "late"),
                         _q("sum(rate(monitor_duplicates_skipped_total[$__rate_interval]))", "duplicates", "B"),
                         w=8))
    d = d.with_panel(_ts("Seconds since a window closed", "s",
                         _q("time() - max(monitor_window_last_closed_timestamp_seconds)", "since last window"),
                         w=8))
    d = d.with_panel(_ts("Alert deliveries by outcome", "reqps",
                         _q("sum by (outcome) (rate(monitor_alert_delivery_attempts_total[$__rate_interval]))",
                            "{{outcome}}"), w=8))
    d = d.with_panel(stat.Panel().title("Workers up").datasource(DS).span(6).height(4)
                     .graph_mode(BigValueGraphMode.NONE).color_mode(BigValueColorMode.VALUE)
                     .with_target(_q('sum(up{job="sentiment-monitor"})', instant=True)))
    d = d.with_panel(table.Panel().title("Models in use").datasource(DS).span(18).height(4).show_header(True)
                     .with_target(_q("monitor_model_info", instant=True)))
    return d


def overview() -> Any:
    d = (db.Dashboard("Sentiment monitor — service overview").uid("sentiment-monitor-overview")
         .tags(["sentiment-monitor"]).refresh("30s").time("now-1h", "now").timezone("utc").editable())
    for v in _variables()[:1]:
        d = d.with_variable(v)
    d = _throughput(d)
    d = _latency_and_batching(d)
    d = _kafka(d)
    d = _sources(d)
    d = _windows_and_alerts(d)
    return d


def sentiment() -> Any:
    d = (db.Dashboard("Sentiment monitor — topics").uid("sentiment-monitor-topics")
         .tags(["sentiment-monitor"]).refresh("30s").time("now-6h", "now").timezone("utc").editable())
    for v in _variables():
        d = d.with_variable(v)
    d = d.annotation(db.AnnotationQuery().name("Monitor alerts firing").datasource(DS).enable(True)
                     .icon_color("red").expr('sum by (topic) (ALERTS{alertname="MonitorNegativeSentimentSpike", '
                                             'alertstate="firing"})'))
    d = d.annotation(db.AnnotationQuery().name("Worker alert state changes").datasource(DS).enable(True)
                     .icon_color("orange").expr("sum by (status) (changes(monitor_alerts_total[2m])) > 0"))
    d = d.with_panel(_ts("Negative share per topic (5 m)", "percentunit",
                         _q(f"monitor:topic_negative_ratio:rate5m{{{TOPIC}}}", "{{topic}}"),
                         w=12, h=9))
    d = d.with_panel(_ts("Volume per topic", "reqps",
                         _q(f"monitor:topic_posts:rate5m{{{TOPIC}}}", "{{topic}}"), w=12, h=9))
    d = d.with_panel(_ts("Spike z-score (5 m vs 1 h)", "short",
                         _q(f"monitor:topic_negative_ratio:zscore5m{{{TOPIC}}}", "{{topic}}"), w=12,
                         desc="Count-aware: binomial standard errors of the 5 m negative share above the 1 h one."))
    d = d.with_panel(_ts("Last closed window: negative share", "percentunit",
                         _q(f'monitor_window_negative_ratio{{kind="tumbling", {TOPIC}}}', "{{topic}}"), w=12))
    d = d.with_panel(table.Panel().title("Top topics by negative posts (1 h)").datasource(DS).span(12).height(9)
                     .show_header(True)
                     .with_target(_q(f'topk(15, sum by (topic) (increase(monitor_topic_posts_total'
                                     f'{{label="negative", {TOPIC}}}[1h])))', instant=True)))
    d = d.with_panel(_ts("Model confidence (share of posts per top-probability bucket)", "percentunit",
                         _q("sum by (le) (rate(monitor_model_confidence_bucket[$__rate_interval])) / ignoring(le) "
                            "group_left sum(rate(monitor_model_confidence_count[$__rate_interval]))", "≤ {{le}}"),
                         w=12, h=9))
    return d


DASHBOARDS = {"overview.json": overview, "sentiment.json": sentiment}


def render_dashboards() -> dict[str, str]:
    return {name: json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
            for name, build in DASHBOARDS.items()}


def panel_queries(dashboard_json: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target and annotation of a rendered dashboard."""
    out = [(p.get("title", ""), t["expr"]) for p in dashboard_json.get("panels", []) for t in p.get("targets", [])
           if t.get("expr")]
    out += [(a.get("name", ""), a["expr"]) for a in dashboard_json.get("annotations", {}).get("list", [])
            if a.get("expr")]
    return out
