"""Count-aware negative-rate spike detector per topic, evidence accumulated across windows (pure; window times are
inputs, never the clock).

For each closed window of a topic:
  baseline p0 = exponentially weighted k/n of earlier *normal* windows (half-life `half_life_windows`), blended with
                the same statistic for the window's hour of day once that hour has enough history (daily rhythm).
                A window joins the baseline only when it leaves the scan buffer (the last max(scales) windows) and no
                alert covered it, so neither a sharp incident nor the first windows of a slow one teach it "normal"
                (warm-up windows, when no alert can fire, are learnt at once);
  scan        for every scale L in `scales` (default 1, 3, 6, 12 windows): K, N = negatives and posts of the last L
                windows; p_L = P(K' >= K) under a beta-binomial(N, p0·m, (1−p0)·m). The whole block shares one draw of
                the over-dispersed rate, so a long block is no more certain than a short one about *drift*, only
                about sampling noise: that is where low-volume topics gain power;
                Blocks stop at a window an alert already covered: a new alert needs new evidence;
  evidence    = −log10(min_L p_L · len(scales))  (Bonferroni over the scales), in decimal digits;
  score       = evidence / (evidence + 10): monotone in evidence, never saturated (1e-10 -> 0.5, 1e-30 -> 0.75);
  decision    = warm and N >= min_posts and adjusted p <= p_threshold and K/N >= min_ratio·p0 at the best scale.
The verdict says which scale fired, the block's start (the estimated onset) and a confidence: "low" when the block
holds fewer than `low_confidence_posts` posts (a handful of posts can only show a very large shift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from monitor.detect.stats import betabinom_logsf, evidence, score_from_evidence


@dataclass(frozen=True)
class RateConfig:
    half_life_windows: float = 240.0
    warmup_windows: int = 30
    min_posts: int = 10  # posts in the firing block
    p_threshold: float = 5e-4  # on the scale-adjusted p-value (chosen on the simulator's dev seeds 1-2)
    min_ratio: float = 1.3
    overdispersion: float = 200.0  # beta prior strength m: smaller = more tolerant of natural variation
    prior_rate: float = 0.25
    prior_weight: float = 20.0  # pseudo-posts at prior_rate before any data
    hour_min_posts: float = 200.0  # weighted posts in an hour-of-day bucket before its rhythm is used
    scales: tuple[int, ...] = (1, 3, 6, 12)
    low_confidence_posts: int = 30


@dataclass
class RateState:
    k: float = 0.0
    n: float = 0.0
    windows: int = 0
    hour_k: dict[int, float] = field(default_factory=dict)
    hour_n: dict[int, float] = field(default_factory=dict)
    # scan buffer, oldest first: [start_ms, n, k, hour, covered_by_alert (or already folded: 2)]
    recent: list[list[int]] = field(default_factory=list)


@dataclass(frozen=True)
class RateVerdict:
    score: float
    alert: bool
    p_value: float  # adjusted for the number of scales
    baseline: float
    rate: float  # this window's negative share
    n: int
    k: int
    evidence: float = 0.0  # decimal digits, −log10(p_value)
    scale: int = 1  # windows in the block with the strongest evidence
    onset_ms: int | None = None  # start of that block: the estimated onset
    block_n: int = 0
    block_k: int = 0
    calm: bool = True  # this window alone shows no evidence (p > 0.01): the lifecycle's resolve signal
    confidence: str = "high"


def baseline_rate(st: RateState, cfg: RateConfig, hour: int | None) -> float:
    p = (st.k + cfg.prior_rate * cfg.prior_weight) / (st.n + cfg.prior_weight)
    if hour is not None and st.hour_n.get(hour, 0.0) >= cfg.hour_min_posts:
        w = st.hour_n[hour] / (st.hour_n[hour] + cfg.hour_min_posts)
        p = (1 - w) * p + w * st.hour_k[hour] / st.hour_n[hour]
    return min(max(p, 1e-4), 0.999)


def _block_logsf(k: int, n: int, p0: float, cfg: RateConfig) -> float:
    if n <= 0 or k <= n * p0:  # only the upper tail matters
        return 0.0
    return betabinom_logsf(k, n, p0 * cfg.overdispersion, (1 - p0) * cfg.overdispersion)


def _fold(st: RateState, entry: list[int], cfg: RateConfig) -> None:
    _, n, k, hour, covered = entry
    if covered or n <= 0:
        return
    decay = math.pow(0.5, 1.0 / cfg.half_life_windows)
    st.k, st.n = st.k * decay + k, st.n * decay + n
    st.hour_k[hour] = st.hour_k.get(hour, 0.0) * decay + k
    st.hour_n[hour] = st.hour_n.get(hour, 0.0) * decay + n


def scan(st: RateState, p0: float, cfg: RateConfig) -> tuple[float, int, int, int, float]:
    """(best log p, its scale, block n, block k, this window's log p) over the scan buffer (newest last)."""
    best = (0.0, 1, 0, 0)
    single = 0.0
    k_sum = n_sum = 0
    scales = set(cfg.scales)
    for length, entry in enumerate(reversed(st.recent), start=1):
        if entry[4] == 1:  # evidence already used by an alert: a new incident needs new windows
            break
        n_sum += entry[1]
        k_sum += entry[2]
        if length not in scales:
            continue
        lp = _block_logsf(k_sum, n_sum, p0, cfg)
        if length == 1:
            single = lp
        if lp < best[0] and n_sum >= cfg.min_posts and k_sum >= cfg.min_ratio * p0 * n_sum:
            best = (lp, length, n_sum, k_sum)
    return best[0], best[1], best[2], best[3], single


def observe(st: RateState, start_ms: int, n: int, k: int, cfg: RateConfig) -> RateVerdict:
    """Judge one closed window (and the blocks it ends), then advance the scan buffer. Mutates st."""
    hour = (start_ms // 3_600_000) % 24
    p0 = baseline_rate(st, cfg, hour)
    st.recent.append([start_ms, n, k, hour, 0])
    if st.windows < cfg.warmup_windows:  # warming up (no alert possible): learn at once, not a buffer later
        _fold(st, st.recent[-1], cfg)
        st.recent[-1][4] = 2
    logp, scale, bn, bk, single = scan(st, p0, cfg)
    adj_logp = min(0.0, logp + math.log(len(cfg.scales)))
    pval = math.exp(adj_logp)
    digits = evidence(adj_logp)
    warm = st.windows >= cfg.warmup_windows
    alert = warm and bn >= cfg.min_posts and adj_logp <= math.log(cfg.p_threshold)
    if alert:
        for entry in st.recent[-scale:]:
            entry[4] = 1
    while len(st.recent) > max(cfg.scales):
        _fold(st, st.recent.pop(0), cfg)
    st.windows += 1
    onset = st.recent[-scale][0] if bn else None
    return RateVerdict(score=score_from_evidence(digits), alert=alert, p_value=pval, baseline=p0,
                       rate=k / n if n else 0.0, n=n, k=k, evidence=round(digits, 4), scale=scale, onset_ms=onset,
                       block_n=bn, block_k=bk, calm=single > math.log(0.01) or n == 0,
                       confidence="low" if bn < cfg.low_confidence_posts else "high")


def min_detectable_ratio(p0: float, posts_per_window: float, windows: int, cfg: RateConfig) -> float:
    """Smallest multiple of p0 that a block of `windows` windows at this volume can show at p_threshold (for the
    README and the alert's confidence note): below this, a shift is statistically invisible."""
    n = int(round(posts_per_window * windows))
    if n <= 0:
        return math.inf
    target = math.log(cfg.p_threshold) - math.log(len(cfg.scales))
    for k in range(int(n * p0) + 1, n + 1):
        if _block_logsf(k, n, p0, cfg) <= target:
            return k / n / p0
    return math.inf

