"""Two targeted fixes to Faust's consumer (faust-streaming 0.15), installed by `build_app`.

1. A partition without a committed offset is read from its beginning (below).
2. A commit never passes an offset that is still unacknowledged (`new_offset`, further down).

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
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_installed = False


def _is_stream_tp(topic: str) -> bool:
    return not topic.endswith("-changelog") and "__assignor" not in topic


async def _seek_to_committed_or_beginning(consumer: Any) -> dict[Any, int | None]:
    committed = await consumer.seek_to_committed()
    fresh = [tp for tp, off in committed.items() if not off and _is_stream_tp(tp.topic)]
    if fresh:
        log.info("no committed offset for %d stream partition(s): reading them from the beginning: %s",
                 len(fresh), ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(fresh)))
        await consumer.seek_to_beginning(*fresh)
    return committed


def install() -> None:
    global _installed
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
    _installed = True


def new_offset(consumer: Any, tp: Any, faust_new_offset: Callable[[Any, Any], int | None]) -> int | None:
    """Faust's `Consumer._new_offset` (the offset a commit may move a partition to: the end of the first run of
    consecutive acknowledged offsets), which never passes a record delivered but not yet acknowledged.

    Faust's committed offset is the next offset to read (Kafka's meaning), but its head check treats it as the last
    one processed: it refuses to commit only when the lowest acknowledged offset is *more than one* above it. With
    committed = 10, offset 10 delivered and still pending and 11..19 acknowledged, Faust commits 20, so a kill -9
    then loses offset 10 (shown on Faust's own method in tests/unit/test_faust_patches.py). Acknowledgements arrive
    out of order on the raw topic by design (a media post is acknowledged when the media lane is done, the text posts
    after it at once), so the first media post after a commit was exposed. Here a partition with a pending delivered
    record below every acknowledged offset is not committed (Faust's run of consecutive offsets stops at a pending
    record further up by itself). Offsets never delivered (a retention jump, records that are not data) do not block
    a commit, as in Faust."""
    acked = consumer._acked[tp]  # noqa: SLF001
    if acked:
        pending = [m.offset for m in list(consumer._unacked_messages) if m.tp == tp and not m.acked]  # noqa: SLF001
        if pending and min(pending) < min(acked):
            return None
    return faust_new_offset(consumer, tp)
