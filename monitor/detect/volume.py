"""Volume (mention-count) spike detector per topic, v3: time scales from a minute to a day, multiplicative noise,
hour-of-day and weekday seasonality and over-dispersion learned per topic (pure; timestamps are inputs).

Baseline: a rate per unit of event time λ = decayed counts / decayed exposure (half-life `half_life_s`), the time
between windows counted as exposure with zero posts (a quiet gap of any length folds in O(1): its decayed exposure
is integrated in closed form and spread over the hours of day and days of week it covers). Seasonality: factors per
hour of day and per weekday, (counts + a) / (λ·exposure + a) — shrunk to 1 by `season_prior` pseudo-counts, so a
topic with a post a day keeps a flat profile and a busy one learns its nights and weekends.
Scan: for every scale S (1 min … 24 h): C = posts of the windows starting in [end − S, end), M = ∫ λ·f(hour)·f(day)
over that span; p_S = P(X >= C) for a negative binomial with mean M and variance M + φ_S·M² (multiplicative,
log-scale noise), φ_S this topic's over-dispersion at scale S (`timescale.Dispersion`, shrunk to `dispersion`).
Evidence = −log10(min_S p_S · T), T the scales tested (C >= min_count); alert when warm, C >= min_count,
C >= min_ratio·M and the adjusted p <= threshold (`p_threshold`, or `false_alarms_per_week` · window / week).
Counts may be any non-negative number (the tails come from SciPy in O(1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from monitor.detect.stats import evidence, negbin_logsf, score_from_evidence
from monitor.detect.timescale import (
    DAY_MS,
    DEFAULT_SCALES_S,
    END,
    FLAG,
    HOUR_MS,
    START,
    WEEK_MS,
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
class VolumeConfig:
    half_life_s: float = 14 * 86_400.0
    warmup_s: float = 86_400.0  # a full daily cycle before the first volume alert
    p_threshold: float | None = None
    false_alarms_per_week: float = 0.15  # nominal; chosen on the dev half of the real stream
    min_ratio: float = 2.0
    min_count: int = 5
    dispersion: float = 0.25  # prior φ: variance M + φ M² (±50 % multiplicative noise)
    dispersion_weight: float = 20.0  # prior weight in units of M²
    dispersion_half_life_s: float = 14 * 86_400.0
    season_prior: float = 5.0  # pseudo-posts shrinking each hour-of-day / weekday factor to 1
    scales_s: tuple[float, ...] = DEFAULT_SCALES_S
    calm_p: float = 0.01
    learn_after_s: float = 3_600.0  # an entry joins the baseline this long after it ended, unless covered

    def threshold(self, size_ms: int, tests_per_week: float | None = None) -> float:
        return threshold(self.p_threshold, self.false_alarms_per_week, 1.0, size_ms, tests_per_week)


@dataclass
class VolumeState:
    a: float = 0.0  # decayed posts
    t: float = 0.0  # decayed exposure, ms
    hour_a: list[float] = field(default_factory=lambda: [0.0] * 24)
    hour_t: list[float] = field(default_factory=lambda: [0.0] * 24)
    day_a: list[float] = field(default_factory=lambda: [0.0] * 7)
    day_t: list[float] = field(default_factory=lambda: [0.0] * 7)
    folded_ms: int = 0  # exposure folded up to here
    first_ms: int | None = None
    windows: int = 0
    recent: list[list[float]] = field(default_factory=list)
    disp: dict[str, list[float]] = field(default_factory=dict)
    disp_at: dict[str, int] = field(default_factory=dict)
    tests: list[float] = field(default_factory=lambda: [0.0, 0.0, 0])  # decayed windows, decayed ms, at


@dataclass(frozen=True)
class VolumeVerdict:
    score: float
    alert: bool
    p_value: float  # adjusted for the number of scales tested
    expected: float  # expected posts in the best block
    count: float  # posts in this window
    evidence: float = 0.0
    scale: int = 1  # windows
    onset_ms: int | None = None
    calm: bool = True
    block_count: float = 0.0
    scale_s: float = 60.0
    tested: int = 0
    warm: bool = False
    dispersion: float = 0.0


def _day(ms: float) -> int:
    return int((ms // DAY_MS + 3) % 7)  # 0 = Monday (1970-01-01 was a Thursday)


def rate(st: VolumeState) -> float:
    """Posts per ms (0 before any exposure)."""
    return st.a / st.t if st.t > 0 else 0.0


def factor(st: VolumeState, cfg: VolumeConfig, lam: float, ms: float) -> float:
    h, d = int(ms // HOUR_MS) % 24, _day(ms)
    a = cfg.season_prior
    fh = (st.hour_a[h] + a) / (lam * st.hour_t[h] + a)
    fd = (st.day_a[d] + a) / (lam * st.day_t[d] + a)
    return fh * fd


def expected(st: VolumeState, cfg: VolumeConfig, lo: float, hi: float) -> float:
    """∫ λ·f over [lo, hi), hour by hour."""
    lam = rate(st)
    if lam <= 0 or hi <= lo:
        return 0.0
    m, x = 0.0, lo
    while x < hi:
        nxt = min(hi, (x // HOUR_MS + 1) * HOUR_MS)
        m += lam * factor(st, cfg, lam, x) * (nxt - x)
        x = nxt
    return m


def _spread(st: VolumeState, lo: float, hi: float, weight: float, count: float = 0.0,
            hour_f: list[float] | None = None) -> None:
    """Add the decayed exposure of [lo, hi) (`weight` per ms) and its `count` posts (in proportion to time) to the
    hour-of-day and weekday buckets: O(1) in the span's length (whole weeks at once, then at most a week hour by
    hour). The weekday buckets get exposure weighted by the hour-of-day factor (`hour_f`), so a weekday seen only
    at night does not learn "night" a second time (the two profiles are fitted jointly, not as two marginals)."""
    span = hi - lo
    if span <= 0:
        return
    hf = hour_f or [1.0] * 24
    per_ms = count / span
    weeks = int(span // WEEK_MS)
    if weeks:
        for i in range(24):
            st.hour_t[i] += weeks * 7 * HOUR_MS * weight
            st.hour_a[i] += weeks * 7 * HOUR_MS * per_ms
        for i in range(7):
            st.day_t[i] += weeks * HOUR_MS * sum(hf) * weight
            st.day_a[i] += weeks * DAY_MS * per_ms
        lo += weeks * WEEK_MS
    x = lo
    while x < hi:
        nxt = min(hi, (x // HOUR_MS + 1) * HOUR_MS)
        h, d = int(x // HOUR_MS) % 24, _day(x)
        st.hour_t[h] += (nxt - x) * weight
        st.day_t[d] += (nxt - x) * weight * hf[h]
        st.hour_a[h] += (nxt - x) * per_ms
        st.day_a[d] += (nxt - x) * per_ms
        x = nxt


def _fold_span(st: VolumeState, lo: float, hi: float, count: float, cfg: VolumeConfig) -> None:
    """Fold [lo, hi) holding `count` posts (at its start) into the baseline, decayed to hi."""
    if hi <= lo:
        return
    hl = cfg.half_life_s * 1000
    d = decay(hi - st.folded_ms, hl) if st.folded_ms else 1.0
    # decayed exposure of the span itself: ∫ 0.5^((hi − x)/hl) dx, spread in proportion over its hours
    eff = hl / math.log(2) * (1 - decay(hi - lo, hl))
    lam = rate(st)
    hour_f = [(st.hour_a[i] + cfg.season_prior) / (lam * st.hour_t[i] + cfg.season_prior) for i in range(24)] \
        if lam > 0 else None
    st.a, st.t = st.a * d + count, st.t * d + eff
    for arr in (st.hour_a, st.hour_t, st.day_a, st.day_t):
        for i in range(len(arr)):
            arr[i] *= d
    _spread(st, lo, hi, eff / (hi - lo), count, hour_f)
    st.folded_ms = int(max(st.folded_ms, hi))


def _fold(st: VolumeState, e: list[float], cfg: VolumeConfig) -> None:
    """An entry is learnt (`learn_after_s` after it ended, or at once in the warm-up): the quiet time before it is
    exposure with zero posts, then the entry itself (winsorised if an alert covered it)."""
    if e[FLAG] in (2, 3):
        return
    if st.folded_ms and e[START] > st.folded_ms:
        _fold_span(st, st.folded_ms, e[START], 0.0, cfg)
    lo = max(e[START], st.folded_ms) if st.folded_ms else e[START]
    count = e[4]
    if e[FLAG] == 1:  # covered by an alert: learnt winsorised at min_ratio x its expectation (a regime change
        # still moves the baseline, slowly; an incident cannot teach it "normal")
        count = min(count, cfg.min_ratio * expected(st, cfg, e[START], e[END]))
    _fold_span(st, lo, e[END], count, cfg)
    st.folded_ms = int(max(st.folded_ms, e[END]))
    e[FLAG] = 2 if e[FLAG] == 0 else 3


def phi(st: VolumeState, cfg: VolumeConfig, scale: int) -> float:
    d = st.disp.get(str(scale))
    return Dispersion.value(d or [0.0, 0.0, 0], cfg.dispersion, cfg.dispersion_weight, 0.01, 50.0)


def _count(st: VolumeState, lo: float, hi: float, stop_at_cover: bool) -> tuple[float, int, bool]:
    entries, start, covered = select(st.recent, lo, hi, stop_at_cover)
    return sum(e[4] for e in entries), start, covered


def _logsf(c: float, m: float, ph: float) -> float:
    m = max(m, 1e-3)
    return negbin_logsf(c, m, 1.0 / ph) if c > m else 0.0


def _learn_dispersion(st: VolumeState, cfg: VolumeConfig, start_ms: int, scales: tuple[int, ...]) -> None:
    for s in scales:
        idx = start_ms // s
        key = str(s)
        if st.disp_at.get(key, -1) >= idx:
            continue
        st.disp_at[key] = idx
        lo = start_ms - s
        if st.first_ms is None or lo < st.first_ms + cfg.warmup_s * 1000 or rate(st) <= 0:
            continue
        c, _, covered = _count(st, lo, start_ms, stop_at_cover=False)
        m = expected(st, cfg, lo, start_ms)
        if covered or m <= 0:
            continue
        Dispersion.update(st.disp.setdefault(key, [0.0, 0.0, 0]), (c - m) ** 2 - m, m * m, start_ms,
                          cfg.dispersion_half_life_s * 1000)


def observe_count(st: VolumeState, ts_ms: int, count: float, cfg: VolumeConfig, size_ms: int = 60_000
                  ) -> VolumeVerdict:
    """Judge one closed window [ts_ms, ts_ms + size_ms) holding `count` posts, then advance the state."""
    end = ts_ms + size_ms
    count = max(0.0, float(count))
    scales = scales_ms(cfg.scales_s, size_ms)
    if st.tests[2] and ts_ms - st.tests[2] > 4 * cfg.half_life_s * 1000:
        # quiet for over four half-lives (or one stray post stamped decades ago): the old rate is stale, and its
        # quiet time would make the next post look like an infinite burst; the topic starts afresh (warm-up again)
        fresh = VolumeState()
        for f in fields(VolumeState):
            setattr(st, f.name, getattr(fresh, f.name))
    if st.first_ms is None:
        st.first_ms = ts_ms
        st.folded_ms = ts_ms
    learn = end - cfg.learn_after_s * 1000
    for e in st.recent:  # entries old enough and not covered join the baseline, with the quiet time before them
        if e[END] > learn:
            break
        _fold(st, e, cfg)
    horizon = end - max(scales) - size_ms
    while st.recent and st.recent[0][START] < horizon:
        _fold(st, st.recent.pop(0), cfg)
    # quiet time older than `learn_after_s` before the first entry not yet learnt is known to be zero posts: fold
    # it now (a long quiet gap lowers the expectation of the window that ends it)
    pending = [e[START] for e in st.recent if e[FLAG] in (0, 1)]
    quiet_until = min(learn, pending[0] if pending else learn)
    if st.folded_ms and quiet_until > st.folded_ms:
        _fold_span(st, st.folded_ms, quiet_until, 0.0, cfg)
    warm = ts_ms - st.first_ms >= cfg.warmup_s * 1000 and st.t > 0
    _learn_dispersion(st, cfg, ts_ms, scales)
    entry = append(st.recent, ts_ms, end, count, 0.0, count)
    if not warm:
        _fold(st, entry, cfg)
    single_m = expected(st, cfg, ts_ms, end)
    single = _logsf(count, single_m, phi(st, cfg, size_ms))
    best = (0.0, size_ms, 0.0, single_m, ts_ms, phi(st, cfg, size_ms))
    tested = 0
    for s in scales:
        c, bstart, _ = _count(st, end - s, end + 1, stop_at_cover=True)
        if c < cfg.min_count:
            continue
        tested += 1
        m = expected(st, cfg, bstart, end)
        ph = phi(st, cfg, s)
        lp = _logsf(c, m, ph)
        if lp < best[0] and c >= cfg.min_ratio * m:
            best = (lp, s, c, m, bstart, ph)
    logp, scale, c_best, m_best, bstart, ph = best
    scale = min(scale, end - bstart)  # a block cut short by an earlier alert
    adj = min(0.0, logp + math.log(max(1, tested)))
    tpw = tests_per_week(st.tests, end, size_ms)
    alert = warm and c_best >= cfg.min_count and adj <= math.log(cfg.threshold(size_ms, tpw))
    if alert:
        cover(st.recent, bstart)
    coarsen(st.recent, end)
    st.windows += 1
    digits = evidence(adj)
    return VolumeVerdict(score=score_from_evidence(digits) if warm else 0.0, alert=alert, p_value=math.exp(adj),
                         expected=m_best, count=count, evidence=round(digits, 4), scale=max(1, scale // size_ms),
                         onset_ms=bstart, calm=single > math.log(cfg.calm_p), block_count=c_best,
                         scale_s=scale / 1000, tested=tested, warm=warm, dispersion=round(ph, 6))
