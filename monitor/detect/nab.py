"""NAB scoring, re-implemented from the NAB whitepaper and scorer docs, with NAB's threshold optimisation.

Per series: anomaly windows from windows.json; the first min(floor(0.15·rows), 750) rows are probation (ignored).
Every row gets a weight as if it were a detection:
  inside a window (width w rows, right edge at row r): A_tp · σ(−(r − i + 1)/w) / σ(−1)  (≈ A_tp at the window
  start, falling towards 0 at its end); only the best (earliest) detection of a window counts;
  outside: A_fp · σ(|i − r_prev|/(w_prev − 1)) after a window (≈ 0 just after it, → −A_fp far away), −A_fp before
  any window; every one counts;
  σ(y) = 2/(1 + e^{5y}) − 1, and −1 for y >= 3. Each window with no detection costs −A_fn.
Detections at threshold t are the rows with anomaly_score >= t. NAB's optimiser picks, per profile, the one
threshold that maximises the summed raw score over the corpus; the reported score is 100·(raw − null)/(perfect −
null), null = no detections (−A_fn per window), perfect = every window detected at its first row (A_tp per window).
`leave_one_series_out` picks the threshold on the other series instead, so no series is scored with a threshold
chosen on itself.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.detect.offline import parse_ts_ms

PROFILES: dict[str, tuple[float, float, float]] = {  # name: (A_tp, A_fp, A_fn)
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}


def sigma(y: float) -> float:
    return -1.0 if y >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass
class Series:
    """One series prepared for scoring: per scorable row its score, window id (-1 outside) and unit weights."""

    name: str
    scores: np.ndarray
    window: np.ndarray
    tp_unit: np.ndarray  # σ(pos)/σ(−1) for rows in a window, 0 elsewhere
    fp_unit: np.ndarray  # σ(pos) for rows outside windows, 0 elsewhere
    n_windows: int


def prepare(name: str, times_ms: list[int], scores: list[float], windows: list[tuple[int, int]]) -> Series:
    n = len(times_ms)
    probation = int(min(math.floor(0.15 * n), 0.15 * 5000))
    spans = []
    for a, b in windows:
        idx = [i for i, t in enumerate(times_ms) if a <= t <= b]
        if idx:
            spans.append((idx[0], idx[-1]))
    win = np.full(n, -1)
    tp = np.zeros(n)
    fp = np.zeros(n)
    max_tp = sigma(-1.0)
    prev: tuple[int, int] | None = None
    j = 0
    for i in range(n):
        while j < len(spans) and spans[j][1] < i:
            prev = spans[j]
            j += 1
        if j < len(spans) and spans[j][0] <= i <= spans[j][1]:
            s, e = spans[j]
            win[i] = j
            tp[i] = sigma(-(e - i + 1) / (e - s + 1)) / max_tp
        elif prev is None:
            fp[i] = -1.0
        else:
            s, e = prev
            fp[i] = sigma(abs(i - e) / max(1, e - s))
    keep = np.arange(n) >= probation
    live_windows = sorted({int(w) for w in win[keep] if w >= 0})
    remap = {w: k for k, w in enumerate(live_windows)}
    window = np.array([remap.get(int(w), -1) if k else -1 for w, k in zip(win, keep, strict=True)])[keep]
    return Series(name, np.asarray(scores, dtype=float)[keep], window, tp[keep], fp[keep], len(live_windows))


def sweep(series: list[Series], profile: str) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, raw corpus score at each), thresholds descending; the first entry detects nothing."""
    a_tp, a_fp, a_fn = PROFILES[profile]
    offsets = np.cumsum([0] + [s.n_windows for s in series])
    scores = np.concatenate([s.scores for s in series])
    window = np.concatenate([np.where(s.window >= 0, s.window + o, -1) for s, o in zip(series, offsets, strict=False)])
    tp = np.concatenate([s.tp_unit for s in series]) * a_tp
    fp = np.concatenate([s.fp_unit for s in series]) * a_fp
    order = np.argsort(-scores, kind="stable")
    best = np.full(int(offsets[-1]), -a_fn)
    total = -a_fn * float(offsets[-1])
    thresholds, raws = [math.inf], [total]
    i = 0
    n = len(order)
    while i < n:
        t = scores[order[i]]
        while i < n and scores[order[i]] == t:
            r = order[i]
            if window[r] < 0:
                total += fp[r]
            elif tp[r] > best[window[r]]:
                total += tp[r] - best[window[r]]
                best[window[r]] = tp[r]
            i += 1
        thresholds.append(float(t))
        raws.append(total)
    return np.array(thresholds), np.array(raws)


def raw_at(series: list[Series], profile: str, threshold: float) -> float:
    th, raws = sweep(series, profile)
    idx = np.nonzero(th >= threshold)[0]
    return float(raws[idx[-1]])


def normalise(raw: float, n_windows: int, profile: str) -> float:
    a_tp, _, a_fn = PROFILES[profile]
    null, perfect = -a_fn * n_windows, a_tp * n_windows
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def score_corpus(series: list[Series]) -> dict[str, dict[str, float | None]]:
    """NAB protocol: per profile, the corpus-wide optimal threshold and its normalised score; plus leave-one-out."""
    out: dict[str, dict[str, float | None]] = {}
    n_windows = sum(s.n_windows for s in series)
    for profile in PROFILES:
        th, raws = sweep(series, profile)
        k = int(np.argmax(raws))
        loso: float | None = None
        if len(series) > 1:
            loso_raw = 0.0
            for i, s in enumerate(series):
                th_r, raws_r = sweep(series[:i] + series[i + 1:], profile)
                loso_raw += raw_at([s], profile, float(th_r[int(np.argmax(raws_r))]))
            loso = round(normalise(loso_raw, n_windows, profile), 2)
        out[profile] = {"score": round(normalise(float(raws[k]), n_windows, profile), 2),
                        "threshold": float(th[k]), "score_leave_one_series_out": loso}
    return out


def score_series(times_ms: list[int], detections: list[bool], windows: list[tuple[int, int]],
                 profile: str = "standard") -> tuple[float, float, float]:
    """(raw, null, perfect) of fixed detections on one series (e.g. the `alert` column)."""
    s = prepare("s", times_ms, [1.0 if d else 0.0 for d in detections], windows)
    a_tp, _, a_fn = PROFILES[profile]
    return raw_at([s], profile, 1.0), -a_fn * s.n_windows, a_tp * s.n_windows


def load_windows(windows_json: Path) -> dict[str, list[tuple[int, int]]]:
    labels = json.loads(Path(windows_json).read_text())
    return {Path(k).name: [(parse_ts_ms(a), parse_ts_ms(b)) for a, b in v] for k, v in labels.items()}


def evaluate_dir(data_dir: Path, detector: Callable[[list[dict[str, str]]], list[dict[str, str]]] | None = None
                 ) -> dict[str, object]:
    """Run the volume detector over every series of a NAB folder; NAB scores on `anomaly_score` and on `alert`."""
    from monitor.detect.offline import detect_counts

    detector = detector or detect_counts
    labels = load_windows(Path(data_dir) / "windows.json")
    by_score, by_alert = [], []
    for path in sorted(Path(data_dir).glob("*.csv")):
        with open(path, newline="") as fh:
            rows = detector(list(csv.DictReader(fh)))
        times = [parse_ts_ms(r["timestamp"]) for r in rows]
        wins = labels.get(path.name, [])
        by_score.append(prepare(path.name, times, [float(r["anomaly_score"]) for r in rows], wins))
        by_alert.append(prepare(path.name, times, [float(r["alert"]) for r in rows], wins))
    alert_scores = {p: round(normalise(raw_at(by_alert, p, 1.0), sum(s.n_windows for s in by_alert), p), 2)
                    for p in PROFILES}
    return {"series": len(by_score), "windows": sum(s.n_windows for s in by_score),
            "anomaly_score": score_corpus(by_score), "alert_column": alert_scores}
