"""faust_compat.progress: the contiguous frontier of what the ingest stage finished per raw partition."""

from monitor.faust_compat.progress import IngestProgress


def test_seek_position_is_not_progress():
    """The restarted worker's state in the kill -9 race: committed offset 40 (the next record), high watermark 41:
    one record (the post that closes the last windows) is unfinished, so the partition is not caught up."""
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    assert not p.caught_up(0, highwater=41, committed=40)
    p.finished(0, 40, now=1.0)
    assert p.caught_up(0, highwater=41, committed=40)


def test_unknown_highwater_is_not_caught_up_and_empty_partition_is():
    p = IngestProgress()
    p.assign({0, 1}, now=0.0)
    assert not p.caught_up(0, None, None)
    assert p.caught_up(1, 0, None)
    assert not p.caught_up(0, 5, None)  # never committed, nothing finished: a backlog from the beginning


def test_frontier_is_contiguous_and_committed_is_a_floor():
    p = IngestProgress()
    p.assign({0}, now=0.0)
    for o in range(0, 10):
        p.finished(0, o, now=1.0)
    p.finished(0, 3, now=2.0)  # a redelivered duplicate does not move progress back
    assert p.next_offset(0, committed=None) == 10
    assert p.next_offset(0, committed=12) == 12  # another owner finished more before a rebalance
    p.finished(0, 14, now=3.0)  # 12 and 13 not finished: a hole
    assert p.next_offset(0, committed=12) == 12
    p.finished(0, 12, now=3.0)
    p.finished(0, 13, now=3.0)
    assert p.next_offset(0, committed=12) == 15


def test_records_finished_before_the_start_is_known_wait():
    p = IngestProgress()
    p.assign({0}, now=0.0)
    p.finished(0, 41, now=1.0)  # the committed offset is 40 and 40 was dropped
    assert p.next_offset(0, committed=40) == 40
    assert not p.caught_up(0, highwater=42, committed=40)


def test_dropped_record_is_reread_once():
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    p.last_batch = 0.0
    assert p.stalled(0, highwater=41, committed=40, now=10.0) is None  # not long enough
    assert p.stalled(0, highwater=41, committed=40, now=16.0) == 40
    assert p.stalled(0, highwater=41, committed=40, now=20.0) is None  # just re-read: wait again
    p.finished(0, 40, now=21.0)  # the re-read delivered it
    assert p.caught_up(0, highwater=41, committed=40)
    assert p.stalled(0, highwater=41, committed=40, now=60.0) is None


def test_futile_reread_moves_past_offsets_that_are_not_data():
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    assert p.stalled(0, highwater=41, committed=40, now=16.0) == 40
    assert p.stalled(0, highwater=41, committed=40, now=32.0) is None  # nothing came: e.g. a transaction marker
    assert p.caught_up(0, highwater=41, committed=40)
    assert not p.caught_up(0, highwater=45, committed=40)  # new records: not caught up again


def test_a_hole_is_reread_even_while_the_stage_is_busy():
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    assert p.next_offset(0, committed=40) == 40
    for o in range(41, 60):
        p.finished(0, o, now=1.0)  # 40 never arrived, later records did
    p.last_batch = 15.5
    assert p.stalled(0, highwater=60, committed=40, now=16.0) == 40


def test_a_busy_stage_without_hole_is_not_stalled():
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    p.last_batch = 14.0  # the stage is still working through its buffer
    assert p.stalled(0, highwater=100, committed=40, now=16.0) is None
    for o in range(40, 100):
        p.finished(0, o, now=17.0)
    assert p.stalled(0, highwater=100, committed=40, now=60.0) is None  # caught up


def test_reassignment_keeps_kept_partitions_and_forgets_revoked():
    p = IngestProgress()
    p.assign({0, 1}, now=0.0)
    p.finished(0, 5, now=1.0)
    p.finished(1, 7, now=1.0)
    p.assign({0}, now=2.0)
    assert p.next_offset(0, 5) == 6 and p.next_offset(1, None) is None


def test_a_hole_is_seen_once_the_frontier_is_known_and_closes_when_the_record_arrives():
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    assert not p.has_hole(0, committed=10)
    p.finished(0, 10, now=1.0)
    assert not p.has_hole(0, committed=10)
    p.finished(0, 12, now=1.0)  # 11 never arrived
    assert p.has_hole(0, committed=10)
    p.finished(0, 11, now=2.0)
    assert not p.has_hole(0, committed=10) and p.next_offset(0, 10) == 13


def test_a_commit_past_an_open_hole_does_not_close_it():
    """faust_patches.new_offset gives up waiting for a never-delivered head after a while and Faust commits past
    it; the stage's hole stays open until the re-read brings the record (or a futile re-read steps over it)."""
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    p.next_offset(0, committed=10)
    for o in range(12, 20):
        p.finished(0, o, now=1.0)
    assert p.has_hole(0, committed=20)  # the commit passed 11
    p.finished(0, 10, now=2.0)
    p.finished(0, 11, now=2.0)
    assert not p.has_hole(0, committed=20) and p.next_offset(0, 20) == 20


def test_a_record_the_stage_is_still_processing_is_never_reread():
    """#30.13: the frontier record reached the stage and is being processed (a slow scorer batch, a media post)
    while later records of its partition finished: busy, not stalled, however long it takes."""
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    assert p.next_offset(0, committed=40) == 40
    p.received(0, [40], now=0.5)
    for o in range(41, 60):
        p.received(0, [o], now=1.0)
        p.finished(0, o, now=1.0)
    assert p.stalled(0, highwater=60, committed=40, now=120.0) is None
    p.finished(0, 40, now=121.0)
    assert p.caught_up(0, highwater=60, committed=40)


def test_one_long_batch_is_busy_not_stalled():
    """#30.13: a batch that takes longer than the stall time (the text model on a slow CPU): while it runs, a
    partition whose records wait behind it is not re-read, and the futile-re-read rule cannot move past them."""
    p = IngestProgress(stall_s=15)
    p.assign({0, 1}, now=0.0)
    p.next_offset(0, committed=40)
    p.next_offset(1, committed=7)
    p.begin_batch(now=1.0)
    p.received(1, list(range(7, 500)), now=1.0)
    for now in (20.0, 40.0, 60.0):
        assert p.stalled(0, highwater=90, committed=40, now=now) is None
    assert p.caught_up(0, highwater=90, committed=40) is False
    p.end_batch(now=61.0)
    assert p.stalled(0, highwater=90, committed=40, now=62.0) is None  # just finished a batch: records may follow


def test_a_record_skipped_before_the_stage_is_reread_even_while_busy():
    p = IngestProgress(stall_s=15)
    p.assign({0}, now=0.0)
    p.next_offset(0, committed=40)
    p.begin_batch(now=1.0)
    p.received(0, [41, 42], now=1.0)  # 40 never reached the stage: dropped on the way
    assert p.stalled(0, highwater=43, committed=40, now=16.5) == 40
