"""Per partition: how far a stage has *finished*, as a contiguous frontier (pure; time injected). The ingest stage
keeps one over the raw partitions, the aggregation stage one over the by-topic partitions (`has_hole`: it does not
close windows past a record it never received).

Two decisions depend on it:

* **caught up** (watermark idleness): a partition may only count as idle when the stage has finished every record
  the broker had (frontier >= high watermark). The consumer's own read position is not enough: Faust sets it to
  the committed offset (the *next* record) after a seek and to the *last* record after a fetch, so a partition with
  exactly one unread record looked caught up.
* **stalled** (the kill -9 crash race): after a restart Faust resumes the stream partitions, fetches and seeks while
  its recovery is finishing, and a record fetched in that window can be dropped before it reaches the stream (seen
  under CPU load: the restarted worker had read the one post that closes the last windows, never scored it, and
  its offset stayed uncommitted). A partition whose frontier has not moved for `stall_s` although records beyond
  it exist (the high watermark is ahead) and either later records were finished (a hole: records of a partition
  are processed in order) or the stage is idle (nothing is buffered), is re-read from the frontier. At most one
  re-read per frontier: if it brings nothing, the offsets there are not data (transaction markers, retention) and
  the frontier moves past them.

The frontier starts at the group's committed offset (where the consumer starts after an assignment), passed in
by the adapter; records finished before it is known wait in `ahead`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Part:
    moved: float  # time of the last frontier move (or of the assignment)
    frontier: int | None = None  # next offset not finished; None until the start offset is known
    ahead: set[int] = field(default_factory=set)  # finished offsets beyond the frontier (a hole before them)
    reread_at: int | None = None  # frontier of the last re-read (one per frontier)
    inflight: set[int] = field(default_factory=set)  # received by the stage, not finished yet
    max_received: int | None = None  # highest offset the stage has received

    def absorb(self) -> None:
        if self.frontier is None:
            return
        while self.frontier in self.ahead:
            self.ahead.discard(self.frontier)
            self.frontier += 1
        if self.ahead and min(self.ahead) < self.frontier:
            self.ahead = {o for o in self.ahead if o >= self.frontier}


class IngestProgress:
    def __init__(self, stall_s: float = 15.0) -> None:
        self.stall_s = stall_s
        self.parts: dict[int, _Part] = {}
        self.last_batch = 0.0  # time the stage last started or finished a batch
        self.batches = 0  # batches the stage is processing now

    def begin_batch(self, now: float) -> None:
        self.batches += 1
        self.last_batch = now

    def end_batch(self, now: float) -> None:
        self.batches = max(0, self.batches - 1)
        self.last_batch = now

    @contextmanager
    def batch(self, events: list[Any], clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
        """A stage's batch in progress: `events` (Faust events: .message.partition / .offset) received, and the
        stage busy until the block ends (a busy stage is never taken for a stalled one, #30.13)."""
        self.begin_batch(clock())
        by_part: dict[int, list[int]] = {}
        for e in events:
            by_part.setdefault(e.message.partition, []).append(e.message.offset)
        for part, offsets in by_part.items():
            self.received(part, offsets, clock())
        try:
            yield
        finally:
            self.end_batch(clock())

    def received(self, partition: int, offsets: list[int], now: float) -> None:
        """The stage took these records (before processing them): until `finished`, they are being processed,
        however long that takes, and never a reason to re-read (#30.13)."""
        part = self.parts.setdefault(partition, _Part(now))
        for o in offsets:
            if part.frontier is None or o >= part.frontier:
                part.inflight.add(o)
            if part.max_received is None or o > part.max_received:
                part.max_received = o

    def assign(self, partitions: set[int], now: float) -> None:
        """A new assignment: partitions kept keep their progress, new ones start at the committed offset."""
        self.parts = {p: self.parts.get(p) or _Part(now) for p in partitions}
        for part in self.parts.values():
            part.inflight.clear()  # a new assignment: whatever was in flight is acknowledged or read again

    def finished(self, partition: int, offset: int, now: float) -> None:
        """The stage finished the record at `offset` (published, dead-lettered or admitted to the media lane)."""
        part = self.parts.setdefault(partition, _Part(now))
        part.inflight.discard(offset)
        if part.frontier is not None and offset < part.frontier:
            return  # a redelivered duplicate
        before = part.frontier
        part.ahead.add(offset)
        part.absorb()
        if part.frontier != before:
            part.moved = now

    def _start(self, part: _Part, committed: int | None, now: float) -> None:
        """Place the frontier once the start is known: the committed offset, else (never committed: read from
        the beginning) the lowest finished offset."""
        if part.frontier is None:
            start = committed if committed is not None else (min(part.ahead) if part.ahead else None)
            if start is not None:  # `moved` stays the assignment time: placing the start is not progress
                before = len(part.ahead)
                part.frontier = start
                part.absorb()
                if len(part.ahead) != before:
                    part.moved = now
        elif committed is not None and committed > part.frontier and not part.ahead:
            # another owner finished more before a rebalance. Not while a hole is open: a commit that passed it
            # (faust_patches.new_offset gives up after a while) must not make the re-read record count as done
            part.frontier = committed
            part.absorb()
            part.moved = now

    def next_offset(self, partition: int, committed: int | None, now: float = 0.0) -> int | None:
        """Next offset to finish, or None while unknown."""
        part = self.parts.get(partition)
        if part is None:
            return committed
        self._start(part, committed, now)
        return part.frontier

    def has_hole(self, partition: int, committed: int | None, now: float = 0.0) -> bool:
        """Records beyond the frontier were finished while the record at the frontier was not (a record fetched
        but never delivered to the stage: records of a partition are processed in order)."""
        part = self.parts.get(partition)
        if part is None:
            return False
        self._start(part, committed, now)
        return part.frontier is not None and bool(part.ahead)

    def caught_up(self, partition: int, highwater: int | None, committed: int | None, now: float = 0.0) -> bool:
        if highwater is None:
            return False
        if highwater == 0:
            return True
        nxt = self.next_offset(partition, committed, now)
        return nxt is not None and nxt >= highwater

    def stalled(self, partition: int, highwater: int | None, committed: int | None, now: float) -> int | None:
        """The offset to re-read `partition` from, or None (see the module docstring)."""
        part = self.parts.get(partition)
        if part is None or highwater is None or self.caught_up(partition, highwater, committed, now):
            return None
        if part.frontier is None or now - part.moved < self.stall_s:
            return None
        if part.frontier in part.inflight:
            return None  # the stage has it and is still processing it: busy, not stalled (#30.13)
        skipped = bool(part.ahead) or (part.max_received is not None and part.max_received > part.frontier)
        if not skipped and (self.batches or now - self.last_batch < self.stall_s / 3):
            return None  # nothing later reached the stage and it is busy: the records may still be buffered
        if part.reread_at == part.frontier:  # the re-read brought nothing: not data, move past it
            part.frontier = min(part.ahead) if part.ahead else highwater
            part.absorb()
            part.moved = now
            return None
        part.reread_at = part.frontier
        part.moved = now
        return part.frontier
