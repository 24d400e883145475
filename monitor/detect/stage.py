"""The detection stage's adapter: closed tumbling windows -> rate + volume detectors and lifecycle (pure cores in
`detect.engine`) -> alert state changes on the alerts topic. Detector state per topic lives in a Faust table."""

from __future__ import annotations

import logging
import time
from typing import Any

from monitor.config import Settings
from monitor.detect.controls import active_silence
from monitor.detect.engine import Controls, merge_signals, process_volume, process_window
from monitor.detect.setup import detector_configs
from monitor.metrics import Metrics
from monitor.outbox import Outbox

log = logging.getLogger("monitor.detect")


class DetectStage:
    def __init__(self, settings: Settings, metrics: Metrics, outbox: Outbox, table: Any) -> None:
        self.s = settings
        self.metrics = metrics
        self.outbox = outbox
        self.table = table
        self.silences: dict[str, dict[str, Any]] = {}  # kept current by kafka_silences.follow
        cfgs = detector_configs(settings)
        self.rate_cfg, self.life_cfg = cfgs.rate, cfgs.rate_life
        self.volume_cfg, self.volume_life = cfgs.volume, cfgs.volume_life
        self.seen = 0  # windows handled (sweeps of idle detector state every EVICT_EVERY)

    def controls(self, topic: str, now_ms: int) -> Controls:
        return Controls(override=self.s.topic_overrides.get(topic),
                        silence=active_silence(self.silences, topic, now_ms),
                        runbook_base_url=self.s.runbook_base_url, dashboard_url=self.s.dashboard_url,
                        ui_base_url=self.s.ui_base_url)

    async def on_window(self, w: dict[str, Any], partition: int | None = None) -> None:
        if w.get("kind") != "tumbling":
            return
        self.metrics.detect_windows.inc()
        topic = w["topic"]
        state = self.table.get(topic) or {}
        controls = self.controls(topic, int(time.time() * 1000))
        rate_state, rate_record = process_window(state.get("rate_signal"), w, self.rate_cfg, self.life_cfg, controls)
        vol_state, vol_record = process_volume(state.get("volume_signal"), w, self.volume_cfg, self.volume_life,
                                               controls)
        records = merge_signals(rate_record, vol_record, vol_state or state.get("volume_signal"))
        for record in records:
            self.metrics.alerts.labels(record["status"]).inc()
            if record["silenced"]:
                self.metrics.alerts_silenced.labels(record["signal"]).inc()
            log.warning("alert %s%s: %s", record["status"], " (silenced)" if record["silenced"] else "",
                        record["summary"])
        if records:
            # the detector state (changelog, Faust's producer) moves only once its alerts are on the broker: after a
            # kill -9 the recovered state can never say "fired" for an undelivered alert, and a refused alert is sent
            # again until acknowledged, never lost with the state moved past it (#30.6)
            await self.outbox.send_confirmed([(self.s.topic_alerts, topic.encode(), r) for r in records])
        if rate_state is not None or vol_state is not None:
            self.table[topic] = {"rate_signal": rate_state or state.get("rate_signal"),
                                 "volume_signal": vol_state or state.get("volume_signal"),
                                 "p": partition, "last_ms": w["end_ms"]}
        self.seen += 1
        if partition is not None and self.seen % EVICT_EVERY == 0:
            self.evict_idle(partition, w["end_ms"])

    def evict_idle(self, partition: int, now_ms: int) -> list[str]:
        """Forget the detector state of topics of this windows partition with no window for
        `detect_idle_evict_s` of event time (#30.7): a topic that fell out of the topic budgets, a one-off.
        Only rows written from this partition are touched (the tombstone goes to their own changelog partition),
        and never a topic whose alert is firing (its resolution is still owed)."""
        horizon = now_ms - int(self.s.detect_idle_evict_s * 1000)
        if self.s.detect_idle_evict_s <= 0:
            return []
        stale = [topic for topic, st in list(self.table.items())
                 if isinstance(st, dict) and st.get("p") == partition and st.get("last_ms", now_ms) < horizon
                 and not _firing(st)]
        for topic in stale:
            del self.table[topic]
        if stale:
            self.metrics.detector_evictions.inc(len(stale))
            log.info("forgot the detector state of %d topic(s) idle for over %.0f s (e.g. %s)", len(stale),
                     self.s.detect_idle_evict_s, stale[0])
        return stale


EVICT_EVERY = 256  # windows between two sweeps of a partition's idle detector rows


def _firing(state: dict[str, Any]) -> bool:
    return any(((state.get(k) or {}).get("life") or {}).get("firing") for k in ("rate_signal", "volume_signal"))
