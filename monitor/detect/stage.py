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
        self.silences: dict[str, dict[str, Any]] = {}  # kept current by detect.silences.follow
        cfgs = detector_configs(settings)
        self.rate_cfg, self.life_cfg = cfgs.rate, cfgs.rate_life
        self.volume_cfg, self.volume_life = cfgs.volume, cfgs.volume_life

    def controls(self, topic: str, now_ms: int) -> Controls:
        return Controls(override=self.s.topic_overrides.get(topic),
                        silence=active_silence(self.silences, topic, now_ms),
                        runbook_base_url=self.s.runbook_base_url, dashboard_url=self.s.dashboard_url,
                        ui_base_url=self.s.ui_base_url)

    async def on_window(self, w: dict[str, Any]) -> None:
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
                                 "volume_signal": vol_state or state.get("volume_signal")}
