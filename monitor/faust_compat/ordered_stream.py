"""Thin adapter: a Faust stream's events through an `ordering.OrderGate` to one stage handler, in offset order.

Used by the detection (windows topic) and delivery (alerts topic) agents. Every event the gate keeps is
`incref`-ed so the stream's automatic acknowledgement does not release it; it is acknowledged after its handler
ran (a duplicate copy with it). A held event therefore stays uncommitted: a kill -9 re-delivers it. Holes are
polled from the consumer-lag timer: a re-read seeks the partition back to the missing offset; a give-up releases
what was held (under the same lock as the agent, so a partition's records never run concurrently). Before Faust
waits for every delivered record to be acknowledged (rebalance, shutdown), held records are let go unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.faust_compat.ordering import OrderGate

log = logging.getLogger("monitor.ordered")


class OrderedStream:
    def __init__(self, stage: str, topic: str, gate: OrderGate, start_of: Callable[[int], int | None],
                 metrics: Any) -> None:
        self.stage = stage
        self.topic = topic
        self.gate = gate
        self.start_of = start_of  # partition -> committed offset (None while unknown)
        self.metrics = metrics
        self.handle: Callable[[Any], Awaitable[None]] | None = None  # set by the agent (it may own a session)
        self.lock = asyncio.Lock()
        self.fault_drop_first = False  # tests: the first record this stage receives is dropped, unacknowledged

    async def on_event(self, event: Any) -> None:
        msg = event.message
        if self.fault_drop_first:
            self.fault_drop_first = False
            msg.incref()  # never released: not committed, like a record lost in flight
            log.warning("fault injection: dropped %s record %d:%d", self.stage, msg.partition, msg.offset)
            return
        verdict, groups = self.gate.offer(msg.partition, msg.offset, event, self.start_of(msg.partition),
                                          time.monotonic())
        if verdict != "duplicate":
            msg.incref()  # acknowledged once its handler ran (a plain duplicate: by the stream, at once)
        if verdict == "late":
            log.warning("%s partition %d: offset %d arrived after its hole was given up: handled late, out of "
                        "order", self.stage, msg.partition, msg.offset)
            self.metrics.ordered_late.labels(self.stage).inc()
        if verdict == "held" and len(self.gate.parts[msg.partition].held) == 1:
            missing = self.gate.holes().get(msg.partition)
            if missing is None:
                log.info("%s partition %d: offset %d arrived before the committed offset was known: held until it "
                         "is", self.stage, msg.partition, msg.offset)
            else:
                log.warning("%s partition %d: offset %d arrived before offset %d: holding it until the missing "
                            "record arrives", self.stage, msg.partition, msg.offset, missing)
        await self._run(groups)
        self.metrics.ordered_held.labels(self.stage).set(len(self.gate.holes()))

    async def _run(self, groups: list[list[Any]]) -> None:
        while self.gate.discarded:  # held before the committed offset was known, found below it: already done
            self.gate.discarded.pop().ack()
        if not groups:
            return
        async with self.lock:
            for group in groups:
                try:
                    if self.handle is not None:
                        await self.handle(group[0])
                except Exception:  # a stage bug: logged, the partition goes on (a stuck partition is worse)
                    log.exception("%s failed on record %d:%d", self.stage, group[0].message.partition,
                                  group[0].message.offset)
                for ev in group:
                    ev.ack()

    async def poll(self, app: Any) -> None:
        """Re-read or give up on holes (from the consumer-lag timer)."""
        tps = {tp.partition: tp for tp in list(app.consumer.assignment()) if tp.topic == self.topic}

        def highwater_of(p: int) -> int | None:
            return app.consumer.highwater(tps[p]) if p in tps else None

        rereads, released, gave_up = self.gate.poll(self.start_of, highwater_of, time.monotonic(),
                                                    busy=self.lock.locked())
        for p, offset in rereads:
            tp = tps.get(p)
            if tp is None:
                continue
            log.warning("%s partition %d: offset %d still missing after %.0f s: re-reading from it", self.stage, p,
                        offset, self.gate.stall_s)
            self.metrics.ordered_rereads.labels(self.stage).inc()
            try:
                await app.consumer.seek(tp, offset)
            except Exception as exc:  # noqa: BLE001 - the give-up follows if it never comes
                log.warning("re-read of %s:%d failed: %s", self.topic, p, exc)
        for p in gave_up:
            log.warning("%s partition %d: a missing record never came after %.0f s: the held records go on "
                        "(offsets that are not records, or gone)", self.stage, p, self.gate.give_up_s)
            self.metrics.ordered_give_ups.labels(self.stage).inc()
        await self._run(released)  # inline: the lock queues it before any record the agent offers next
        self.metrics.ordered_held.labels(self.stage).set(len(self.gate.holes()))

    def release_held(self, consumer: Any) -> None:
        """Before Faust waits for every delivered record to be acknowledged (a rebalance, shutdown): drop the held
        records unacknowledged, so that wait never waits for a hole. Their offsets stay uncommitted (they were
        never acknowledged); whoever owns the partition next reads them again from the committed offset."""
        dropped = 0
        for part in self.gate.parts.values():
            for group in part.held.values():
                for ev in group:
                    consumer._unacked_messages.discard(ev.message)  # noqa: SLF001 - Faust's own
                    dropped += 1
        self.gate.parts.clear()
        if dropped:
            log.info("%s: %d held record(s) left unacknowledged for the next owner", self.stage, dropped)
        self.metrics.ordered_held.labels(self.stage).set(0)
