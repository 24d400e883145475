"""Faust's own fetch loop (`Consumer._drain_messages`) against a scripted fetch: a seek that runs while a batch
fetched before it is being delivered (after every assignment Faust seeks to the committed offsets). Faust's loop
goes on delivering the old batch and overwrites the read offset, so the record at the committed offset, fetched
again, is dropped; with monitor.faust_patches the old batch's rest is skipped and everything arrives once, in order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from aiokafka.structs import ConsumerRecord

from monitor import faust_patches

TOPIC = "posts.raw"


def record(offset: int) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, offset, 1_000, 0, b"k", b"v", None, 1, 1, [])


def drain(batches: list[list[int]], seek_during: int, seek_to: int, patched: bool) -> list[int]:
    """Run Faust's fetch loop over `batches` (offsets); while the record `seek_during` of the first batch is being
    delivered, the partition is sought to `seek_to` (as `perform_seek` does after an assignment). Returns the
    offsets delivered to the stream, in order."""
    from faust.transport.consumer import Consumer

    names = ("__init__", "_wait_next_records", "getmany", "seek", "perform_seek")
    saved = {name: Consumer.__dict__[name] for name in names}  # restored after: other tests see what was there
    if patched:
        faust_patches._install_seek_guard()  # only this fix (install() also patches the commit rule)
    elif faust_patches.FAUST:
        for name, fn in faust_patches.FAUST.items():
            setattr(Consumer, name, fn)
    try:
        return asyncio.run(_drain(batches, seek_during, seek_to, patched))
    finally:
        for name, fn in saved.items():
            setattr(Consumer, name, fn)


async def _drain(batches: list[list[int]], seek_during: int, seek_to: int, patched: bool) -> list[int]:
    app = faust.App(f"seek-race-{patched}", broker="kafka://localhost:1")
    consumer: Any = app.consumer
    if not patched:
        consumer._read_offset = defaultdict(lambda: None)
    tp = faust.types.TP(TOPIC, 0)
    pending = list(batches)
    fetcher = SimpleNamespace(_stopped=asyncio.Event())
    delivered: list[int] = []
    sought = False

    async def _getmany(active_partitions: Any, timeout: float) -> dict[Any, list[ConsumerRecord]]:
        if not pending:
            fetcher._stopped.set()
            return {}
        return {tp: [record(o) for o in pending.pop(0)]}

    async def _seek(partition: Any, offset: int) -> None:
        return None

    async def callback(message: Any) -> None:
        nonlocal sought
        delivered.append(message.offset)
        if message.offset == seek_during and not sought:
            sought = True
            await consumer.seek(tp, seek_to)

    consumer._getmany = _getmany
    consumer._seek = _seek
    consumer._get_active_partitions = lambda: {tp}
    consumer.highwater = lambda tp: 10
    consumer.callback = callback
    await consumer._drain_messages(fetcher)
    return delivered


def test_faust_drops_the_record_at_the_seek_position_when_an_old_batch_overwrites_the_read_offset() -> None:
    # batch [0, 1] fetched early; while 0 is delivered the partition is sought to 0; the refetch [0, 1] follows
    assert drain([[0, 1], [0, 1]], seek_during=0, seek_to=0, patched=False) == [0, 1, 1]  # 0's refetch dropped


def test_patched_the_old_batch_is_skipped_and_the_refetch_delivered_in_order() -> None:
    assert drain([[0, 1], [0, 1]], seek_during=0, seek_to=0, patched=True) == [0, 0, 1]


@pytest.mark.parametrize("patched", [False, True])
def test_a_seek_back_delivers_from_the_seek_position(patched: bool) -> None:
    # a stage re-read: offsets 3..5 delivered, sought back to 4 while 5 is delivered; the refetch [4, 5] follows
    got = drain([[3, 4, 5], [4, 5]], seek_during=5, seek_to=4, patched=patched)
    assert got == ([3, 4, 5, 5] if not patched else [3, 4, 5, 4, 5])
