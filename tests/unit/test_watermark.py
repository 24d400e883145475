from monitor.aggregate.watermark import PartitionWatermarks


def test_min_over_active_partitions():
    w = PartitionWatermarks(idle_s=5)
    w.assign([0, 1], now=0)
    w.observe(0, 100_000, now=0.1)
    assert w.value(0.1) == 0  # partition 1 assigned, not heard from yet: holds the watermark
    w.observe(1, 40_000, now=0.2)
    assert w.value(0.2) == 40_000  # the backlogged partition holds it back
    w.observe(1, 90_000, now=0.3)
    assert w.value(0.3) == 90_000


def test_idle_partition_stops_holding_back_and_value_never_decreases():
    w = PartitionWatermarks(idle_s=5)
    w.assign([0, 1], now=0)
    w.observe(0, 100_000, now=1)
    assert w.value(4) == 0
    assert w.value(6) == 100_000  # partition 1 idle since its assignment
    w.observe(1, 20_000, now=7)
    assert w.value(7) == 100_000  # never decreases
    w.assign([1], now=8)  # rebalance: partition 0 gone
    assert set(w.parts) == {1}


def test_a_quiet_partition_with_a_backlog_is_not_idle():
    """After a restart under load the first fetch of a partition can take longer than idle_s: while its consumer
    has not caught up it must keep holding the watermark back (else its backlog arrives late)."""
    w = PartitionWatermarks(idle_s=5)
    w.assign([0, 1], now=0)
    w.observe(0, 100_000, now=1)
    snap = w.snapshot(now=10, caught_up={0})  # partition 1: nothing read yet, backlog on the broker
    assert snap[1] == (0, False) and snap[0] == (100_000, True)
    assert w.snapshot(now=10, caught_up={0, 1})[1] == (0, True)  # caught up and quiet: idle
    assert w.snapshot(now=10)[1] == (0, True)  # no backlog information: the old rule
    from monitor.aggregate.watermark import RawPartitionWatermarks

    agg = RawPartitionWatermarks(2)
    agg.tick(w.snapshot(now=10, caught_up={0}))
    assert agg.value() == 0  # held back by the partition with a backlog
    agg.tick(w.snapshot(now=11, caught_up={0, 1}))
    assert agg.value() == 100_000
