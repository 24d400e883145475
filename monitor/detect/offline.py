"""`monitor detect`: the live detector cores run offline over a CSV series (same code, same decisions).

--kind counts: `timestamp,value` (NAB) -> `timestamp,value,anomaly_score,evidence,alert`
--kind rate:   `timestamp,n,negatives` -> `timestamp,n,negatives,anomaly_score,evidence,scale_windows,alert`
`alert` is 1 on the window where an incident starts firing (one per incident, after lifecycle hysteresis and
cooldown), else 0. `evidence` is −log10 of the scale-adjusted tail probability (decimal digits); `anomaly_score`
is that evidence mapped to [0, 1) where it sets a new high over the last day of windows (`Novelty`), else 0, so a
threshold on it (NAB's optimiser) marks incident onsets rather than every window of an incident. Timestamps are copied unchanged; they are parsed as ISO 8601 or epoch seconds.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from monitor.detect.lifecycle import LifecycleConfig, LifecycleState, step
from monitor.detect.rate import RateConfig, RateState, observe
from monitor.detect.stats import score_from_evidence
from monitor.detect.volume import VolumeConfig, VolumeState, observe_count

VOLUME_LIFECYCLE = LifecycleConfig(cooldown_ms=24 * 3_600_000)  # one incident a day per topic for volume
NOVELTY_WINDOWS = 288  # one day of 5-minute windows


def parse_ts_ms(ts: str) -> int:
    s = ts.strip()
    try:
        return int(float(s) * 1000)
    except ValueError:
        pass
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


class Novelty:
    """anomaly_score for a series: the detector's evidence where it sets a new high over the last `horizon`
    windows, else 0. The evidence itself stays high for as long as an incident lasts; a threshold on it would
    re-detect the same incident on every window (NAB counts each as a false positive outside the labelled window).
    Monotone in evidence, never saturated (see stats.score_from_evidence)."""

    def __init__(self, horizon: int = 288) -> None:
        self.recent: deque[float] = deque(maxlen=horizon)

    def __call__(self, digits: float) -> float:
        new = digits > 0 and all(digits > x for x in self.recent)
        self.recent.append(digits)
        return score_from_evidence(digits) if new else 0.0


def step_ms(rows: list[dict[str, str]]) -> int:
    """The series' window: the median gap between consecutive timestamps (60 s when it cannot be told)."""
    ts = [parse_ts_ms(r["timestamp"]) for r in rows[:1001]]
    gaps = sorted(b - a for a, b in zip(ts, ts[1:], strict=False) if b > a)
    return gaps[len(gaps) // 2] if gaps else 60_000


def detect_counts(rows: Iterable[dict[str, str]], cfg: VolumeConfig | None = None,
                  life: LifecycleConfig | None = None, novelty_windows: int = NOVELTY_WINDOWS) -> list[dict[str, str]]:
    cfg, life = cfg or VolumeConfig(), life or VOLUME_LIFECYCLE
    st, ls, novelty = VolumeState(), LifecycleState(), Novelty(novelty_windows)
    rows = list(rows)
    size = step_ms(rows)
    out = []
    for r in rows:
        ts = parse_ts_ms(r["timestamp"])
        v = observe_count(st, ts, float(r["value"]), cfg, size_ms=size)
        change = step(ls, ts, v.alert, v.score, v.count, life, elevated=not v.calm)
        # an incident's later windows (evidence growing at longer scales) are not new onsets
        score = novelty(v.evidence if v.warm and (change == "firing" or not ls.firing) else 0.0)
        out.append({"timestamp": r["timestamp"], "value": r["value"], "anomaly_score": f"{score:.8f}",
                    "evidence": f"{v.evidence:.4f}", "alert": "1" if change == "firing" else "0"})
    return out


def detect_rate(rows: Iterable[dict[str, str]], cfg: RateConfig | None = None,
                life: LifecycleConfig | None = None, novelty_windows: int = NOVELTY_WINDOWS) -> list[dict[str, str]]:
    cfg, life = cfg or RateConfig(), life or LifecycleConfig()
    st, ls, novelty = RateState(), LifecycleState(), Novelty(novelty_windows)
    rows = list(rows)
    size = step_ms(rows)
    out = []
    for r in rows:
        ts = parse_ts_ms(r["timestamp"])
        v = observe(st, ts, int(float(r["n"])), int(float(r["negatives"])), cfg, size_ms=size)
        change = step(ls, ts, v.alert, v.score, v.rate, life, elevated=not v.calm)
        score = novelty(v.evidence if v.warm and (change == "firing" or not ls.firing) else 0.0)
        out.append({"timestamp": r["timestamp"], "n": r["n"], "negatives": r["negatives"],
                    "anomaly_score": f"{score:.8f}", "evidence": f"{v.evidence:.4f}",
                    "scale_windows": str(v.scale), "alert": "1" if change == "firing" else "0"})
    return out


def run_file(inp: Path, out: Path, kind: str) -> int:
    with open(inp, newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"counts": {"timestamp", "value"}, "rate": {"timestamp", "n", "negatives"}}[kind]
    if rows and not need <= set(rows[0]):
        raise ValueError(f"{inp}: --kind {kind} needs columns {sorted(need)}, got {sorted(rows[0])}")
    result = detect_counts(rows) if kind == "counts" else detect_rate(rows)
    with open(out, "w", newline="") as fh:
        fields = ["timestamp", "value"] if kind == "counts" else ["timestamp", "n", "negatives"]
        extra = ["evidence"] if kind == "counts" else ["evidence", "scale_windows"]
        w = csv.DictWriter(fh, fieldnames=[*fields, "anomaly_score", *extra, "alert"])
        w.writeheader()
        w.writerows(result)
    return sum(r["alert"] == "1" for r in result)
