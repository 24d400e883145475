"""Faust's own fetch loop (`Consumer._drain_messages`) against a scripted fetch: a seek that runs while a batch
fetched before it is being delivered (after every assignment Faust seeks to the committed offsets). Faust's loop
goes on delivering the old batch and overwrites the read offset, so the record at the committed offset, fetched
again, is dropped; with monitor.faust_compat.patches the old batch's rest is skipped and everything arrives once, in order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from monitor.faust_compat import patches as faust_patches

TOPIC = "posts.raw"


def record(offset: int) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, offset, 1_000, 0, b"k", b"v", None, 1, 1, [])


def drain(end: int, start: int, batch: int, patched: bool, on_deliver: Any = None, in_fetch: Any = None,
          processing: bool = True) -> list[int]:
    """Run Faust's fetch loop over a partition holding offsets [0, end) read from `start`, `batch` records per
    fetch, the position moved by every fetch and every seek (like the consumer's). `on_deliver(consumer, offset,
    state)` runs while a record is being delivered; `in_fetch(consumer, n)` runs inside the n-th fetch, before it
    reads. Records delivered while `state["processing"]` is false are skipped by the stream (as Faust's streams
    do while recovery has not resumed them). Returns the offsets the stream processed, in order."""
    from faust.transport.consumer import Consumer

    names = ("__init__", "_wait_next_records", "getmany", "seek", "perform_seek", "wait_empty")
    saved = {name: Consumer.__dict__[name] for name in names}  # restored after: other tests see what was there
    if patched:
        faust_patches._install_seek_guard()  # only this fix (install() also patches the commit rule)
    elif faust_patches.FAUST:
        for name, fn in faust_patches.FAUST.items():
            setattr(Consumer, name, fn)
    try:
        return asyncio.run(_drain(end, start, batch, patched, on_deliver, in_fetch, processing))
    finally:
        for name, fn in saved.items():
            setattr(Consumer, name, fn)


async def _drain(end: int, start: int, batch: int, patched: bool, on_deliver: Any, in_fetch: Any,
                 processing: bool) -> list[int]:
    app = faust.App(f"seek-race-{patched}", broker="kafka://localhost:1")
    consumer: Any = app.consumer
    if not patched:
        consumer._read_offset = defaultdict(lambda: None)
    tp = TP(TOPIC, 0)
    state = {"position": start, "fetches": 0, "processing": processing, "idle": 0}
    fetcher = SimpleNamespace(_stopped=asyncio.Event())
    processed: list[int] = []

    async def _getmany(active_partitions: Any, timeout: float) -> dict[Any, list[ConsumerRecord]]:
        state["fetches"] += 1
        if in_fetch is not None:
            await in_fetch(consumer, state["fetches"])
        got = list(range(state["position"], min(end, state["position"] + batch)))
        state["position"] += len(got)
        if not got:
            state["idle"] += 1
            if state["idle"] > 2:
                fetcher._stopped.set()
            return {}
        return {tp: [record(o) for o in got]}

    async def _seek(partition: Any, offset: int) -> None:
        state["position"] = offset

    async def seek_to_beginning(*partitions: Any) -> None:
        state["position"] = 0

    async def callback(message: Any) -> None:
        if state["processing"]:
            processed.append(message.offset)
        if on_deliver is not None:
            await on_deliver(consumer, message.offset, state)

    consumer._getmany = _getmany
    consumer._seek = _seek
    consumer.seek_to_beginning = seek_to_beginning
    consumer._get_active_partitions = lambda: {tp}
    consumer.highwater = lambda tp: end
    consumer.callback = callback
    await consumer._drain_messages(fetcher)
    return processed


TP0 = TP(TOPIC, 0)


def recovery_seek_at(offset: int) -> Any:
    """While `offset` is delivered (the streams still skipping records), the partition is sought to the committed
    offset 0 and the streams resume (Faust's `on_recovery_completed`)."""
    async def on_deliver(consumer: Any, delivered: int, state: dict) -> None:
        if delivered == offset and not state["processing"]:
            await consumer.seek(TP0, 0)
            state["processing"] = True
    return on_deliver


def test_faust_loses_the_record_at_the_committed_offset_when_an_old_batch_overwrites_the_read_offset() -> None:
    # fetched early: [0, 1]; offset 0 reaches the stream during recovery (skipped); the seek to 0 completes and
    # the loop goes on with offset 1, so the refetched 0 is dropped (below the read offset 1): 0 is never processed
    got = drain(2, 0, 2, patched=False, on_deliver=recovery_seek_at(0), processing=False)
    assert got == [1, 1]


def test_patched_the_old_batch_is_skipped_and_the_refetch_processes_every_record() -> None:
    got = drain(2, 0, 2, patched=True, on_deliver=recovery_seek_at(0), processing=False)
    assert got == [0, 1]


def test_patched_a_fetch_that_straddles_a_seek_is_sought_again_never_lost() -> None:
    """A seek to 3 completes inside a fetch: the batch is data read after the seek (3, 4, 5) but looks stale, so
    it is skipped; the partition is sought to 3 again and nothing is lost."""
    async def in_fetch(consumer: Any, n: int) -> None:
        if n == 2:
            await consumer.seek(TP0, 3)

    got = drain(8, 0, 3, patched=True, in_fetch=in_fetch)
    assert got == [0, 1, 2, 3, 4, 5, 6, 7]
    assert sorted(got) == list(range(8))


@pytest.mark.parametrize("patched", [False, True])
def test_a_stage_re_read_seeks_back_and_delivers_from_there(patched: bool) -> None:
    async def on_deliver(consumer: Any, delivered: int, state: dict) -> None:
        if delivered == 5 and not state.get("reread"):
            state["reread"] = True
            await consumer.seek(TP0, 4)

    got = drain(6, 3, 3, patched=patched, on_deliver=on_deliver)
    assert got == ([3, 4, 5, 5] if not patched else [3, 4, 5, 4, 5])  # Faust drops the refetched 4
