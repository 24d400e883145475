"""Three targeted fixes to Faust's consumer (faust-streaming 0.15), installed by `build_app`.

1. A partition without a committed offset is read from its beginning (below).
2. A commit never passes a record that was not processed (`new_offset`, further down).
3. Records fetched before a seek are not delivered after it, and cannot move the read offset (`stale_after_seek`).

After an assignment Faust resumes the stream partitions and lets its fetcher run *before* it seeks them to their
committed offsets (`Recovery.on_recovery_completed`: `resume_partitions` then `perform_seek`), and aiokafka's
`seek_to_committed` only seeks partitions whose committed offset is > 0. A partition this group never committed (a
fresh group, or one whose first records were never acknowledged, e.g. alerts still pending delivery when a worker
was killed) therefore keeps whatever position the early fetch left it at, and records fetched in that window can
be dropped from the stream buffers by the recovery: measured here, a restarted worker skipped the pending alerts
(`tests/integration/test_alerts.py::test_pending_delivery_survives_worker_crash`, about half the runs under CPU load).

The fix: after seeking to committed offsets, every stream partition without a committed offset (None or 0) is
explicitly moved to its beginning, which is what `auto_offset_reset=earliest` promises for a group with no offsets.
A record read twice this way is a duplicate, which every stage already tolerates (windows are idempotent by post id,
alert deliveries carry an idempotency key). Changelog partitions are left to Faust's table recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_installed = False


def _is_stream_tp(topic: str) -> bool:
    return not topic.endswith("-changelog") and "__assignor" not in topic


START_OFFSETS: dict[tuple[str, int], int] = {}  # (topic, partition) -> first offset, for partitions never committed


async def _seek_to_committed_or_beginning(consumer: Any) -> dict[Any, int | None]:
    committed = await consumer.seek_to_committed()
    for tp, off in committed.items():
        if off:
            START_OFFSETS.pop((tp.topic, tp.partition), None)
    fresh = [tp for tp, off in committed.items() if not off and _is_stream_tp(tp.topic)]
    if fresh:
        log.info("no committed offset for %d stream partition(s): reading them from the beginning: %s",
                 len(fresh), ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(fresh)))
        await consumer.seek_to_beginning(*fresh)
        try:  # where they start: the stages' progress places its frontier there (a hole at the first record)
            starts = await consumer.beginning_offsets(fresh)
            START_OFFSETS.update({(tp.topic, tp.partition): int(off) for tp, off in starts.items()})
        except Exception as exc:  # noqa: BLE001 - unknown start: the progress falls back to the first record seen
            log.debug("beginning offsets unknown: %s", exc)
    return committed


# --- 3. records fetched before a seek -------------------------------------------------------------------------
# Faust's fetch loop (`Consumer._drain_messages`) delivers a fetched batch record by record, awaiting each delivery,
# and then sets the partition's read offset to the record's offset; records below the read offset are dropped
# ("DROPPED MESSAGE ROFF"). A seek (after every assignment: `perform_seek` to the committed offsets; the stages'
# re-reads) that completes while a batch fetched *before* it is being delivered lets that loop go on delivering the
# old batch and overwrite the read offset the seek set: the records the seek fetches again below that offset are
# dropped for good, the record at the committed offset included (e.g. delivered while the streams still skipped
# records during recovery), while a later one is delivered. Seen after restarts on every topic: a pending alert at
# offset 0 skipped while offset 1 was delivered (test_pending_delivery_survives_worker_crash), a by-topic record
# at the committed offset never counted (test_crash.py).
#
# The fix counts completed seeks per partition and remembers the counts when a fetch *starts*. Records of a
# partition sought since their fetch started are not delivered and their read-offset write is ignored. Such a
# batch may also be data fetched *after* the seek (the fetch straddled it); then the consumer's position is
# already past the skipped records, so the partition is sought again to the seek's target unless the batch
# started below it (data from before the seek, which the seek already rewound). A re-seek costs duplicates,
# never a loss; it happens only for a batch that straddles a seek (assignments, re-reads).

SEEKS: dict[Any, int] = {}  # tp -> completed seeks
TARGETS: dict[Any, int | None] = {}  # tp -> offset of the last completed seek (None: its beginning, unknown)
_fetch: dict[str, Any] = {"seeks": {}, "first": {}}  # SEEKS when the batch being delivered was fetched; 1st offsets
STALE_SKIPPED: dict[str, int] = {"records": 0, "reseeks": 0}
FAUST: dict[str, Any] = {}  # Faust's own methods, before the patches (tests compare)
# called with the consumer before Faust waits for every delivered record to be acknowledged (rebalance, shutdown):
# stages that hold records on purpose let them go (monitor.faust_compat.ordered_stream)
BEFORE_WAIT_EMPTY: dict[str, Callable[[Any], None]] = {}


def _sought(tps: Any, targets: dict[Any, int | None]) -> None:
    for tp in tps:
        SEEKS[tp] = SEEKS.get(tp, 0) + 1
        TARGETS[tp] = targets.get(tp)


def stale_after_seek(tp: Any) -> bool:
    """The batch being delivered was fetched before a seek of `tp` completed."""
    return SEEKS.get(tp, 0) != _fetch["seeks"].get(tp, 0)


class ReadOffsets(dict):  # type: ignore[type-arg]
    """Faust's `Consumer._read_offset` (a defaultdict(None)) that ignores the fetch loop's write for a record
    fetched before a seek of its stream partition. Seeks write through `dict.update` / `force`, not `[]=`."""

    def __missing__(self, key: Any) -> None:
        return None

    def __setitem__(self, tp: Any, offset: Any) -> None:
        if offset is not None and _is_stream_tp(getattr(tp, "topic", "")) and stale_after_seek(tp):
            return
        super().__setitem__(tp, offset)

    def force(self, tp: Any, offset: Any) -> None:
        super().__setitem__(tp, offset)


def _install_seek_guard() -> None:
    from faust.transport.consumer import Consumer, ensure_TP

    if not FAUST:
        FAUST.update(__init__=Consumer.__init__, _wait_next_records=Consumer._wait_next_records,  # noqa: SLF001
                     getmany=Consumer.getmany, seek=Consumer.seek, perform_seek=Consumer.perform_seek)
    faust_init = FAUST["__init__"]
    faust_wait_next_records = FAUST["_wait_next_records"]
    faust_getmany = FAUST["getmany"]
    faust_perform_seek = FAUST["perform_seek"]

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        faust_init(self, *args, **kwargs)
        self._read_offset = ReadOffsets()

    async def _wait_next_records(self: Any, timeout: float) -> Any:
        before = dict(SEEKS)
        result = await faust_wait_next_records(self, timeout)
        _fetch["seeks"], _fetch["first"] = before, {}
        return result

    async def getmany(self: Any, timeout: float) -> Any:
        skipped: dict[Any, int] = {}
        async for tp, message in faust_getmany(self, timeout):
            _fetch["first"].setdefault(tp, message.offset)
            if _is_stream_tp(tp.topic) and stale_after_seek(tp):
                skipped[tp] = skipped.get(tp, 0) + 1
                continue
            yield tp, message
        if skipped:
            STALE_SKIPPED["records"] += sum(skipped.values())
            again = [tp for tp in skipped if TARGETS.get(tp) is None or _fetch["first"][tp] >= TARGETS[tp]]
            log.info("skipped %s record(s) fetched before a seek%s", ", ".join(
                f"{tp.topic}:{tp.partition} x{n}" for tp, n in sorted(skipped.items())),
                f"; seeking {len(again)} partition(s) to the seek's target again" if again else "")
            for tp in again:  # the batch may be data fetched after the seek: rewind to where the seek went
                STALE_SKIPPED["reseeks"] += 1
                target = TARGETS.get(tp)
                if target is None:
                    await self.seek_to_beginning(tp)
                    _sought([tp], {})
                else:
                    await self.seek(tp, target)

    async def seek(self: Any, partition: Any, offset: int) -> None:
        tp = ensure_TP(partition)
        await self._seek(tp, offset)
        self._read_offset.force(tp, offset if offset else None)
        _sought([tp], {tp: offset})  # same step as the read-offset write: no fetch can run in between

    async def perform_seek(self: Any) -> None:
        await faust_perform_seek(self)
        tps = [tp for tp in self.assignment() if _is_stream_tp(tp.topic)]
        targets = {tp: dict.get(self._read_offset, tp) for tp in tps}
        for tp in tps:
            if targets[tp] is None:  # never committed: sought to its beginning
                targets[tp] = START_OFFSETS.get((tp.topic, tp.partition))
        _sought(tps, targets)

    faust_wait_empty = FAUST.setdefault("wait_empty", Consumer.wait_empty)

    async def wait_empty(self: Any) -> None:
        for hook in list(BEFORE_WAIT_EMPTY.values()):
            try:
                hook(self)
            except Exception as exc:  # noqa: BLE001 - a hook never blocks a rebalance
                log.warning("wait_empty hook failed: %s", exc)
        await faust_wait_empty(self)

    Consumer.wait_empty = wait_empty  # type: ignore[method-assign]
    Consumer.__init__ = __init__  # type: ignore[method-assign]
    Consumer._wait_next_records = _wait_next_records  # type: ignore[method-assign]  # noqa: SLF001
    Consumer.getmany = getmany  # type: ignore[method-assign]
    Consumer.seek = seek  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]


def install(head_wait_s: float = 30.0) -> None:
    """Install the fixes (once per process). `head_wait_s`: how long a commit waits for the record at the
    committed offset before it passes it (see `new_offset`)."""
    global _installed
    _head_wait["s"] = head_wait_s
    if _installed:
        return
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    async def seek_to_committed(self: Any) -> Any:
        return await self.call_thread(_seek_to_committed_or_beginning, self._ensure_consumer())

    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
    from faust.transport.consumer import Consumer

    faust_new_offset = Consumer._new_offset  # noqa: SLF001

    def _new_offset(self: Any, tp: Any) -> int | None:
        return new_offset(self, tp, faust_new_offset)

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]  # noqa: SLF001
    _install_seek_guard()
    _installed = True


_head_wait: dict[str, float] = {"s": 30.0}
_head_since: dict[tuple[Any, int], float] = {}


def on_revoked() -> None:
    """A rebalance started: the first offsets and head clocks of the old assignment no longer apply."""
    START_OFFSETS.clear()
    _head_since.clear()


def new_offset(consumer: Any, tp: Any, faust_new_offset: Callable[[Any, Any], int | None],
               now: float | None = None) -> int | None:
    """Faust's `Consumer._new_offset` (the offset a commit may move a partition to: the end of the first run of
    consecutive acknowledged offsets), without its two ways of committing past a record that was not processed.

    Faust's committed offset is the next offset to read (Kafka's meaning), but its head check treats it as the last
    one processed: it refuses to commit only when the lowest acknowledged offset is *more than one* above it, and it
    skips the check for a partition never committed. With committed = 10, offset 10 not acknowledged and 11..19
    acknowledged, Faust commits 20 (shown on Faust's own method in tests/unit/test_faust_patches.py), so

    * a record delivered and still pending at the head (a media post in the media lane: acknowledgements on the raw
      topic arrive out of order by design) was lost by a kill -9: such a partition is not committed while the record
      is pending;
    * a record the consumer fetched but never delivered (the restart race the stages' progress re-reads) was
      committed over within one commit interval, so the re-read never came: the head must be acknowledged first,
      for at most `head_wait_s` (then Faust's behaviour, with a warning: offsets that are not records, a retention
      jump). A partition never committed uses its first offset as the head (faust_patches.START_OFFSETS)."""
    acked = consumer._acked[tp]  # noqa: SLF001
    if not acked:
        return faust_new_offset(consumer, tp)
    committed = consumer._committed_offset[tp]  # noqa: SLF001
    pending = [m.offset for m in list(consumer._unacked_messages)  # noqa: SLF001 - below committed: stale, done
               if m.tp == tp and not m.acked and (committed is None or m.offset >= committed)]
    if pending and min(pending) < min(acked):
        return None
    head = committed if committed is not None else START_OFFSETS.get((tp.topic, tp.partition))
    if head is not None and min(acked) > head and not consumer._gap[tp].overlaps(head):  # noqa: SLF001
        now = time.monotonic() if now is None else now
        since = _head_since.setdefault((tp, head), now)
        if now - since < _head_wait["s"]:
            return None
        log.warning("committing %s:%d past offset %d, not acknowledged after %.0f s (not a record, or gone)",
                    tp.topic, tp.partition, head, now - since)
    for key in [k for k in _head_since if k[0] == tp]:
        del _head_since[key]
    return faust_new_offset(consumer, tp)


def co_partition(table: Any, partitions: int, base_key: Callable[[Any], str | None]) -> None:
    """Write the table keys that belong to another key (`base_key(key)`, e.g. a topic's id chunks,
    `aggregate.persist`) to the changelog partition of that key, so they recover on the worker that owns it.

    The state tables use Faust's `use_partitioner=True`: a key's changelog partition is the producer's
    murmur2 hash of its raw bytes, which for a topic is the by-topic partition its events come from. A derived key
    hashes elsewhere: after a rebalance another worker would have recovered it. Faust's `Table.on_key_set` /
    `on_key_del` ask `partition_for_key(key)` (None = the producer's partitioner): answered here with the
    partition aiokafka's `DefaultPartitioner` gives the base key (tests/unit/test_bounded_state.py)."""
    from aiokafka.partitioner import murmur2

    def partition_for_key(key: Any) -> int | None:
        base = base_key(key)
        if base is None:
            return None
        return (murmur2(base.encode()) & 0x7FFFFFFF) % partitions

    table.partition_for_key = partition_for_key
