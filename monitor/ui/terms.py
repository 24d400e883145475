"""Rising terms of an incident, ranked at display time (pure): the log-odds ratio with an informative Dirichlet prior
(Monroe, Colaresi & Quinn 2008, "Fightin' Words", §3.5), of the terms of the negative posts in the incident's windows
vs the topic's windows before it, both read from the windows' `negative_terms` the UI stores.

For a term w with counts y_i (incident), y_j (before), totals n_i, n_j, and prior counts α_w = α0 · (pooled share
of w), α0 = Σ α_w:

    δ_w = log((y_i + α_w) / (n_i + α0 − y_i − α_w)) − log((y_j + α_w) / (n_j + α0 − y_j − α_w))
    σ²_w ≈ 1 / (y_i + α_w) + 1 / (y_j + α_w)          z_w = δ_w / σ_w

The prior shrinks rare terms (one post saying "recall" is not a story), the z-score weighs a rise by how much data
carries it: unlike a plain lift, terms rarely tie. The detector's own `rising_terms` (in the alert) are left as
they are; this only changes what the incident page shows."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

PRIOR_WEIGHT = 100.0  # α0: how many pooled term counts the prior is worth


def term_counts(windows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Sum the `negative_terms` of windows (records are not trusted: odd entries are skipped)."""
    out: dict[str, int] = {}
    for w in windows:
        terms = w.get("negative_terms")
        if not isinstance(terms, dict):
            continue
        for term, c in terms.items():
            if isinstance(c, int | float) and not isinstance(c, bool) and c > 0:
                out[str(term)] = out.get(str(term), 0) + int(c)
    return out


def log_odds(focus: dict[str, int], background: dict[str, int], prior_weight: float = PRIOR_WEIGHT,
             min_count: int = 2, k: int = 8) -> list[dict[str, Any]]:
    """Terms of `focus` that rose most vs `background`, best first: [{term, count, before, delta, z}] with z > 0 and
    count >= min_count; ties (same counts) broken by term. Empty when `background` is (no baseline to rise from)."""
    pooled = {t: focus.get(t, 0) + background.get(t, 0) for t in set(focus) | set(background)}
    total = sum(pooled.values())
    if not total:
        return []
    n_i, n_j = sum(focus.values()), sum(background.values())
    if not n_j:  # nothing to compare with: no term can be said to rise
        return []
    a0 = prior_weight
    out = []
    for term, c in focus.items():
        if c < min_count:
            continue
        a = a0 * pooled[term] / total
        b = background.get(term, 0)
        # the rest of each corpus: never 0 (a corpus holding one term only)
        delta = math.log((c + a) / max(n_i + a0 - c - a, 0.5)) - math.log((b + a) / max(n_j + a0 - b - a, 0.5))
        z = delta / math.sqrt(1 / (c + a) + 1 / (b + a))
        if z > 0:
            out.append({"term": term, "count": c, "before": b, "delta": round(delta, 3), "z": round(z, 2)})
    out.sort(key=lambda x: (-x["z"], x["term"]))
    return out[:k]


def rising(windows: list[dict[str, Any]], lo_ms: int, hi_ms: int, k: int = 8) -> list[dict[str, Any]]:
    """Log-odds ranking of the terms in the windows within [lo, hi) vs the windows that ended by lo."""
    inside = [w for w in windows if _int(w.get("start_ms")) >= lo_ms and _int(w.get("start_ms")) < hi_ms]
    before = [w for w in windows if _int(w.get("end_ms")) <= lo_ms]
    return log_odds(term_counts(inside), term_counts(before), k=k)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
