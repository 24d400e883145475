"""Volume (mention-count) spike detector per topic (pure; timestamps are inputs).

Baseline: exponentially weighted mean and variance of earlier non-anomalous counts (half-life in windows),
blended with the hour-of-day mean once that hour has history (daily rhythm). Evidence: negative-binomial
upper tail P(X >= count) with the dispersion estimated from the weighted variance (Poisson-like when the
variance is not above the mean). score = 1 − P; alert when warm, P <= p_threshold and count >= min_ratio·mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from monitor.detect.stats import negbin_sf


@dataclass(frozen=True)
class VolumeConfig:
    # defaults chosen by one 72-point grid on NAB realTweets (see README: optimistic, same data)
    half_life_windows: float = 2016.0  # one week of 5-minute windows
    warmup_windows: int = 50
    p_threshold: float = 1e-5
    min_ratio: float = 2.0
    min_count: int = 5
    hour_min_windows: float = 6.0


@dataclass
class VolumeState:
    w: float = 0.0
    mean: float = 0.0
    var: float = 0.0
    windows: int = 0
    hour_w: dict[int, float] = field(default_factory=dict)
    hour_mean: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeVerdict:
    score: float
    alert: bool
    p_value: float
    expected: float
    count: float


def expected_count(st: VolumeState, cfg: VolumeConfig, hour: int) -> float:
    m = st.mean
    hw = st.hour_w.get(hour, 0.0)
    if hw >= cfg.hour_min_windows:
        a = hw / (hw + cfg.hour_min_windows)
        m = (1 - a) * m + a * st.hour_mean[hour]
    return max(m, 0.5)


def observe_count(st: VolumeState, ts_ms: int, count: float, cfg: VolumeConfig) -> VolumeVerdict:
    hour = (ts_ms // 3_600_000) % 24
    mu = expected_count(st, cfg, hour)
    var = max(st.var, mu)
    size = mu * mu / (var - mu) if var > mu * 1.01 else 1e6
    c = int(round(count))
    pval = negbin_sf(c, mu, max(size, 0.5)) if c > mu else 1.0
    warm = st.windows >= cfg.warmup_windows
    alert = warm and c >= cfg.min_count and pval <= cfg.p_threshold and c >= cfg.min_ratio * mu
    score = (1.0 - pval) if warm else 0.0
    if not alert:
        decay = math.pow(0.5, 1.0 / cfg.half_life_windows)
        st.w = st.w * decay + 1.0
        a = 1.0 / st.w
        delta = count - st.mean
        st.mean += a * delta
        st.var = (1 - a) * (st.var + a * delta * delta)
        hw = st.hour_w.get(hour, 0.0) * decay + 1.0
        st.hour_w[hour] = hw
        st.hour_mean[hour] = st.hour_mean.get(hour, count) + (count - st.hour_mean.get(hour, count)) / hw
    st.windows += 1
    return VolumeVerdict(score=score, alert=alert, p_value=pval, expected=mu, count=count)
