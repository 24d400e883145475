"""The delivery stage's adapter: every alert state change -> every webhook (retries in `alert.delivery`).

An alert record is acknowledged only after every target answered for good; a target that is still failing after
the retry horizon gives up and the alert is written to the dead-letter topic (reason `alert_delivery_failed`),
counted in `monitor_alert_dead_letters_total{target}`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from monitor.alert.delivery import RetryPolicy, Target, deliver, redact_url
from monitor.config import Settings
from monitor.metrics import Metrics
from monitor.outbox import Outbox

log = logging.getLogger("monitor.notify")


class DeliverStage:
    def __init__(self, settings: Settings, metrics: Metrics, outbox: Outbox) -> None:
        self.s = settings
        self.metrics = metrics
        self.outbox = outbox
        self.targets = [Target(**t) for t in settings.webhooks]
        self.policy = RetryPolicy(horizon_s=settings.webhook_give_up_s)

    async def on_alert(self, session: Any, record: dict[str, Any], msg: Any) -> None:
        if record.get("silenced"):
            log.info("alert %s/%s silenced (%s): no webhook", record.get("fingerprint"), record.get("status"),
                     (record.get("silence") or {}).get("comment", ""))
            return
        log.info("delivering alert %s/%s (partition %d, offset %d)", record.get("fingerprint"),
                 record.get("status"), msg.partition, msg.offset)
        verdicts = await asyncio.gather(*(deliver(session, t, record, self.policy, self.metrics)
                                          for t in self.targets))
        log.info("alert %s/%s: %s", record.get("fingerprint"), record.get("status"), verdicts)
        for t, verdict in zip(self.targets, verdicts, strict=True):
            if verdict == "give_up":
                self.metrics.alert_dead_letters.labels(t.name).inc()
                await self.outbox.send(self.s.topic_dlq, str(record.get("fingerprint", "")).encode(), {
                    "reason": "alert_delivery_failed", "detail": f"webhook {t.name} ({redact_url(t.url)}) gave up",
                    "alert": record, "source_topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
                    "post_id": None, "time": datetime.now(UTC).isoformat()})
