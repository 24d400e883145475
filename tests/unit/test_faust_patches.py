"""The commit-offset fix in monitor/faust_patches.py, checked against Faust's own `Consumer._new_offset`."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from intervaltree import IntervalTree

from monitor.faust_patches import new_offset

TP = ("posts.raw", 0)


def consumer(acked: range | list[int], committed: int | None, gaps: list[tuple[int, int]] = (),
             pending: list[int] = ()) -> Any:
    gap = IntervalTree()
    for a, b in gaps:
        gap.addi(a, b)
    unacked = [SimpleNamespace(tp=TP, offset=o, acked=False) for o in pending]
    unacked.append(SimpleNamespace(tp=("other", 0), offset=0, acked=False))  # another partition's pending record
    return SimpleNamespace(_acked=defaultdict(list, {TP: list(acked)}), _acked_index=defaultdict(set, {TP: set(acked)}),
                           _committed_offset=defaultdict(lambda: None, {TP: committed}),
                           _gap=defaultdict(IntervalTree, {TP: gap}), _unacked_messages=unacked)


def faust_new_offset(c: Any, tp: Any) -> int | None:
    from faust.transport.consumer import Consumer

    return Consumer._new_offset(c, tp)


def test_faust_commits_past_a_pending_offset_right_after_the_committed_one() -> None:
    """The bug, on Faust's own method: committed = 10 (next to read), 10 pending, 11..19 acknowledged -> 20."""
    assert faust_new_offset(consumer(range(11, 20), 10, pending=[10]), TP) == 20


def test_the_fix_does_not_commit_past_a_pending_record() -> None:
    c = consumer(range(11, 20), 10, pending=[10])
    assert new_offset(c, TP, faust_new_offset) is None
    assert c._acked[TP] == list(range(11, 20))  # untouched: the run is committed once 10 is acknowledged
    c._acked[TP].insert(0, 10)
    c._unacked_messages[0].acked = True
    assert new_offset(c, TP, faust_new_offset) == 20
    assert new_offset(consumer(range(10, 20), None, pending=[5]), TP, faust_new_offset) is None  # never committed


def test_a_pending_record_further_up_stops_the_run_as_in_faust() -> None:
    assert new_offset(consumer([10, 11, 12, 14, 15], 10, pending=[13]), TP, faust_new_offset) == 13


def test_offsets_never_delivered_do_not_block_a_commit() -> None:
    """A retention jump or offsets that are not records: nothing pending, Faust's result (gaps count as acked)."""
    assert new_offset(consumer(range(12, 20), 10, gaps=[(10, 12)]), TP, faust_new_offset) == 20
    assert new_offset(consumer(range(11, 20), 10), TP, faust_new_offset) == faust_new_offset(
        consumer(range(11, 20), 10), TP)
