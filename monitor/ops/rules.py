"""Prometheus recording and alerting rules, as code (rendered to deploy/prometheus/rules/*.yml).

`render_rules(RuleWindows())` gives the production rules committed in deploy/; the end-to-end test renders the
same rules with short windows so that a spike shows within a test's minutes. A CI test checks that the committed
files equal the rendering.

The Prometheus-side spike rule mirrors the detector's count-aware idea with a z-score: the 5 m negative ratio
against the 1 h ratio, scaled by the binomial standard error of the 5 m count, with a minimum volume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

JOB = "sentiment-monitor"
SCORED = 'label=~"negative|neutral|positive"'


@dataclass(frozen=True)
class RuleWindows:
    short: str = "5m"
    long: str = "1h"
    interval: str = "30s"
    spike_for: str = "2m"
    spike_z: float = 4.0
    spike_min_posts: int = 30
    spike_min_ratio: float = 0.3
    worker_down_for: str = "2m"
    dlq_window: str = "10m"
    dlq_for: str = "10m"
    dlq_ratio: float = 0.05
    lag_window: str = "10m"
    lag_min: int = 1000
    lag_for: str = "10m"
    no_windows_s: int = 600
    lane_lag_s: int = 120
    lane_lag_for: str = "5m"
    no_windows_for: str = "5m"


def recording_rules(w: RuleWindows) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for win in (w.short, w.long):
        rules += [
            {"record": f"monitor:topic_posts:rate{win}",
             "expr": f"sum by (topic) (rate(monitor_topic_posts_total{{{SCORED}}}[{win}]))"},
            {"record": f"monitor:topic_negative_ratio:rate{win}",
             "expr": f'sum by (topic) (rate(monitor_topic_posts_total{{label="negative"}}[{win}]))\n'
                     f"  / sum by (topic) (rate(monitor_topic_posts_total{{{SCORED}}}[{win}]))"},
        ]
    rules += [
        {"record": f"monitor:topic_posts:increase{w.short}",
         "expr": f"sum by (topic) (increase(monitor_topic_posts_total{{{SCORED}}}[{w.short}]))"},
        {"record": f"monitor:topic_negative_ratio:zscore{w.short}",
         "expr": f"(monitor:topic_negative_ratio:rate{w.short} - monitor:topic_negative_ratio:rate{w.long})\n"
                 f"  / sqrt(clamp_min(monitor:topic_negative_ratio:rate{w.long}"
                 f" * (1 - monitor:topic_negative_ratio:rate{w.long}), 0.0025)\n"
                 f"         / clamp_min(monitor:topic_posts:increase{w.short}, 1))"},
        {"record": f"monitor:processing_seconds:p99_rate{w.short}",
         "expr": f"histogram_quantile(0.99, sum by (le) (rate(monitor_processing_seconds_bucket[{w.short}])))"},
        {"record": f"monitor:processing_seconds:p50_rate{w.short}",
         "expr": f"histogram_quantile(0.5, sum by (le) (rate(monitor_processing_seconds_bucket[{w.short}])))"},
        {"record": f"monitor:posts_received:rate{w.short}",
         "expr": f"sum(rate(monitor_posts_received_total[{w.short}]))"},
        {"record": f"monitor:posts_dead_lettered:ratio_rate{w.dlq_window}",
         "expr": f"sum(rate(monitor_posts_dead_lettered_total[{w.dlq_window}]))\n"
                 f"  / clamp_min(sum(rate(monitor_posts_received_total[{w.dlq_window}])), 1e-9)"},
    ]
    return {"name": "monitor-recording", "interval": w.interval, "rules": rules}


def alerting_rules(w: RuleWindows) -> dict[str, Any]:
    def alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
        return {"alert": name, "expr": expr, "for": for_, "labels": {"severity": severity, "service": JOB},
                "annotations": {"summary": summary, "description": description}}

    return {"name": "monitor-alerts", "interval": w.interval, "rules": [
        alert("MonitorWorkerDown", f'up{{job="{JOB}"}} == 0', w.worker_down_for, "critical",
              "Sentiment monitor worker {{ $labels.instance }} is down",
              "Prometheus cannot scrape the worker; its partitions move to the other workers of the group."),
        alert("MonitorDeadLetterRatioHigh",
              f"monitor:posts_dead_lettered:ratio_rate{w.dlq_window} > {w.dlq_ratio}", w.dlq_for, "warning",
              f"More than {w.dlq_ratio:.0%} of incoming messages go to the dead-letter topic",
              "Look at posts.dlq reasons (monitor_posts_dead_lettered_total by reason): a producer may have changed "
              "its format."),
        alert("MonitorConsumerLagGrowing",
              f"sum by (topic) (monitor_consumer_lag_messages) > {w.lag_min}\n"
              f"  and sum by (topic) (delta(monitor_consumer_lag_messages[{w.lag_window}])) > 0",
              w.lag_for, "warning", "Consumer lag on {{ $labels.topic }} is growing",
              "The workers do not keep up: add replicas (up to the partition count) or a GPU."),
        alert("MonitorLaneLagHigh",
              f"max by (lane) (monitor_lane_lag_seconds) > {w.lane_lag_s}", w.lane_lag_for, "warning",
              f"The {{{{ $labels.lane }}}} lane is more than {w.lane_lag_s} s behind",
              "Freshness in seconds: the oldest unscored post of this lane is older than the threshold. Text lane: "
              "the workers do not keep up (add replicas up to the partition count). Media lane: see "
              "monitor_media_shed_total; shedding bounds it at media_max_wait_s unless the media encoders stall."),
        alert("MonitorSourceReconnecting",
              "sum by (source) (increase(monitor_source_reconnects_total[15m])) >= 5", "5m", "warning",
              "Source connector {{ $labels.source }} keeps reconnecting",
              "monitor ingest cannot hold its connection or polls fail (network, credentials, or the source's rate "
              "limit: see monitor_source_rate_limited_total). Posts are not lost while it retries (it resumes from "
              "its checkpoint), but they arrive late."),
        alert("MonitorNoWindowsClosing",
              f"time() - max(monitor_window_last_closed_timestamp_seconds) > {w.no_windows_s}\n"
              f"  and sum(rate(monitor_posts_scored_total[{w.short}])) > 0", w.no_windows_for, "warning",
              f"Posts are scored but no sentiment window closed for {w.no_windows_s} s",
              "The event-time watermark is stuck (producers' clocks, an idle partition) or aggregation is blocked."),
        alert("MonitorNegativeSentimentSpike",
              f"monitor:topic_negative_ratio:zscore{w.short} > {w.spike_z}\n"
              f"  and monitor:topic_posts:increase{w.short} >= {w.spike_min_posts}\n"
              f"  and monitor:topic_negative_ratio:rate{w.short} > {w.spike_min_ratio}",
              w.spike_for, "page",
              "Negative sentiment spike on {{ $labels.topic }}",
              f"Negative share over {w.short} is more than {w.spike_z:g} standard errors above its {w.long} baseline, "
              f"with at least {w.spike_min_posts} posts (Prometheus-side mirror of the worker's detector)."),
    ]}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _str)


def dump_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, width=120)


def render_rules(w: RuleWindows | None = None) -> dict[str, str]:
    """File name -> YAML text."""
    w = w or RuleWindows()
    head = "# Generated by `monitor ops render` from monitor/ops/rules.py; edit there.\n"
    return {name: head + dump_yaml({"groups": [group]})
            for name, group in (("recording.yml", recording_rules(w)), ("alerts.yml", alerting_rules(w)))}
