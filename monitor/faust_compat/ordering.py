"""In-order release per partition with a hole hold (pure; time injected): the detection and delivery stages.

The raw and by-topic topics have their own nets (`faust_compat.progress`): their stages tolerate reordering and
duplicates (windows are idempotent by post id). The windows topic (detection) and the alerts topic (delivery) do
not: a detector must see a topic's windows in order, and a webhook must not get "resolved" before "firing". After a
restart Faust can drop a record fetched while its recovery finishes (the crash race, see `faust_compat.progress`), so a
later record of the same partition may arrive while an earlier one never does. This gate:

* releases records in offset order, starting at the partition's committed offset (the next record to read);
* **holds** a record that arrives past a missing offset (its event stays unacknowledged, so no commit passes it);
* asks for a **re-read** from the missing offset once a hole has been open `stall_s` (one per hole);
* asks again every `stall_s` while the hole stays open;
* **gives up** on a hole open `give_up_s` (offsets that are not records, a retention jump) and releases what it
  held, in order, with a warning; a missing record that still arrives after that is released late (never
  dropped: the stage sees it out of order, counted by the adapter);
* drops duplicates (offsets below the next one, e.g. a re-read), returning the copies of held records so the
  adapter keeps them unacknowledged until the original is released.

Records that arrive before the committed offset is known (while the consumer seeks) are held until it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["release", "held", "duplicate", "duplicate_of_held", "late"]
MAX_GIVEN_UP = 10_000  # offsets remembered per give-up (a larger jump is a retention jump, not late records)


@dataclass
class _Part:
    expected: int | None = None  # next offset to release; None until the start is known
    held: dict[int, list[Any]] = field(default_factory=dict)  # offset -> [item, duplicate copies...]
    hole_since: float | None = None
    reread_at: int | None = None
    reread_time: float = 0.0
    moved: float = 0.0  # when the next offset last moved (or was placed)
    given_up: set[int] = field(default_factory=set)  # offsets passed by a give-up, not seen since

    def drain(self) -> list[list[Any]]:
        out = []
        while self.expected is not None and self.expected in self.held:
            out.append(self.held.pop(self.expected))
            self.expected += 1
        return out


class OrderGate:
    def __init__(self, stall_s: float = 15.0, give_up_s: float = 30.0) -> None:
        self.stall_s = stall_s
        self.give_up_s = give_up_s
        self.parts: dict[int, _Part] = {}
        self.discarded: list[Any] = []  # held items found below the committed offset: to acknowledge, not handle

    def assign(self, partitions: set[int], now: float = 0.0) -> None:
        """A new assignment: partitions kept keep their state; a revoked partition's held records are dropped
        (unacknowledged: its new owner reads them from the committed offset). Every assigned partition is watched,
        also one that never delivers a record (its first record fetched but never delivered: re-read)."""
        self.parts = {p: self.parts.get(p) or _Part(moved=now) for p in partitions}

    def offer(self, partition: int, offset: int, item: Any, start: int | None, now: float
              ) -> tuple[Verdict, list[list[Any]]]:
        """One record arrived. `start`: the partition's committed offset (None while unknown). Returns the verdict
        and the groups released now, in offset order (each group: the record, then duplicate copies to ack)."""
        part = self.parts.setdefault(partition, _Part())
        placed = self._place(part, start, now)  # records held until the start was known may go now
        if part.expected is not None and offset < part.expected:
            if offset in part.given_up:
                part.given_up.discard(offset)
                return "late", placed + [[item]]
            return "duplicate", placed
        if offset in part.held:
            part.held[offset].append(item)
            return "duplicate_of_held", placed
        part.held[offset] = [item]
        released = part.drain()
        if released:
            part.moved = now
        self._hole(part, now, moved=bool(released))
        return ("release" if released else "held"), placed + released

    def poll(self, start_of: Any, highwater_of: Any, now: float, busy: bool = False
             ) -> tuple[list[tuple[int, int]], list[list[Any]], list[int]]:
        """Periodic: (re-reads to make as (partition, offset), groups released by giving up on a hole, partitions
        given up). `start_of(partition)`: the committed offset or None; `highwater_of(partition)`: the end offset
        of the last fetch or None; `busy`: the stage is handling a record (a record not offered yet is not late).

        A partition with nothing held whose next offset is below the high watermark and has not moved for
        `stall_s` (the record at the committed offset fetched but never delivered, and nothing after it yet) is
        re-read too, once per offset."""
        rereads: list[tuple[int, int]] = []
        released: list[list[Any]] = []
        gave_up: list[int] = []
        for p, part in self.parts.items():
            start = start_of(p)
            released.extend(self._place(part, start, now))
            if not part.held:
                if part.expected is not None and start is not None and start > part.expected:
                    part.expected, part.moved = start, now  # committed past it (faust_patches gave up): move on
                hw = highwater_of(p)
                if (not busy and part.expected is not None and hw is not None and hw > part.expected
                        and now - part.moved >= self.stall_s and part.reread_at != part.expected):
                    part.reread_at = part.expected
                    rereads.append((p, part.expected))
                continue
            if part.hole_since is None:
                continue
            waited = now - part.hole_since
            if waited >= self.give_up_s:
                first = min(part.held)
                if part.expected is not None and first - part.expected <= MAX_GIVEN_UP:
                    part.given_up |= set(range(part.expected, first))
                    if len(part.given_up) > MAX_GIVEN_UP:
                        part.given_up = set(sorted(part.given_up)[-MAX_GIVEN_UP:])
                part.expected = first
                released.extend(part.drain())
                part.reread_at = None
                part.moved = now
                gave_up.append(p)
                self._hole(part, now, moved=True)
            elif waited >= self.stall_s and part.expected is not None and (
                    part.reread_at != part.expected or now - part.reread_time >= self.stall_s):
                part.reread_at, part.reread_time = part.expected, now
                rereads.append((p, part.expected))
        return rereads, released, gave_up

    def holes(self) -> dict[int, int | None]:
        """Partitions holding records: partition -> the missing offset (None: start not known yet)."""
        return {p: part.expected for p, part in self.parts.items() if part.held}

    def _place(self, part: _Part, start: int | None, now: float) -> list[list[Any]]:
        if part.expected is not None or start is None:
            if part.held and part.hole_since is None:
                part.hole_since = now
            return []
        part.expected, part.moved = start, now
        for off in [o for o in part.held if o < start]:  # below the committed offset: done before
            self.discarded.extend(part.held.pop(off))
        released = part.drain()
        self._hole(part, now, moved=True)
        return released

    @staticmethod
    def _hole(part: _Part, now: float, moved: bool) -> None:
        """The hole clock: stopped when nothing is held, restarted when the next offset moved (a new hole)."""
        if not part.held:
            part.hole_since = None
        elif part.hole_since is None or moved:
            part.hole_since = now
