"""Negative-rate simulator for the rate detector (`monitor eval rate-sim`). Seeded; pure (NumPy for the sampling).

Topics of very different volume (mean posts per 5-minute window: 10 … 800) with a daily rhythm in volume and in the
negative share, and *natural variation* that any real stream has: every window's share is a beta draw around a
slowly drifting level (logit AR(1), stationary sd `drift_sd`, correlation `drift_rho` per window) — a detector
that assumes pure binomial noise drowns in false alarms here. Spikes multiply the share by 1.5/2/3 for 1–12 windows.
The realistic profile (default) adds what real streams have: nights at a third of the peak volume, weekends at 0.6,
a slow multiplicative drift of the baseline share over days (sd 15 %, time constant 2 days), base shares 0.08–0.35.

Scoring: a spike is detected when its incident starts within its first `found_within` (3) windows (v2 profile: up to
`max_delay` windows after its last); the delay is counted in windows from the spike's first window. A firing that
matches no spike is a false alarm (one during a spike but too late to count is neither).
Reported per volume band and spike size: recall, median / p90 delay; false alarms per topic-week; the issue's target
group (≥ 2× for ≥ 3 windows at ≥ 10 posts/window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from statistics import median
from typing import Any

import numpy as np

from monitor.detect.lifecycle import LifecycleConfig, LifecycleState, step
from monitor.detect.rate import RateConfig, RateState, observe

MIN = 60_000


@dataclass(frozen=True)
class SimConfig:
    days: float = 7.0
    seed: int = 17
    window_min: int = 5
    volumes: tuple[float, ...] = (10.0, 25.0, 50.0, 120.0, 300.0, 800.0)  # mean posts per window
    base_rates: tuple[float, ...] = (0.08, 0.15, 0.25, 0.35)
    multipliers: tuple[float, ...] = (1.5, 2.0, 3.0)
    durations: tuple[int, ...] = (1, 3, 6, 12)
    spikes_per_topic_day: float = 3.0
    max_delay: int = 2
    jitter_strength: float = 800.0  # per-window beta strength around the drifting level (larger = calmer)
    drift_sd: float = 0.12  # stationary sd of the level on the logit scale
    drift_rho: float = 0.995  # per-window autocorrelation of the level
    rate_rhythm: float = 0.10  # daily swing of the logit level
    volume_rhythm: float = 0.6  # daily swing of the volume (fraction of the mean)
    warmup_days: float = 0.5  # no spikes before this (the detector's own warm-up)
    # the properties real streams have (issue 29): nights at about a third of the peak, weekends at 0.6, a slow
    # multiplicative drift of the baseline share over days (sd `share_drift`, time constant `share_drift_days`)
    realistic: bool = True
    night_floor: float = 1 / 3
    weekend: float = 0.6
    share_drift: float = 0.15  # relative sd of the baseline share's slow drift (about ±25 % within a week)
    share_drift_days: float = 2.0
    found_within: int | None = 3  # a spike counts as found only if its alert starts within its first N windows


@dataclass
class _Spike:
    start: int
    duration: int
    mult: float
    volume: float
    base: float
    fired_at: int | None = None
    onset_error: list[int] = field(default_factory=list)


def _topic_series(rng: np.random.Generator, cfg: SimConfig, vol: float, base: float, n_windows: int,
                  spikes: list[_Spike]) -> tuple[np.ndarray, np.ndarray]:
    w = np.arange(n_windows)
    per_day = 1440 // cfg.window_min
    phase = 2 * math.pi * (w % per_day) / per_day
    if cfg.realistic:  # trough at 04:00 at night_floor of the 16:00 peak, weekends lower; mean volume = vol
        shape = cfg.night_floor + (1 - cfg.night_floor) * (0.5 - 0.5 * np.cos(phase - 2 * math.pi * 4 / 24))
        day = (w // per_day + 3) % 7  # the series starts on a Thursday (epoch 0)
        shape = shape * np.where(day >= 5, cfg.weekend, 1.0)
        lam = vol * shape / shape.mean()
    else:
        lam = vol * (1.0 + cfg.volume_rhythm * np.sin(phase))
    n = rng.poisson(lam)
    drift = np.empty(n_windows)
    innov_sd = cfg.drift_sd * math.sqrt(1 - cfg.drift_rho ** 2)
    level = rng.normal(0, cfg.drift_sd)
    for i in range(n_windows):
        level = cfg.drift_rho * level + rng.normal(0, innov_sd)
        drift[i] = level
    logit = math.log(base / (1 - base)) + drift + cfg.rate_rhythm * np.sin(phase + 1.0)
    p = 1.0 / (1.0 + np.exp(-logit))
    if cfg.realistic:  # slow multiplicative drift of the baseline share over days
        rho = math.exp(-1.0 / (cfg.share_drift_days * per_day))
        slow, x = np.empty(n_windows), rng.normal(0, cfg.share_drift)
        eps = rng.normal(0, cfg.share_drift * math.sqrt(1 - rho * rho), n_windows)
        for i in range(n_windows):
            x = rho * x + eps[i]
            slow[i] = x
        p = np.clip(p * (1 + slow), 0.005, 0.95)
    for s in spikes:
        p[s.start:s.start + s.duration] = np.minimum(0.95, p[s.start:s.start + s.duration] * s.mult)
    m = cfg.jitter_strength
    p_w = rng.beta(p * m, (1 - p) * m)
    k = rng.binomial(n, p_w)
    return n, k


def _spikes(rng: np.random.Generator, cfg: SimConfig, vol: float, base: float, n_windows: int) -> list[_Spike]:
    per_day = 1440 // cfg.window_min
    out: list[_Spike] = []
    t = int(cfg.warmup_days * per_day) + int(rng.integers(0, per_day // 4))
    while t < n_windows - max(cfg.durations) - cfg.max_delay:
        out.append(_Spike(start=t, duration=int(rng.choice(cfg.durations)), mult=float(rng.choice(cfg.multipliers)),
                          volume=vol, base=base))
        t += out[-1].duration + 24 + int(rng.exponential(per_day / cfg.spikes_per_topic_day))
    return out


def _run_topic(rng: np.random.Generator, cfg: SimConfig, vol: float, base: float, rate_cfg: RateConfig,
               life: LifecycleConfig) -> tuple[list[_Spike], int]:
    n_windows = int(cfg.days * 1440 // cfg.window_min)
    spikes = _spikes(rng, cfg, vol, base, n_windows)
    n, k = _topic_series(rng, cfg, vol, base, n_windows, spikes)
    st, ls = RateState(), LifecycleState()
    false_alarms = 0
    wms = cfg.window_min * MIN
    for w in range(n_windows):
        v = observe(st, w * wms, int(n[w]), int(k[w]), rate_cfg, size_ms=wms)
        if step(ls, (w + 1) * wms, v.alert, v.score, v.rate, life, elevated=not v.calm) != "firing":
            continue
        hit = next((s for s in spikes if s.start <= w <= s.start + s.duration - 1 + cfg.max_delay), None)
        if hit is not None and cfg.found_within is not None and w > hit.start + cfg.found_within - 1:
            continue  # during the spike but too late to count as found (not a false alarm either)
        if hit is None:
            false_alarms += 1
        elif hit.fired_at is None:
            hit.fired_at = w
            if v.onset_ms is not None:
                hit.onset_error.append(v.onset_ms // wms - hit.start)
    return spikes, false_alarms


def _summary(group: list[_Spike]) -> dict[str, Any]:
    delays = sorted(s.fired_at - s.start for s in group if s.fired_at is not None)
    return {"spikes": len(group), "detected": len(delays),
            "recall": round(len(delays) / len(group), 4) if group else None,
            "median_delay_windows": median(delays) if delays else None,
            "p90_delay_windows": delays[min(len(delays) - 1, int(0.9 * len(delays)))] if delays else None}


def run(cfg: SimConfig, rate_cfg: RateConfig, life: LifecycleConfig | None = None
        ) -> tuple[list[_Spike], dict[str, int], float]:
    """One seed: (spikes with their detections, false alarms per volume band, topic-days)."""
    life = life or LifecycleConfig(cooldown_ms=2 * cfg.window_min * MIN)
    rng = np.random.default_rng(cfg.seed)
    spikes: list[_Spike] = []
    fa_by_volume: dict[str, int] = {}
    topic_days = 0.0
    for vol in cfg.volumes:
        for base in cfg.base_rates:
            s, fa = _run_topic(rng, cfg, vol, base, rate_cfg, life)
            spikes += s
            fa_by_volume[f"{vol:g}"] = fa_by_volume.get(f"{vol:g}", 0) + fa
            topic_days += cfg.days
    return spikes, fa_by_volume, topic_days


def report(cfg: SimConfig, rate_cfg: RateConfig, seeds: list[int],
           runs: list[tuple[list[_Spike], dict[str, int], float]]) -> dict[str, Any]:
    spikes = [s for r in runs for s in r[0]]
    topic_days = sum(r[2] for r in runs)
    fa_by_volume = {v: sum(r[1].get(v, 0) for r in runs) for v in runs[0][1]}
    false_alarms = sum(fa_by_volume.values())
    weeks_per_volume = topic_days / len(cfg.volumes) / 7
    target = [s for s in spikes if s.mult >= 2.0 and s.duration >= 3 and s.volume >= 10]
    onset_err = [e for s in spikes for e in s.onset_error]
    return {
        "config": {"days_per_seed": cfg.days, "seeds": seeds, "window_min": cfg.window_min,
                   "volumes": list(cfg.volumes), "base_rates": list(cfg.base_rates),
                   "multipliers": list(cfg.multipliers), "durations": list(cfg.durations),
                   "jitter_strength": cfg.jitter_strength, "drift_sd": cfg.drift_sd, "drift_rho": cfg.drift_rho,
                   "realistic": cfg.realistic, "night_floor": cfg.night_floor, "weekend": cfg.weekend,
                   "share_drift": cfg.share_drift, "share_drift_days": cfg.share_drift_days,
                   "found_within_windows": cfg.found_within,
                   "p_threshold": rate_cfg.p_threshold, "overdispersion": rate_cfg.overdispersion,
                   "min_ratio": rate_cfg.min_ratio, "scales_s": list(rate_cfg.scales_s)},
        "topic_weeks": round(topic_days / 7, 3),
        "spikes": len(spikes),
        "target_ge2x_ge3windows_ge10posts": _summary(target),
        "false_alarms": false_alarms,
        "false_alarms_per_topic_week": round(7 * false_alarms / topic_days, 4),
        "false_alarms_per_topic_week_by_volume": {v: round(fa / weeks_per_volume, 3) for v, fa in fa_by_volume.items()},
        "recall_by_volume_and_size": {
            f"{v:g}": {f"x{m:g}": _summary([s for s in spikes if s.volume == v and s.mult == m and s.duration >= 3])
                       for m in cfg.multipliers} for v in cfg.volumes},
        "recall_by_size_and_duration": {
            f"x{m:g}_d{d}": _summary([s for s in spikes if s.mult == m and s.duration == d])
            for m in cfg.multipliers for d in cfg.durations},
        "onset_error_windows_median": median(onset_err) if onset_err else None,
    }


def simulate(cfg: SimConfig | None = None, rate_cfg: RateConfig | None = None,
             life: LifecycleConfig | None = None) -> dict[str, Any]:
    cfg, rate_cfg = cfg or SimConfig(), rate_cfg or RateConfig()
    return report(cfg, rate_cfg, [cfg.seed], [run(cfg, rate_cfg, life)])


def simulate_seeds(cfg: SimConfig, seeds: list[int], rate_cfg: RateConfig | None = None,
                   progress: Any = None) -> dict[str, Any]:
    rate_cfg = rate_cfg or RateConfig()
    it = progress(seeds) if progress else seeds
    return report(cfg, rate_cfg, seeds, [run(replace(cfg, seed=s), rate_cfg) for s in it])


def plot(res: dict[str, Any], path: Any) -> None:
    """Recall by volume band for each spike size (spikes of >= 3 windows), with the false-alarm rate in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = res["recall_by_volume_and_size"]
    vols = list(table)
    sizes = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(sizes)
    for j, size in enumerate(sizes):
        ax.bar([i + j * width for i in range(len(vols))], [table[v][size]["recall"] or 0 for v in vols], width,
               label=f"{size} for >= 3 windows")
    ax.axhline(0.9, color="grey", ls="--", lw=1)
    ax.set_xticks([i + width * (len(sizes) - 1) / 2 for i in range(len(vols))], [f"{v}/window" for v in vols])
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"rate detector on the simulator ({res['topic_weeks']:g} topic-weeks): "
                 f"{res['false_alarms_per_topic_week']:g} false alarms per topic-week")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
