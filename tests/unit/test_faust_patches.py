"""The commit-offset fix in monitor/faust_compat/patches.py, checked against Faust's own `Consumer._new_offset`."""

from __future__ import annotations

from collections import defaultdict, namedtuple
from types import SimpleNamespace
from typing import Any

import pytest
from intervaltree import IntervalTree

from monitor.faust_compat import patches as faust_patches
from monitor.faust_compat.patches import new_offset

TP = namedtuple("TP", "topic partition")("posts.raw", 0)


@pytest.fixture(autouse=True)
def _fresh_head_clock():
    faust_patches._head_since.clear()
    yield
    faust_patches._head_since.clear()


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


def test_a_stale_pending_record_below_the_committed_offset_does_not_block() -> None:
    assert new_offset(consumer(range(10, 20), 10, pending=[4]), TP, faust_new_offset) == 20


def test_a_record_never_delivered_at_the_head_blocks_the_commit_for_a_while() -> None:
    """Fetched but never delivered (the restart race): the stage re-reads it within `ingest_stall_s`, so the commit
    waits for it (Faust committed over it at once); after `head_wait_s` it passes (not a record, or gone)."""
    faust_patches._head_wait["s"] = 30.0
    c = consumer(range(11, 20), 10)
    assert new_offset(c, TP, faust_new_offset, now=100.0) is None
    assert new_offset(c, TP, faust_new_offset, now=120.0) is None
    assert new_offset(c, TP, faust_new_offset, now=131.0) == 20


def test_a_partition_never_committed_uses_its_first_offset_as_the_head() -> None:
    faust_patches.START_OFFSETS[TP] = 0
    try:
        assert new_offset(consumer(range(1, 9), None), TP, faust_new_offset, now=0.0) is None
        assert new_offset(consumer(range(0, 9), None), TP, faust_new_offset, now=0.0) == 9
    finally:
        faust_patches.START_OFFSETS.pop(TP)


def test_a_known_gap_at_the_head_does_not_block_a_commit() -> None:
    """Offsets Faust saw skipped while reading (not records) count as acknowledged, as in Faust."""
    assert new_offset(consumer(range(12, 20), 10, gaps=[(10, 12)]), TP, faust_new_offset, now=0.0) == 20


def test_other_faust_or_aiokafka_versions_are_refused_with_what_to_do(monkeypatch):
    import pytest

    from monitor.faust_compat import TESTED, UnsupportedVersion, check_versions

    check_versions(dict(TESTED))
    monkeypatch.delenv("MONITOR_ALLOW_UNTESTED_FAUST", raising=False)
    with pytest.raises(UnsupportedVersion, match=r"faust-streaming 0\.16\.0 installed.*faust-streaming==0\.15\.3"):
        check_versions({**TESTED, "faust-streaming": "0.16.0"})
    check_versions()  # the installed ones are the tested ones
    monkeypatch.setenv("MONITOR_ALLOW_UNTESTED_FAUST", "1")
    check_versions({**TESTED, "aiokafka": "0.15.0"})
