"""Volume (mention-count) spike detector per topic, evidence accumulated across windows (pure; timestamps are
inputs). Counts may be any non-negative number (a million mentions, a float): the tails come from SciPy in O(1).

Baseline: exponentially weighted mean of earlier *normal* counts (half-life in windows), blended with the
hour-of-day mean once that hour has history (daily rhythm); the spread is the weighted mean squared residual
around that expectation, so the daily rhythm itself is not mistaken for noise. A window joins the baseline only
when it leaves the scan buffer and no alert covered it.
Scan: for every scale L in `scales`, C = counts of the last L windows, M = their expectations; p_L = P(X >= C) for a
negative binomial with mean M and the single-window dispersion (a drift in the level is shared by the whole block,
so a long block is not more certain about it). Evidence = −log10(min_L p_L · len(scales)); score =
evidence / (evidence + 10); alert when warm, C >= min_count, adjusted p <= p_threshold and C >= min_ratio·M.
The scan is there for slow-building surges; the default is one window (see `VolumeConfig.scales`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from monitor.detect.stats import evidence, negbin_logsf, score_from_evidence


@dataclass(frozen=True)
class VolumeConfig:
    half_life_windows: float = 2016.0  # one week of 5-minute windows
    warmup_windows: int = 50
    p_threshold: float = 1e-5
    min_ratio: float = 2.0
    min_count: int = 5
    hour_min_windows: float = 6.0
    # one window by default: on NAB realTweets the (1, 3, 6, 12) scan scored 27 vs 59 for one window (NAB
    # standard, same novelty scoring; docs/results/nab.json) - mention bursts are sharp, and slow level changes
    # of a busy topic are not incidents
    scales: tuple[int, ...] = (1,)


@dataclass
class VolumeState:
    w: float = 0.0
    mean: float = 0.0
    var: float = 0.0
    windows: int = 0
    hour_w: dict[int, float] = field(default_factory=dict)
    hour_mean: dict[int, float] = field(default_factory=dict)
    # scan buffer, oldest first: [ts_ms, count, expected, covered_by_alert (or already folded: 2)]
    recent: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class VolumeVerdict:
    score: float
    alert: bool
    p_value: float  # adjusted for the number of scales
    expected: float
    count: float
    evidence: float = 0.0
    scale: int = 1
    onset_ms: int | None = None
    calm: bool = True


def expected_count(st: VolumeState, cfg: VolumeConfig, hour: int) -> float:
    m = st.mean
    hw = st.hour_w.get(hour, 0.0)
    if hw >= cfg.hour_min_windows:
        a = hw / (hw + cfg.hour_min_windows)
        m = (1 - a) * m + a * st.hour_mean[hour]
    return max(m, 0.5)


def dispersion(st: VolumeState, mu: float) -> float:
    """Negative-binomial size for a window expected at mu (Poisson-like when the spread is not above the mean)."""
    var = max(st.var, mu)
    return max(mu * mu / (var - mu), 0.5) if var > mu * 1.01 else 1e6


def _fold(st: VolumeState, entry: list[float], cfg: VolumeConfig) -> None:
    ts, count, mu, covered = entry
    if covered:
        return
    hour = (int(ts) // 3_600_000) % 24
    decay = math.pow(0.5, 1.0 / cfg.half_life_windows)
    st.w = st.w * decay + 1.0
    a = 1.0 / st.w
    st.mean += a * (count - st.mean)
    resid = count - mu if st.w > 1.5 else 0.0
    st.var = (1 - a) * st.var + a * resid * resid
    # an hour-of-day bucket is updated on 1 window in 24 hours' worth: it forgets on the same time scale as the mean
    hw = st.hour_w.get(hour, 0.0) * math.pow(0.5, 24.0 / cfg.half_life_windows) + 1.0
    st.hour_w[hour] = hw
    st.hour_mean[hour] = st.hour_mean.get(hour, count) + (count - st.hour_mean.get(hour, count)) / hw


def observe_count(st: VolumeState, ts_ms: int, count: float, cfg: VolumeConfig) -> VolumeVerdict:
    hour = (ts_ms // 3_600_000) % 24
    mu = expected_count(st, cfg, hour)
    size = dispersion(st, mu)
    count = max(0.0, float(count))
    st.recent.append([ts_ms, count, mu, 0])
    if st.windows < cfg.warmup_windows:  # warming up (no alert possible): learn at once, not a buffer later
        _fold(st, st.recent[-1], cfg)
        st.recent[-1][3] = 2
    best, scale, c_best = 0.0, 1, 0.0
    single = 0.0
    c_sum = m_sum = 0.0
    for length, entry in enumerate(reversed(st.recent), start=1):
        if entry[3] == 1:  # evidence already used by an alert: a new incident needs new windows
            break
        c_sum += entry[1]
        m_sum += entry[2]
        if length not in cfg.scales:
            continue
        lp = negbin_logsf(c_sum, m_sum, size) if c_sum > m_sum else 0.0
        if length == 1:
            single = lp
        if lp < best and c_sum >= cfg.min_ratio * m_sum:
            best, scale, c_best = lp, length, c_sum
    adj = min(0.0, best + math.log(len(cfg.scales)))
    warm = st.windows >= cfg.warmup_windows
    alert = warm and c_best >= cfg.min_count and adj <= math.log(cfg.p_threshold)
    if alert:
        for entry in st.recent[-scale:]:
            entry[3] = 1
    while len(st.recent) > max(cfg.scales):
        _fold(st, st.recent.pop(0), cfg)
    st.windows += 1
    digits = evidence(adj)
    return VolumeVerdict(score=score_from_evidence(digits) if warm else 0.0, alert=alert, p_value=math.exp(adj),
                         expected=mu, count=count, evidence=round(digits, 4), scale=scale,
                         onset_ms=int(st.recent[-scale][0]), calm=single > math.log(0.01))
