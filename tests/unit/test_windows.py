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


def test_quiet_topic_does_not_jump_past_buckets_the_watermark_has_not_closed():
    """Hot path v3 #12: a faster raw partition opened a later bucket; when the topic's oldest window closed empty
    the state jumped to that bucket and on-time posts of a slower partition were counted late."""
    cfg = WindowConfig(size_ms=60_000, hop_size_ms=60_000, hop_step_ms=60_000, grace_ms=10_000)
    s = new_state()
    assert add_event(s, ev(1, 1_000), 0, cfg) == "added"
    assert add_event(s, ev(2, 600_000), 0, cfg) == "added"  # a faster partition is ten minutes ahead
    out = close_windows(s, "T", 130_000, cfg, 0)  # the slowest partition is at 130 s
    assert [w["start_ms"] for w in out if w["kind"] == "tumbling"] == [0]
    assert add_event(s, ev(3, 125_000), 130_000, cfg) == "added"  # on time: 125 s + 60 s + 10 s > 130 s
    assert add_event(s, ev(4, 300_000), 130_000, cfg) == "added"
    out = close_windows(s, "T", 10**6, cfg, 0)
    got = {w["start_ms"]: w["n"] for w in out if w["kind"] == "tumbling" and w["n"]}
    assert got == {120_000: 1, 300_000: 1, 600_000: 1}


@pytest.mark.parametrize("seed", range(5))
def test_in_order_replay_across_partitions_counts_nothing_late(seed):
    """A time-sorted stream split over 4 raw partitions that progress unevenly, the watermark being their minimum:
    no post is late and every post lands in its window (the real-stream replay of Hot path v3 #12)."""
    rng = random.Random(seed)
    cfg = WindowConfig(size_ms=60_000, hop_size_ms=60_000, hop_step_ms=60_000, grace_ms=10_000)
    times = sorted(rng.choice([rng.randrange(0, 3_600_000), rng.randrange(0, 200_000)]) for _ in range(400))
    events = [ev(i, t, topic=rng.choice("AB")) for i, t in enumerate(times)]
    parts: list[list[ScoredEvent]] = [[], [], [], []]
    for e in events:
        parts[rng.randrange(4)].append(e)
    pos, high = [0] * 4, [0] * 4
    states = {"A": new_state(), "B": new_state()}
    closed = []
    while any(pos[p] < len(parts[p]) for p in range(4)):
        p = rng.choice([q for q in range(4) if pos[q] < len(parts[q])])
        for e in parts[p][pos[p]:pos[p] + rng.randrange(1, 30)]:  # a partition runs ahead by a batch
            wm = min(high[q] if pos[q] < len(parts[q]) else 10**12 for q in range(4))
            assert add_event(states[e.topic], e, wm, cfg) == "added"
            pos[p] += 1
            high[p] = e.event_ms
            for t, s in states.items():
                closed += close_windows(s, t, min(high[q] if pos[q] < len(parts[q]) else 10**12
                                                  for q in range(4)), cfg, 0)
    for t, s in states.items():
        closed += close_windows(s, t, 10**7, cfg, 0)
    got = {(w["topic"], w["start_ms"]): w["n"] for w in closed if w["kind"] == "tumbling" and w["n"]}
    assert got == {k: c["n"] for k, c in reference_tumbling(events, cfg.size_ms).items()}


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


def test_a_far_future_post_cannot_poison_a_quiet_topic():
    """Hot path v3 #3: a post stamped a day ahead opened a bucket there; once the topic was quiet its state jumped
    to that bucket and every later post of the topic was late. With the cap (wall clock + allowed skew, as for the
    watermark) it is counted at the cap and later posts are on time."""
    cfg = WindowConfig(size_ms=60_000, hop_size_ms=60_000, hop_step_ms=60_000, grace_ms=10_000)
    now = 10 * 60_000
    s = new_state()
    assert add_event(s, ev(1, now - 30_000), 0, cfg, max_event_ms=now + 300_000) == "added"
    assert add_event(s, ev(2, now + 86_400_000), 0, cfg, max_event_ms=now + 300_000) == "added"  # clock skew
    close_windows(s, "T", now + 40_000, cfg, 0)  # the first bucket closes; the topic goes quiet
    assert add_event(s, ev(3, now + 100_000), now + 40_000, cfg, max_event_ms=now + 400_000) == "added"
    out = close_windows(s, "T", now + 10**6, cfg, 0)
    assert sum(w["n"] for w in out if w["kind"] == "tumbling") == 2  # posts 2 and 3


def test_a_topics_posts_out_of_order_before_any_close_are_not_late():
    """Hot path v3 #12, the cause found through the worker: a topic's first post came from a faster raw partition
    (bucket 14:00), then an on-time post of a slower one (bucket 10:00) was late because it was before `next`,
    although nothing had closed and the watermark was 0."""
    cfg = WindowConfig(size_ms=3_600_000, hop_size_ms=3_600_000, hop_step_ms=3_600_000, grace_ms=10_000)
    s = new_state()
    assert add_event(s, ev(1, 14 * 3_600_000 + 5), 0, cfg) == "added"
    assert add_event(s, ev(2, 10 * 3_600_000 + 5), 0, cfg) == "added"
    out = close_windows(s, "T", 20 * 3_600_000, cfg, 0)
    assert {w["start_ms"]: w["n"] for w in out if w["kind"] == "tumbling" and w["n"]} == {
        10 * 3_600_000: 1, 14 * 3_600_000: 1}
    assert add_event(s, ev(3, 11 * 3_600_000), 20 * 3_600_000, cfg) == "late"  # closed by then: late
