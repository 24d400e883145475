"""Count-aware negative-rate spike detector per topic (pure; window times are inputs, never the clock).

For each closed window (start, n posts, k negative) of a topic:
  baseline p0 = exponentially weighted k/n of earlier *non-anomalous* windows (half-life `half_life_windows`),
  blended with the same statistic for the window's hour of day once that hour has enough history (daily rhythm);
  evidence   = P(K >= k) under a beta-binomial(n, p0·m, (1−p0)·m) — over-dispersed, so a 2-of-3 window is no evidence;
  score      = 1 − P, in [0, 1];
  decision   = warm (>= warmup windows seen) and n >= min_posts and P <= p_threshold and k/n >= min_ratio·p0.
Windows judged anomalous do not update the baseline, so a long incident does not become the new normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from monitor.detect.stats import betabinom_sf


@dataclass(frozen=True)
class RateConfig:
    half_life_windows: float = 240.0
    warmup_windows: int = 30
    min_posts: int = 10
    p_threshold: float = 1e-4
    min_ratio: float = 1.5
    overdispersion: float = 200.0  # beta prior strength m: smaller = more tolerant of natural variation
    prior_rate: float = 0.25
    prior_weight: float = 20.0  # pseudo-posts at prior_rate before any data
    hour_min_posts: float = 200.0  # weighted posts in an hour-of-day bucket before its rhythm is used


@dataclass
class RateState:
    k: float = 0.0
    n: float = 0.0
    windows: int = 0
    hour_k: dict[int, float] = field(default_factory=dict)
    hour_n: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RateVerdict:
    score: float
    alert: bool
    p_value: float
    baseline: float
    rate: float
    n: int
    k: int


def baseline_rate(st: RateState, cfg: RateConfig, hour: int | None) -> float:
    p = (st.k + cfg.prior_rate * cfg.prior_weight) / (st.n + cfg.prior_weight)
    if hour is not None and st.hour_n.get(hour, 0.0) >= cfg.hour_min_posts:
        w = st.hour_n[hour] / (st.hour_n[hour] + cfg.hour_min_posts)
        p = (1 - w) * p + w * st.hour_k[hour] / st.hour_n[hour]
    return min(max(p, 1e-4), 0.999)


def observe(st: RateState, start_ms: int, n: int, k: int, cfg: RateConfig) -> RateVerdict:
    """Judge one closed window, then (if it was normal) fold it into the baseline. Mutates st."""
    hour = (start_ms // 3_600_000) % 24
    p0 = baseline_rate(st, cfg, hour)
    rate = k / n if n else 0.0
    if n > 0 and rate > p0:  # only the upper tail matters; at or below baseline there is no evidence
        pval = betabinom_sf(k, n, p0 * cfg.overdispersion, (1 - p0) * cfg.overdispersion)
    else:
        pval = 1.0
    warm = st.windows >= cfg.warmup_windows
    alert = warm and n >= cfg.min_posts and pval <= cfg.p_threshold and rate >= cfg.min_ratio * p0
    score = 1.0 - pval if n > 0 and rate > p0 else 0.0
    if not alert and n > 0:
        decay = math.pow(0.5, 1.0 / cfg.half_life_windows)
        st.k, st.n = st.k * decay + k, st.n * decay + n
        st.hour_k[hour] = st.hour_k.get(hour, 0.0) * decay + k
        st.hour_n[hour] = st.hour_n.get(hour, 0.0) * decay + n
    st.windows += 1
    return RateVerdict(score=score, alert=alert, p_value=pval, baseline=p0, rate=rate, n=n, k=k)
