"""One targeted fix to Faust's consumer, installed by `build_app`.

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
    _installed = True
