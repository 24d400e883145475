import random

import pytest

from monitor.aggregate.windows import (
    ScoredEvent,
    WindowConfig,
    add_event,
    close_windows,
    is_idle,
    new_state,
    reference_tumbling,
)

CFG = WindowConfig(size_ms=60_000, hop_size_ms=180_000, hop_step_ms=60_000, grace_ms=10_000)


def ev(i, ts, label="negative", topic="T", score=-0.5):
    return ScoredEvent(f"id{i}", topic, ts, label, score)


def test_add_duplicate_late():
    s = new_state()
    assert add_event(s, ev(1, 5_000), 0, CFG) == "added"
    assert add_event(s, ev(1, 5_000), 0, CFG) == "duplicate"
    out = close_windows(s, "T", 70_000, CFG, now_ms=1)
    assert [w["kind"] for w in out] == ["tumbling", "hopping"]
    assert out[0]["n"] == 1 and out[0]["negatives"] == 1 and out[0]["negative_rate"] == 1.0
    assert add_event(s, ev(2, 30_000), 70_000, CFG) == "late"


def test_not_closed_within_grace():
    s = new_state()
    add_event(s, ev(1, 59_000), 0, CFG)
    assert close_windows(s, "T", 69_999, CFG, 0) == []
    assert len(close_windows(s, "T", 70_000, CFG, 0)) == 2


def test_hopping_sums_buckets_and_idle_topic_is_forgotten():
    s = new_state()
    add_event(s, ev(1, 1_000, "negative"), 0, CFG)
    add_event(s, ev(2, 61_000, "positive", score=0.8), 0, CFG)
    add_event(s, ev(3, 62_000, "neutral", score=0.0), 0, CFG)
    out = close_windows(s, "T", 10 * 60_000, CFG, 0)
    hop = [w for w in out if w["kind"] == "hopping"]
    tum = [w for w in out if w["kind"] == "tumbling"]
    assert [w["n"] for w in tum] == [1, 2, 0, 0]  # 2 empty buckets until the last post leaves the hop span
    assert [(w["start_ms"], w["n"]) for w in hop] == [(-120_000, 1), (-60_000, 3), (0, 3), (60_000, 2)]
    assert hop[1]["negatives"] == 1 and hop[1]["positives"] == 1 and hop[1]["neutrals"] == 1
    assert hop[1]["mean_score"] == pytest.approx((-0.5 + 0.8 + 0.0) / 3)
    assert not is_idle(s)  # the closed-through marker is kept for a while
    assert add_event(s, ev(1, 1_000), 0, CFG) == "late"  # a redelivery after a restart (watermark 0) stays late
    close_windows(s, "T", 10 * 60_000 + 15 * 60_000, CFG, 0)
    assert is_idle(s)


def test_persisted_watermark_keeps_closed_buckets_closed():
    s = new_state()
    add_event(s, ev(1, 1_000), 0, CFG)
    add_event(s, ev(2, 200_000), 0, CFG)
    close_windows(s, "T", 100_000, CFG, 0)
    assert add_event(s, ev(3, 30_000), 0, CFG) == "late"  # after a restart the partition watermark restarts at 0
    assert add_event(s, ev(4, 130_000), 0, CFG) == "added"


def test_unscored_counted_separately():
    s = new_state()
    add_event(s, ScoredEvent("x", "T", 1000, "unscored_modality", 0.0), 0, CFG)
    w = close_windows(s, "T", 80_000, CFG, 0)[0]
    assert w["n"] == 0 and w["unscored"] == 1 and w["negative_rate"] == 0.0


def test_gap_is_skipped_not_enumerated():
    s = new_state()
    add_event(s, ev(1, 0), 0, CFG)
    add_event(s, ev(2, 10**9), 0, CFG)  # far future bucket, stays open
    out = close_windows(s, "T", 10**9 - 1, CFG, 0)
    assert len(out) < 20 and not is_idle(s)


@pytest.mark.parametrize("seed", range(5))
def test_matches_reference_under_redelivery_and_shuffle(seed):
    rng = random.Random(seed)
    events = [ev(i, rng.randrange(0, 600_000), rng.choice(["negative", "neutral", "positive"]),
                 topic=rng.choice("AB")) for i in range(300)]
    stream = events + rng.sample(events, 60)  # at-least-once redeliveries
    stream.sort(key=lambda e: e.event_ms + rng.randrange(0, 8_000))  # mild disorder, within grace
    states = {"A": new_state(), "B": new_state()}
    wm, closed = 0, []
    for e in stream:
        assert add_event(states[e.topic], e, wm, CFG) in ("added", "duplicate")
        wm = max(wm, e.event_ms - 8_000)
        for t, s in states.items():
            closed += close_windows(s, t, wm, CFG, 0)
    for t, s in states.items():
        closed += close_windows(s, t, 10**7, CFG, 0)
    got = {(w["topic"], w["start_ms"]): w for w in closed if w["kind"] == "tumbling" and w["n"]}
    ref = reference_tumbling(events, CFG.size_ms)
    assert set(got) == set(ref)
    for k, c in ref.items():
        assert (got[k]["n"], got[k]["negatives"], got[k]["neutrals"], got[k]["positives"]) == (
            c["n"], c["neg"], c["neu"], c["pos"])
