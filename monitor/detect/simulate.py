"""Negative-rate simulator for the rate detector: Poisson volumes with a daily rhythm, binomial negatives,
injected spikes of several sizes and durations, topics of very different volume. Seeded; pure.

Reports recall on spikes (detected = the incident fires within `max_delay` windows of the spike start),
false alarms per topic-day (firings that start outside any spike), and detection delay in windows.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from monitor.detect.lifecycle import LifecycleConfig, LifecycleState, step
from monitor.detect.rate import RateConfig, RateState, observe

MIN = 60_000


@dataclass(frozen=True)
class SimConfig:
    days: float = 3.0
    seed: int = 17
    volumes: tuple[float, ...] = (3.0, 15.0, 60.0, 250.0)  # mean posts per 1-minute window
    base_rates: tuple[float, ...] = (0.15, 0.25, 0.35)
    multipliers: tuple[float, ...] = (1.5, 2.0, 3.0)
    durations: tuple[int, ...] = (1, 3, 6, 15)
    spikes_per_topic_day: float = 4.0
    max_delay: int = 2


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, threshold = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


def simulate(cfg: SimConfig | None = None, rate_cfg: RateConfig | None = None,
             life: LifecycleConfig | None = None) -> dict[str, Any]:
    cfg, rate_cfg, life = cfg or SimConfig(), rate_cfg or RateConfig(), life or LifecycleConfig()
    rng = random.Random(cfg.seed)
    n_windows = int(cfg.days * 1440)
    spikes_all: list[dict[str, Any]] = []
    false_alarms = 0
    topic_days = 0.0
    for vol in cfg.volumes:
        for base in cfg.base_rates:
            topic_days += cfg.days
            spikes = []
            t = 120 + rng.randrange(60)  # after warm-up
            while t < n_windows - 20:
                spikes.append({"start": t, "duration": rng.choice(cfg.durations), "mult": rng.choice(cfg.multipliers),
                               "volume": vol, "base": base, "fired_at": None})
                t += int(rng.expovariate(cfg.spikes_per_topic_day / 1440)) + 60
            st, ls = RateState(), LifecycleState()
            active = {}
            for s in spikes:
                for w in range(s["start"], s["start"] + s["duration"]):
                    active[w] = s
            for w in range(n_windows):
                rhythm = 1.0 + 0.6 * math.sin(2 * math.pi * (w % 1440) / 1440)
                n = _poisson(rng, vol * rhythm)
                s = active.get(w)
                p = min(0.95, base * s["mult"]) if s else base
                k = sum(rng.random() < p for _ in range(n))
                v = observe(st, w * MIN, n, k, rate_cfg)
                if step(ls, w * MIN, v.alert, v.score, v.rate, life) == "firing":
                    hit = next((x for x in spikes if x["start"] <= w <= x["start"] + x["duration"] + 1), None)
                    if hit is None:
                        false_alarms += 1
                    elif hit["fired_at"] is None:
                        hit["fired_at"] = w
            spikes_all.extend(spikes)

    def summarise(group: list[dict[str, Any]]) -> dict[str, Any]:
        delays = [s["fired_at"] - s["start"] for s in group if s["fired_at"] is not None]
        timely = [d for d in delays if d <= cfg.max_delay]
        return {"spikes": len(group), "detected": len(delays),
                "recall_within_delay": round(len(timely) / len(group), 4) if group else None,
                "mean_delay_windows": round(sum(delays) / len(delays), 2) if delays else None}

    target = [s for s in spikes_all if s["mult"] >= 2.0 and s["duration"] >= 3]
    by = {f"x{m}_d{d}": summarise([s for s in spikes_all if s["mult"] == m and s["duration"] == d])
          for m in cfg.multipliers for d in cfg.durations}
    by_volume = {f"vol{v:g}": summarise([s for s in target if s["volume"] == v]) for v in cfg.volumes}
    return {"topic_days": topic_days, "windows_per_topic": n_windows,
            "target_spikes_ge2x_ge3windows": summarise(target),
            "false_alarms": false_alarms, "false_alarms_per_topic_day": round(false_alarms / topic_days, 4),
            "false_alarms_per_topic_week": round(7 * false_alarms / topic_days, 4),
            "by_size_duration": by, "target_by_volume": by_volume}
