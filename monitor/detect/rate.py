"""Count-aware negative-rate spike detector per topic, v3: time scales from a minute to a day, each topic's own
noise (pure; window times are inputs, never the clock). Shared machinery: `detect.timescale`.

For each closed window [start, end) of a topic (only non-empty windows arrive; the time between them is zero posts):
  baseline p0 = event-time-decayed k/n of earlier *normal* windows (half-life `half_life_s`), blended per entry with
                the same statistic for its hour of day once that hour has enough history (daily rhythm). Every hour
                bucket decays on event time, not on its own folds. A window joins the baseline when it leaves the
                scan buffer (`max(scales) + window` later) and no alert covered it (during the warm-up at once);
  scan        for every scale S in `scales_s` (1 min … 24 h, as whole windows): K, N = negatives and posts of the
                windows that start in [end − S, end); p_S = P(K' >= K) under a beta-binomial(N, p0·m_S,
                (1−p0)·m_S) where m_S = 1/ρ_S − 1 and ρ_S is *this topic's* over-dispersion at scale S
                (`timescale.Dispersion`, shrunk to the prior `overdispersion`). Blocks stop at a window an alert
                already covered: a new alert needs new evidence;
  evidence    = −log10(min_S p_S · T) where T counts the scales actually tested (block with >= min_posts posts);
  score       = evidence / (evidence + 10);
  decision    = warm and N >= min_posts and adjusted p <= threshold and K/N >= min_ratio·p0 at the best scale.
                threshold = `p_threshold`, or by default `false_alarms_per_week` · window / week: the same budget
                in time whatever the window size.
The verdict says which scale fired (windows and seconds), the block's start (the estimated onset), a confidence
("low" under `low_confidence_posts` posts) and `calm`: the window alone shows no evidence (its own one-window test,
whatever scales are configured) — the lifecycle's resolve signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from monitor.detect.stats import betabinom_logsf, evidence, score_from_evidence
from monitor.detect.timescale import (
    DEFAULT_SCALES_S,
    END,
    FLAG,
    HOUR_MS,
    START,
    Dispersion,
    append,
    coarsen,
    cover,
    decay,
    scales_ms,
    select,
    tests_per_week,
    threshold,
)


@dataclass(frozen=True)
class RateConfig:
    half_life_s: float = 3 * 3_600.0  # memory of the baseline share (a busy topic's drift is tracked in hours) ...
    memory_posts: float = 400.0  # ... but the baseline never decays below this many posts (a sparse one: months)
    warmup_s: float = 1_800.0  # event time of a topic before it may fire ...
    warmup_posts: float = 30.0  # ... and posts in its baseline: a shift of a share never seen cannot be judged
    min_posts: int = 10  # posts in the firing block
    p_threshold: float | None = None  # scale-adjusted; None: false_alarms_per_week · window / week
    false_alarms_per_week: float = 0.5
    min_ratio: float = 1.3
    overdispersion: float = 200.0  # prior beta strength m0 (ρ0 = 1 / (m0 + 1)): smaller = more tolerant
    overdispersion_weight: float = 2_000.0  # prior weight in units of N (N − 1) p0 (1 − p0)
    dispersion_half_life_s: float = 14 * 86_400.0
    prior_rate: float = 0.25
    prior_weight: float = 20.0  # pseudo-posts at prior_rate before any data
    hour_min_posts: float = 200.0  # weighted posts in an hour-of-day bucket before its rhythm is used
    scales_s: tuple[float, ...] = DEFAULT_SCALES_S
    low_confidence_posts: int = 30
    calm_p: float = 0.01
    learn_after_s: float = 3_600.0  # an entry joins the baseline this long after it ended, unless covered
    sensitivity: float = 1.0  # a topic override's multiplier of the threshold

    def threshold(self, size_ms: int, tests_per_week: float | None = None) -> float:
        """The scale-adjusted p threshold: `p_threshold`, or the weekly budget spread over the windows this topic
        is actually tested on (only non-empty windows are: a ticker with 25 posts a day is tested ~25 times a day
        at 60-s windows, not 1 440); at most one test per window of the week."""
        return threshold(self.p_threshold, self.false_alarms_per_week, self.sensitivity, size_ms, tests_per_week)


@dataclass
class RateState:
    k: float = 0.0
    n: float = 0.0
    hour_k: list[float] = field(default_factory=lambda: [0.0] * 24)
    hour_n: list[float] = field(default_factory=lambda: [0.0] * 24)
    folded_ms: int = 0  # event time the baseline is decayed to
    first_ms: int | None = None
    windows: int = 0
    # scan buffer (timescale): [start_ms, end_ms, n, k, c, flag]
    recent: list[list[float]] = field(default_factory=list)
    disp: dict[str, list[float]] = field(default_factory=dict)  # scale ms -> [U, W, at_ms]
    disp_at: dict[str, int] = field(default_factory=dict)
    tests: list[float] = field(default_factory=lambda: [0.0, 0.0, 0])  # decayed windows, decayed ms, at  # scale ms -> index of the last block used


@dataclass(frozen=True)
class RateVerdict:
    score: float
    alert: bool
    p_value: float  # adjusted for the number of scales tested
    baseline: float
    rate: float  # this window's negative share
    n: int
    k: int
    evidence: float = 0.0  # decimal digits, −log10(p_value)
    scale: int = 1  # windows in the block with the strongest evidence
    onset_ms: int | None = None  # start of that block: the estimated onset
    block_n: int = 0
    block_k: int = 0
    calm: bool = True  # this window alone shows no evidence (p > calm_p): the lifecycle's resolve signal
    confidence: str = "high"
    scale_s: float = 60.0  # the block's scale in seconds
    tested: int = 0  # scales tested (the multiplicity)
    warm: bool = False
    dispersion: float = 0.0  # ρ of the best scale (this topic's over-dispersion)


def _hour(ms: float) -> int:
    return int(ms // HOUR_MS) % 24


def baseline_rate(st: RateState, cfg: RateConfig, hour: int | None) -> float:
    p = (st.k + cfg.prior_rate * cfg.prior_weight) / (st.n + cfg.prior_weight)
    if hour is not None and st.hour_n[hour] >= cfg.hour_min_posts:
        w = st.hour_n[hour] / (st.hour_n[hour] + cfg.hour_min_posts)
        p = (1 - w) * p + w * st.hour_k[hour] / st.hour_n[hour]
    return min(max(p, 1e-4), 0.999)


DISP_CLIP = 3.0  # block deviations beyond this many standard deviations are clipped when learning rho


def rho(st: RateState, cfg: RateConfig, scale: int) -> float:
    d = st.disp.get(str(scale))
    return Dispersion.value(d or [0.0, 0.0, 0], 1.0 / (cfg.overdispersion + 1.0), cfg.overdispersion_weight,
                            1e-4, 0.5)


def _logsf(k: float, n: float, p0: float, r: float) -> float:
    if n <= 0 or k <= n * p0:  # only the upper tail matters
        return 0.0
    m = 1.0 / r - 1.0
    return betabinom_logsf(k, n, p0 * m, (1 - p0) * m)


def _fold(st: RateState, e: list[float], cfg: RateConfig) -> None:
    """Learn one entry; one an alert covered is learnt winsorised at min_ratio x the baseline share (a lasting
    change still moves the baseline, slowly; an incident cannot teach it "normal")."""
    if e[FLAG] not in (0, 1):
        return
    k = e[3]
    if e[FLAG] == 1:
        k = min(k, e[2] * min(1.0, cfg.min_ratio * baseline_rate(st, cfg, _hour(e[START]))))
    d = decay(e[END] - st.folded_ms, cfg.half_life_s * 1000) if st.folded_ms else 1.0
    if st.n * d < cfg.memory_posts:  # keep at least memory_posts posts of memory
        d = min(1.0, cfg.memory_posts / st.n) if st.n > 0 else 1.0
    st.k, st.n = st.k * d + k, st.n * d + e[2]
    h = _hour(e[START])
    for i in range(24):
        st.hour_k[i] *= d
        st.hour_n[i] *= d
    st.hour_k[h] += k
    st.hour_n[h] += e[2]
    st.folded_ms = max(st.folded_ms, int(e[END]))
    e[FLAG] = 2 if e[FLAG] == 0 else 3


def _sums(st: RateState, cfg: RateConfig, lo: float, hi: float, stop_at_cover: bool
          ) -> tuple[float, float, float, int, bool]:
    """(n, k, expected k, block start, covered seen) of the entries starting in [lo, hi)."""
    n = k = ek = 0.0
    p_hour: dict[int, float] = {}
    entries, start, covered = select(st.recent, lo, hi, stop_at_cover)
    for e in entries:
        h = _hour(e[START])
        if h not in p_hour:
            p_hour[h] = baseline_rate(st, cfg, h)
        n += e[2]
        k += e[3]
        ek += e[2] * p_hour[h]
    return n, k, ek, start, covered


def _learn_dispersion(st: RateState, cfg: RateConfig, start_ms: int, scales: tuple[int, ...]) -> None:
    """Per scale, at most once per S: the block [start − S, start) that ended before this window, if it lies after
    the topic's first window and no alert covered it, updates the scale's over-dispersion estimate."""
    for s in scales:
        idx = start_ms // s
        key = str(s)
        if st.disp_at.get(key, -1) >= idx:
            continue
        st.disp_at[key] = idx
        lo = start_ms - s
        if st.first_ms is None or lo < st.first_ms:
            continue
        n, k, ek, _, covered = _sums(st, cfg, lo, start_ms, stop_at_cover=False)
        if covered or n < 2:
            continue
        p0 = min(max(ek / n, 1e-4), 0.999)
        # winsorised at DISP_CLIP standard deviations of the current model: one anomalous block (the first minutes
        # of a spike, not yet alerted) must not teach the topic that it is noisy, or the spike's own evidence drops
        # below the threshold (seen in the demo: AAPL at 47-73 % vs 22 %, rho 1e-4 -> 0.025 within the spike)
        sd = math.sqrt(n * p0 * (1 - p0) * (1 + (n - 1) * rho(st, cfg, s)))
        dev = min(max(k - n * p0, -DISP_CLIP * sd), DISP_CLIP * sd)
        u = dev ** 2 - n * p0 * (1 - p0)
        w = n * (n - 1) * p0 * (1 - p0)
        Dispersion.update(st.disp.setdefault(key, [0.0, 0.0, 0]), u, w, start_ms,
                          cfg.dispersion_half_life_s * 1000)


def observe(st: RateState, start_ms: int, n: int, k: int, cfg: RateConfig, size_ms: int = 60_000) -> RateVerdict:
    """Judge one closed window [start_ms, start_ms + size_ms) and the blocks it ends, then advance the state."""
    end = start_ms + size_ms
    scales = scales_ms(cfg.scales_s, size_ms)
    if st.first_ms is None:
        st.first_ms = start_ms
    warm = start_ms - st.first_ms >= cfg.warmup_s * 1000 and st.n >= cfg.warmup_posts
    _learn_dispersion(st, cfg, start_ms, scales)
    entry = append(st.recent, start_ms, end, n, k, n)
    if not warm:  # warming up (no alert possible): learn at once, not a day later
        _fold(st, entry, cfg)
    p_now = baseline_rate(st, cfg, _hour(start_ms))
    # this window alone (the resolve signal), whatever the configured scales
    single = _logsf(k, n, p_now, rho(st, cfg, size_ms))
    best = (0.0, size_ms, 0.0, 0.0, start_ms, p_now, rho(st, cfg, size_ms))
    tested = 0
    for s in scales:
        bn, bk, ek, bstart, _ = _sums(st, cfg, end - s, end + 1, stop_at_cover=True)
        if bn < cfg.min_posts:
            continue
        tested += 1
        p0 = min(max(ek / bn, 1e-4), 0.999)
        r = rho(st, cfg, s)
        lp = _logsf(bk, bn, p0, r)
        if lp < best[0] and bk >= cfg.min_ratio * p0 * bn:
            best = (lp, s, bn, bk, bstart, p0, r)
    logp, scale, bn, bk, bstart, p0, r = best
    scale = min(scale, end - bstart)  # a block cut short by an earlier alert
    adj_logp = min(0.0, logp + math.log(max(1, tested)))
    digits = evidence(adj_logp)
    tpw = tests_per_week(st.tests, end, size_ms)
    alert = warm and bn >= cfg.min_posts and adj_logp <= math.log(cfg.threshold(size_ms, tpw))
    if alert:
        cover(st.recent, bstart)
    for e in st.recent:  # entries old enough and not covered join the baseline
        if e[END] > end - cfg.learn_after_s * 1000:
            break
        _fold(st, e, cfg)
    horizon = end - max(scales) - size_ms
    while st.recent and st.recent[0][START] < horizon:
        _fold(st, st.recent.pop(0), cfg)
    coarsen(st.recent, end)
    st.windows += 1
    return RateVerdict(score=score_from_evidence(digits), alert=alert, p_value=math.exp(adj_logp),
                       baseline=p0 if bn else p_now, rate=k / n if n else 0.0, n=n, k=k, evidence=round(digits, 4),
                       scale=max(1, scale // size_ms), onset_ms=bstart if bn else None, block_n=int(bn),
                       block_k=int(bk), calm=single > math.log(cfg.calm_p) or n == 0,
                       confidence="low" if bn < cfg.low_confidence_posts else "high", scale_s=scale / 1000,
                       tested=tested, warm=warm, dispersion=round(r, 6))


def min_detectable_ratio(p0: float, posts_per_window: float, windows: int, cfg: RateConfig,
                         size_ms: int = 60_000) -> float:
    """Smallest multiple of p0 that a block of `windows` windows at this volume can show at the threshold with the
    prior over-dispersion (for the docs and the alert's confidence note): below this a shift is invisible."""
    n = int(round(posts_per_window * windows))
    if n <= 0:
        return math.inf
    target = math.log(cfg.threshold(size_ms)) - math.log(len(scales_ms(cfg.scales_s, size_ms)))
    r = 1.0 / (cfg.overdispersion + 1.0)
    for k in range(int(n * p0) + 1, n + 1):
        if _logsf(k, n, p0, r) <= target:
            return k / n / p0
    return math.inf
