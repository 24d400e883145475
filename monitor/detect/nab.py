"""NAB standard-profile scoring (re-implemented from the NAB docs), for the volume detector on realTweets.

Per series: anomaly windows from windows.json; the first 15% of rows (max 750) is probation (detections ignored).
A detection inside a window: TP weight A_tp·σ(y), y = position relative to the window end (−1 at its start, 0 at
its end), σ(y) = 2/(1+e^{5y}) − 1; only the first detection of a window counts. A detection outside every window:
A_fp·σ(y) with y = distance past the end of the preceding window over its length (−1·A_fp before any window). Each
missed window: −A_fn. Corpus score = 100·(raw − null)/(perfect − null), summed over series, where null = no
detections (−A_fn per window) and perfect = every window detected at its first row.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from monitor.detect.offline import parse_ts_ms

A_TP, A_FP, A_FN = 1.0, 0.11, 1.0


def sigma(y: float) -> float:
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def score_series(times_ms: list[int], detections: list[bool], windows: list[tuple[int, int]]) -> tuple[float, float, float]:
    """Returns (raw, null, perfect) for one series."""
    n = len(times_ms)
    probation = min(int(math.floor(0.15 * n)), 750)
    win_idx = []
    for a, b in windows:
        idx = [i for i, t in enumerate(times_ms) if a <= t <= b]
        if idx:
            win_idx.append((idx[0], idx[-1]))
    raw = 0.0
    hit = [False] * len(win_idx)
    for i in range(probation, n):
        if not detections[i]:
            continue
        inside = [w for w, (s, e) in enumerate(win_idx) if s <= i <= e]
        if inside:
            w = inside[0]
            if not hit[w]:
                s, e = win_idx[w]
                y = -(e - i) / max(1, e - s + 1)
                raw += A_TP * sigma(y)
                hit[w] = True
        else:
            prev = [(s, e) for s, e in win_idx if e < i]
            if prev:
                s, e = prev[-1]
                y = (i - e) / max(1, e - s + 1)
                raw += A_FP * sigma(y)
            else:
                raw -= A_FP
    raw -= A_FN * sum(1 for h in hit if not h)
    null = -A_FN * len(win_idx)
    perfect = sum(A_TP * sigma(-(e - s) / max(1, e - s + 1)) for s, e in win_idx)
    return raw, null, perfect


def score_corpus(results_dir_or_rows: dict[str, list[dict[str, str]]], windows_json: Path) -> dict[str, float]:
    labels = json.loads(Path(windows_json).read_text())
    tot_raw = tot_null = tot_perfect = 0.0
    per = {}
    for name, rows in results_dir_or_rows.items():
        key = next((k for k in labels if k.endswith(name)), None)
        wins = [(parse_ts_ms(a), parse_ts_ms(b)) for a, b in labels.get(key, [])] if key else []
        raw, null, perfect = score_series([parse_ts_ms(r["timestamp"]) for r in rows],
                                          [r["alert"] == "1" for r in rows], wins)
        per[name] = 100 * (raw - null) / (perfect - null) if perfect != null else 0.0
        tot_raw, tot_null, tot_perfect = tot_raw + raw, tot_null + null, tot_perfect + perfect
    per["_corpus"] = 100 * (tot_raw - tot_null) / (tot_perfect - tot_null) if tot_perfect != tot_null else 0.0
    return per


def evaluate_dir(data_dir: Path) -> dict[str, float]:
    from monitor.detect.offline import detect_counts

    results = {}
    for path in sorted(Path(data_dir).glob("*.csv")):
        with open(path, newline="") as fh:
            results[path.name] = detect_counts(list(csv.DictReader(fh)))
    return score_corpus(results, Path(data_dir) / "windows.json")
