"""OrderGate: in-order release with a hole hold (the detection and delivery stages' net for the crash race)."""

from __future__ import annotations

from monitor.faust_compat.ordering import OrderGate

NOHW = {}.get  # high watermark unknown


def firsts(groups: list[list[str]]) -> list[str]:
    return [g[0] for g in groups]


def test_in_order_records_are_released_at_once() -> None:
    g = OrderGate()
    assert g.offer(0, 10, "a", 10, 0.0) == ("release", [["a"]])
    assert g.offer(0, 11, "b", 10, 0.0) == ("release", [["b"]])
    assert g.holes() == {}


def test_record_past_a_hole_is_held_until_the_hole_is_filled() -> None:
    g = OrderGate()
    assert g.offer(0, 11, "b", 10, 0.0) == ("held", [])  # offset 10 (the committed one) never arrived
    assert g.offer(0, 12, "c", 10, 0.1) == ("held", [])
    assert g.holes() == {0: 10}
    verdict, released = g.offer(0, 10, "a", 10, 1.0)
    assert verdict == "release" and firsts(released) == ["a", "b", "c"]
    assert g.holes() == {}


def test_duplicates_below_the_next_offset_are_dropped_and_copies_of_held_ones_kept() -> None:
    g = OrderGate()
    g.offer(0, 10, "a", 10, 0.0)
    assert g.offer(0, 10, "a-again", 10, 0.0) == ("duplicate", [])
    assert g.offer(0, 9, "old", 10, 0.0) == ("duplicate", [])  # below the committed offset
    g.offer(0, 12, "c", 10, 0.0)
    assert g.offer(0, 12, "c-again", 10, 0.0) == ("duplicate_of_held", [])
    _, released = g.offer(0, 11, "b", 10, 0.0)
    assert released == [["b"], ["c", "c-again"]]  # the copy is returned to be acknowledged with the original


def test_a_hole_asks_for_a_reread_every_stall_then_gives_up_in_order_and_a_late_record_still_goes() -> None:
    g = OrderGate(stall_s=15, give_up_s=45)
    g.offer(0, 12, "c", 10, 0.0)
    g.offer(0, 11, "b", 10, 1.0)
    start = {0: 10}.get
    assert g.poll(start, NOHW, 14.0) == ([], [], [])
    assert g.poll(start, NOHW, 15.0) == ([(0, 10)], [], [])
    assert g.poll(start, NOHW, 20.0) == ([], [], [])
    assert g.poll(start, NOHW, 30.0) == ([(0, 10)], [], [])  # asked again
    rereads, released, gave_up = g.poll(start, NOHW, 45.0)
    assert rereads == [] and firsts(released) == ["b", "c"] and gave_up == [0]
    assert g.holes() == {}
    assert g.offer(0, 10, "a", 10, 46.0) == ("late", [["a"]])  # after the give-up: released late, not dropped
    assert g.offer(0, 10, "a-again", 10, 47.0) == ("duplicate", [])


def test_a_new_hole_after_a_release_gets_its_own_clock() -> None:
    g = OrderGate(stall_s=15, give_up_s=30)
    g.offer(0, 11, "b", 10, 0.0)
    g.offer(0, 13, "d", 10, 0.0)
    g.offer(0, 10, "a", 10, 20.0)  # releases a, b; 13 waits for 12 from now on
    assert g.holes() == {0: 12}
    assert g.poll({0: 10}.get, NOHW, 34.0) == ([], [], [])
    assert g.poll({0: 10}.get, NOHW, 35.0) == ([(0, 12)], [], [])


def test_records_before_the_start_is_known_wait_for_it() -> None:
    g = OrderGate()
    assert g.offer(0, 11, "b", None, 0.0) == ("held", [])  # delivered while the consumer still seeks
    assert g.offer(0, 9, "z", None, 0.0) == ("held", [])
    assert g.holes() == {0: None}
    rereads, released, _ = g.poll({0: 9}.get, NOHW, 1.0)
    assert firsts(released) == ["z"] and g.holes() == {0: 10}  # 10 still missing: b waits
    _, released = g.offer(0, 10, "a", 9, 2.0)
    assert firsts(released) == ["a", "b"]


def test_records_below_a_start_learned_later_are_not_handled_but_handed_back_to_acknowledge() -> None:
    g = OrderGate()
    g.offer(0, 5, "old", None, 0.0)
    _, released, _ = g.poll({0: 6}.get, NOHW, 1.0)
    assert released == [] and g.holes() == {} and g.discarded == ["old"]


def test_revoked_partitions_drop_what_they_held_and_restart_at_the_committed_offset() -> None:
    g = OrderGate()
    g.offer(0, 11, "b", 10, 0.0)
    g.offer(1, 3, "x", 3, 0.0)
    g.assign({1})
    assert g.holes() == {}
    assert g.offer(0, 20, "later", 20, 1.0) == ("release", [["later"]])  # new owner's committed offset
    assert g.offer(1, 4, "y", 0, 1.0) == ("release", [["y"]])  # kept partition keeps its next offset


def test_a_never_delivered_record_with_nothing_after_it_is_re_read_once() -> None:
    g = OrderGate(stall_s=15, give_up_s=30)
    g.offer(0, 10, "a", 10, 0.0)  # 11 is on the broker (high watermark 12) but never delivered
    hw = {0: 12}.get
    assert g.poll({0: 10}.get, hw, 14.0) == ([], [], [])
    assert g.poll({0: 10}.get, hw, 15.0, busy=True) == ([], [], [])  # the stage is busy: not late yet
    assert g.poll({0: 10}.get, hw, 15.0) == ([(0, 11)], [], [])
    assert g.poll({0: 10}.get, hw, 40.0) == ([], [], [])  # once per offset
    assert g.poll({0: 10}.get, {0: 11}.get, 40.0) == ([], [], [])  # caught up: nothing to re-read


def test_a_commit_past_the_next_offset_moves_it() -> None:
    g = OrderGate()
    g.offer(0, 10, "a", 10, 0.0)
    g.poll({0: 15}.get, NOHW, 50.0)  # faust_patches committed past 11..14 after its head wait
    assert g.offer(0, 15, "f", 15, 51.0) == ("release", [["f"]])


def test_a_copy_arriving_once_the_start_is_known_releases_the_held_original() -> None:
    """Seen in a loop run: offset 0 delivered before the consumer's seek (start unknown: held), then fetched again
    after it; the copy is a duplicate, but the held original must go to the stage (it was never handled)."""
    g = OrderGate()
    assert g.offer(0, 0, "early", None, 0.0) == ("held", [])
    verdict, released = g.offer(0, 0, "refetched", 0, 0.5)
    assert verdict == "duplicate" and released == [["early"]]
    assert g.offer(0, 1, "next", 0, 0.6) == ("release", [["next"]])


def test_held_records_are_let_go_unacknowledged_before_faust_waits_for_acks() -> None:
    """A rebalance or shutdown waits until every delivered record is acknowledged: held records must not make it
    wait for a hole. They leave Faust's unacked set without an acknowledgement (their offsets stay uncommitted)."""
    from types import SimpleNamespace

    from monitor.faust_compat.ordered_stream import OrderedStream

    class Gauge:
        def labels(self, *a):
            return self

        def set(self, v):
            self.v = v

    class Msg:
        def __init__(self, offset: int) -> None:
            self.partition, self.offset = 0, offset

    msgs = [Msg(11), Msg(12)]
    consumer = SimpleNamespace(_unacked_messages={*msgs})
    ordered = OrderedStream("detect", "w", OrderGate(), lambda p: 10, SimpleNamespace(ordered_held=Gauge()))
    for m in msgs:
        ordered.gate.offer(0, m.offset, SimpleNamespace(message=m), 10, 0.0)
    ordered.release_held(consumer)
    assert consumer._unacked_messages == set() and ordered.gate.holes() == {}
    assert ordered.gate.offer(0, 10, "a", 10, 1.0) == ("release", [["a"]])  # starts again at the committed offset


def test_an_assigned_partition_that_never_delivers_a_record_is_re_read() -> None:
    """Seen in a loop run: both alerts of a partition were fetched but never delivered after a restart; the
    partition had no record in the gate, so nothing noticed."""
    g = OrderGate(stall_s=15, give_up_s=60)
    g.assign({0, 1}, now=100.0)
    hw = {0: 2, 1: 0}.get
    assert g.poll({0: 0, 1: 0}.get, hw, 110.0) == ([], [], [])
    assert g.poll({0: 0, 1: 0}.get, hw, 125.0) == ([(0, 0)], [], [])  # partition 1 is empty: nothing to read
