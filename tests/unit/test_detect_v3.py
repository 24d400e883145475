"""Detection v3 (issue 29): time, not windows; each topic's own noise; the fixes (a)-(g). Pure cores only."""

import json
import random
import time

import pytest

from monitor.config import Settings
from monitor.detect.engine import process_volume, process_window
from monitor.detect.lifecycle import LifecycleConfig
from monitor.detect.rate import RateConfig, RateState, observe
from monitor.detect.setup import detector_configs
from monitor.detect.volume import VolumeConfig, VolumeState, observe_count

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def sparse_days(rng, days, per_day, share, size_ms, first_day=0):
    """Non-empty windows only (as the aggregation emits them): ~per_day posts a day at random times."""
    out = []
    for d in range(first_day, first_day + days):
        times = sorted(rng.randrange(d * DAY, (d + 1) * DAY) for _ in range(per_day))
        by_w: dict[int, list[int]] = {}
        for t in times:
            by_w.setdefault(t - t % size_ms, []).append(int(rng.random() < share))
        out += [(s, len(v), sum(v)) for s, v in sorted(by_w.items())]
    return out


@pytest.mark.parametrize("size_ms", [MIN, HOUR])
def test_a_sparse_ticker_is_tested_at_the_scale_where_it_has_posts(size_ms):
    """(a) 25 posts a day: at 60-s windows no window ever has 10 posts, yet a day at 3x the negative share fires
    (at an hour-to-day scale), and the same configuration does it at 1-hour windows."""
    rng, cfg, st = random.Random(1), RateConfig(), RateState()
    fired = []
    for s, n, k in sparse_days(rng, 20, 25, 0.12, size_ms):
        fired.append(observe(st, s, n, k, cfg, size_ms=size_ms).alert)
    assert not any(fired), "false alarm on the normal days"
    verdicts = [observe(st, s, n, k, cfg, size_ms=size_ms)
                for s, n, k in sparse_days(rng, 1, 60, 0.5, size_ms, first_day=20)]  # the day after the 20 normal ones
    hits = [v for v in verdicts if v.alert]
    assert hits, "a day at 0.5 vs 0.12 with 60 posts went unseen"
    assert hits[0].scale_s >= 3600 and hits[0].block_n >= 10


def test_b_a_quiet_gap_of_any_length_costs_constant_time_and_state():
    """(b) empty windows are never emitted or stored: a year of silence folds in O(1), the buffer stays bounded."""
    rng, rc, vc = random.Random(2), RateConfig(), VolumeConfig()
    rs, vs = RateState(), VolumeState()
    for i in range(2000):  # busy: every 60-s window for 33 hours
        observe(rs, i * MIN, 50, rng.randrange(5, 15), rc)
        observe_count(vs, i * MIN, 50, vc)
    assert len(rs.recent) <= 60 + 26 and len(vs.recent) <= 60 + 26
    t0 = time.perf_counter()
    v = observe(rs, 2000 * MIN + 30 * DAY, 50, 10, rc)
    vv = observe_count(vs, 2000 * MIN + 30 * DAY, 50, vc)
    assert time.perf_counter() - t0 < 0.5
    assert not v.alert and len(rs.recent) <= 2
    # a month of silence is zero posts of exposure: the topic's rate has decayed, so 50 posts in a minute is a burst
    assert vv.expected < 5.0 and vv.warm
    # over four half-lives of silence the volume baseline starts afresh (warm-up again)
    assert not observe_count(vs, 2000 * MIN + 365 * DAY, 50, vc).warm


def test_c_window_s_alone_never_crashes_and_bad_hops_say_why():
    s = Settings.load(None, env={"MONITOR_WINDOW_S": "3600"})
    assert (s.window_s, s.hop_step_s, s.hop_size_s) == (3600, 3600, 18000)
    assert Settings().hop_step_s == 60 and Settings().hop_size_s == 300  # the old defaults
    with pytest.raises(ValueError, match="multiple of window_s"):
        Settings(window_s=3600, hop_step_s=60)


def test_d_eval_replays_the_workers_detector_with_the_workers_settings():
    from monitor.detect.stage import DetectStage

    s = Settings(detect_warmup_s=7200, detect_scales_s=[300, 3600], detect_min_posts=7)
    stage = DetectStage(s, metrics=None, outbox=None, table={})  # type: ignore[arg-type]
    cfgs = detector_configs(s)
    assert stage.rate_cfg == cfgs.rate and stage.volume_cfg == cfgs.volume and stage.life_cfg == cfgs.rate_life
    assert cfgs.rate.warmup_s == 7200 and cfgs.rate.min_posts == 7 and cfgs.volume.scales_s == (300.0, 3600.0)
    assert detector_configs(Settings(detect_scales=[1, 3])).rate.scales_s == (60.0, 180.0)


def test_e_hour_of_day_buckets_decay_on_event_time():
    """(e) an hour bucket last fed 30 days ago has decayed like the rest, not 24x slower."""
    cfg, st = RateConfig(warmup_s=10 * DAY, half_life_s=3 * 86_400.0, memory_posts=0.0), RateState()
    observe(st, 5 * HOUR, 100, 20, cfg, size_ms=HOUR)  # hour 5, once
    for d in range(30):
        observe(st, d * DAY + 12 * HOUR, 100, 20, cfg, size_ms=HOUR)  # hour 12, daily (all in warm-up: folded)
    expect = 100 * 0.5 ** ((29 * DAY + 13 * HOUR - 6 * HOUR) / (cfg.half_life_s * 1000))
    assert st.hour_n[5] == pytest.approx(expect, rel=0.02)


def test_f_resolving_needs_the_window_itself_calm_whatever_the_scales():
    """(f) with scales of 3 and 6 windows only, an incident used to resolve after 3 windows while still running."""
    cfg = RateConfig(scales_s=(180, 360), warmup_s=600)
    life = LifecycleConfig(resolve_windows=3)
    rng, state, recs = random.Random(3), None, []
    for i in range(120):
        p = 0.7 if 60 <= i < 80 else 0.2
        w = {"topic": "T", "start_ms": i * MIN, "end_ms": (i + 1) * MIN, "n": 60,
             "negatives": sum(rng.random() < p for _ in range(60))}
        new, rec = process_window(state, w, cfg, life)
        state = json.loads(json.dumps(new))
        if rec:
            recs.append((i, rec["status"]))
    assert [s for _, s in recs] == ["firing", "resolved"]
    assert recs[0][0] < 63 and recs[1][0] >= 82, recs


def test_gaps_count_as_calm_windows_for_resolving():
    """Empty windows are not emitted: a topic that went quiet resolves at its next window, not never."""
    life = LifecycleConfig(resolve_windows=3)
    state, recs = None, []
    rng = random.Random(4)
    starts = [*range(0, 60), *range(60, 64), 200]
    for i in starts:
        p = 0.8 if 60 <= i < 64 else 0.2
        w = {"topic": "T", "start_ms": i * MIN, "end_ms": (i + 1) * MIN, "n": 60,
             "negatives": sum(rng.random() < p for _ in range(60))}
        state, rec = process_window(state, w, RateConfig(warmup_s=600), life)
        if rec:
            recs.append((i, rec["status"]))
    assert recs == [(recs[0][0], "firing"), (200, "resolved")]


def test_each_topic_learns_its_own_noise():
    """A calm busy topic (binomial noise) ends with a small over-dispersion, a drifting one with a large one; the
    calm one then catches a 0.12 -> 0.2 shift the noisy one's test would not call."""
    rng = random.Random(5)
    cfg = RateConfig()
    calm, noisy = RateState(), RateState()
    for i in range(3 * 1440):
        observe(calm, i * MIN, 150, sum(rng.random() < 0.12 for _ in range(150)), cfg)
        p = min(0.9, max(0.01, rng.gauss(0.12, 0.05)))
        observe(noisy, i * MIN, 150, sum(rng.random() < p for _ in range(150)), cfg)
    from monitor.detect.rate import rho

    r_calm, r_noisy = rho(calm, cfg, MIN), rho(noisy, cfg, MIN)
    assert r_calm < 0.002 < 0.015 < r_noisy < 0.05, (r_calm, r_noisy)  # truth: 0 and 0.05² / (0.12·0.88) = 0.024
    t = 3 * 1440 * MIN
    hits = [observe(calm, t + i * MIN, 150, sum(rng.random() < 0.25 for _ in range(150)), cfg).alert
            for i in range(12)]
    assert any(hits[:4]), "calm busy topic: 0.12 -> 0.25 for 12 minutes went unseen"


def test_volume_learns_weekly_rhythm_and_a_burst_says_how_big():
    """Nights at a third, weekends at 0.6: the rhythm is not an incident; a x4 burst over an hour is, and the
    record says how many posts in how long against how many expected."""
    import numpy as np

    rng = np.random.default_rng(6)
    state, recs = None, []
    life = LifecycleConfig(resolve_windows=2, cooldown_ms=3_600_000)
    cfg = VolumeConfig()
    b0 = 20 * 288 + 144  # day 20, noon: a x4 burst for an hour
    for i in range(21 * 288):  # three weeks of 5-minute windows
        t = i * 5 * MIN
        hour, dow = (t // HOUR) % 24, (t // DAY + 3) % 7
        lam = 20 * (1 / 3 if hour < 7 else 1.0) * (0.6 if dow >= 5 else 1.0) * (4 if b0 <= i < b0 + 12 else 1)
        w = {"topic": "T", "start_ms": t, "end_ms": t + 5 * MIN, "n": int(rng.poisson(lam)), "negatives": 0,
             "unscored": 0}
        state, rec = process_volume(state, w, cfg, life)
        if rec and rec["status"] == "firing":
            recs.append((i, rec))
    assert len(recs) <= 3, [r["summary"] for _, r in recs]  # <= 1 per week of normal rhythm
    burst_hits = [r for i, r in recs if b0 <= i < b0 + 3]
    assert burst_hits and " x" in burst_hits[0]["summary"] and burst_hits[0]["scale_s"] >= 300


def test_both_signals_moving_make_one_incident():
    """Item 3: mentions x5 and the negative share 0.2 -> 0.7 in the same windows: one firing record that says both,
    and no separate volume incident (neither its firing nor its resolution)."""
    from monitor.detect.replay import replay
    from monitor.detect.setup import DetectorConfigs

    rng = random.Random(8)
    windows = []
    for i in range(2 * 1440 // 5):  # two days of 5-minute windows
        spike = 400 <= i < 406
        n = 200 if spike else 40 + rng.randrange(-5, 6)
        p = 0.7 if spike else 0.2
        windows.append({"topic": "T", "start_ms": i * 5 * MIN, "end_ms": (i + 1) * 5 * MIN, "n": n,
                        "negatives": sum(rng.random() < p for _ in range(n)), "unscored": 0})
    cfgs = DetectorConfigs(rate=RateConfig(), rate_life=LifecycleConfig(resolve_windows=2), volume=VolumeConfig(),
                           volume_life=LifecycleConfig(resolve_windows=2, cooldown_ms=HOUR))
    recs = replay(windows, cfgs)
    assert [(r["signal"], r["status"]) for r in recs] == [("negative_rate", "firing"), ("negative_rate", "resolved")]
    fire = recs[0]
    assert fire["volume"]["ratio"] > 3 and "mentions x" in fire["summary"] and "negative share" in fire["summary"]


def test_one_stray_ancient_post_does_not_make_every_later_window_a_burst():
    """Seen in the demo: one post stamped 1970 made the catch-all topic's first window, so the volume detector
    was warm at once and its rate ~0 (56 years of quiet exposure): 12 posts were 'x12000000000'."""
    cfg, st = VolumeConfig(), VolumeState()
    observe_count(st, 0, 1, cfg)  # 1970-01-01
    t0 = 1_767_225_600_000  # 2026
    fired = [observe_count(st, t0 + i * MIN, 50, cfg).alert for i in range(120)]
    assert not any(fired)  # the topic starts afresh: warm-up again
