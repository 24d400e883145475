"""The delivery stage's adapter: every alert state change -> every webhook (retries in `alert.delivery`).

One delivery queue and one task per target (#30.8): alerts reach each target in the order of the alerts topic,
and a dead or slow receiver delays only its own queue, never the alerts of a live one. An alert record is
acknowledged (its offset may be committed) only after every target answered for good; a target that is still
failing after the retry horizon gives up and the alert is written to the dead-letter topic (reason
`alert_delivery_failed`), counted in `monitor_alert_dead_letters_total{target}`. A crash before that re-reads it:
at-least-once per target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.alert.delivery import RetryPolicy, Target, deliver, redact_url
from monitor.config import Settings
from monitor.metrics import Metrics
from monitor.outbox import Outbox

log = logging.getLogger("monitor.notify")


@dataclass
class _Job:
    record: dict[str, Any]
    msg: Any
    remaining: int
    ack: Callable[[], Any] | None


class DeliverStage:
    def __init__(self, settings: Settings, metrics: Metrics, outbox: Outbox) -> None:
        self.s = settings
        self.metrics = metrics
        self.outbox = outbox
        self.targets = [Target(**t) for t in settings.webhooks]
        self.policy = RetryPolicy(horizon_s=settings.webhook_give_up_s)
        self.queues: list[asyncio.Queue[_Job]] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def on_alert(self, session: Any, record: dict[str, Any], msg: Any,
                       ack: Callable[[], Any] | None = None) -> None:
        """Queue the alert for every target and return at once. `ack` (with `msg` incref-ed here) acknowledges
        the record once every target is done with it."""
        if record.get("silenced"):
            log.info("alert %s/%s silenced (%s): no webhook", record.get("fingerprint"), record.get("status"),
                     (record.get("silence") or {}).get("comment", ""))
            return
        if not self.targets:
            return
        log.info("delivering alert %s/%s (partition %d, offset %d)", record.get("fingerprint"),
                 record.get("status"), msg.partition, msg.offset)
        if not self.tasks:
            self.queues = [asyncio.Queue() for _ in self.targets]
            self.tasks = [asyncio.create_task(self._run(session, i), name=f"deliver-{t.name}")
                          for i, t in enumerate(self.targets)]
        if ack is not None:
            msg.incref()  # released by `ack` after the last target
        job = _Job(record, msg, len(self.targets), ack)
        for q in self.queues:
            q.put_nowait(job)

    async def _run(self, session: Any, i: int) -> None:
        t, q = self.targets[i], self.queues[i]
        while True:
            job = await q.get()
            try:
                verdict = await deliver(session, t, job.record, self.policy, self.metrics)
            except Exception:  # noqa: BLE001 - a bug must not stop this target's queue
                log.exception("delivery to %s failed", t.name)
                verdict = "give_up"
            log.info("alert %s/%s -> %s: %s", job.record.get("fingerprint"), job.record.get("status"), t.name,
                     verdict)
            if verdict == "give_up":
                self.metrics.alert_dead_letters.labels(t.name).inc()
                msg = job.msg
                await self.outbox.send_confirmed([(self.s.topic_dlq, str(job.record.get("fingerprint", "")).encode(), {
                    "reason": "alert_delivery_failed", "detail": f"webhook {t.name} ({redact_url(t.url)}) gave up",
                    "alert": job.record, "source_topic": msg.topic, "partition": msg.partition, "offset": msg.offset,
                    "post_id": None, "time": datetime.now(UTC).isoformat()})])
            job.remaining -= 1
            if job.remaining == 0 and job.ack is not None:
                job.ack()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
