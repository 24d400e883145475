"""Time, not windows: the machinery the v3 rate and volume detectors share. Pure; JSON-able state (lists, dicts).

- Scales are durations (1 min … 24 h), rounded to whole windows; those shorter than a window are dropped.
- The scan buffer holds the topic's *non-empty* windows of the last `max(scales) + window` of event time, oldest
  first, each `[start_ms, end_ms, n, k, c, flag]` (posts scored, negatives, all posts; flag 0 not yet in the
  baseline, 1 covered by an alert, 2 in the baseline, 3 in the baseline and then covered). Empty windows are never emitted nor stored: a block of scale S is every entry that
  starts inside [end − S, end), and the time between entries counts as zero posts. A quiet gap of any length costs
  O(1). Entries older than an hour are merged per clock hour, so the buffer stays under 60 + 25 entries at 60-s
  windows.
- An entry joins the topic's baseline `learn_after_s` (1 h) after it ended unless an alert covered it by then;
  during the warm-up it joins at once. So a sharp incident never teaches "normal"; a slow one (hours) teaches it a
  little of its start — the price of a baseline that follows a topic within the hour, not a day later. Baselines
  decay with event time (half-lives in seconds).
- Each topic's own noise: per scale, a method-of-moments estimate of the over-dispersion from non-overlapping past
  blocks (the block of S that ended just before the current window, at most once per S), shrunk towards a prior
  (`Dispersion`): a calm busy topic gets a tight test, a noisy one a loose one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
DEFAULT_SCALES_S: tuple[int, ...] = (60, 300, 900, 3600, 21600, 86400)

# entry fields
START, END, N, K, C, FLAG = range(6)


def scales_ms(scales_s: Iterable[float], size_ms: int) -> tuple[int, ...]:
    """Scales as whole multiples of the window (at least one window), sorted, de-duplicated."""
    out = {max(1, int(round(float(s) * 1000 / size_ms))) * size_ms for s in scales_s
           if float(s) * 1000 >= size_ms * 0.999}
    return tuple(sorted(out)) or (size_ms,)


def decay(dt_ms: float, half_life_ms: float) -> float:
    return math.pow(0.5, max(0.0, dt_ms) / half_life_ms) if half_life_ms > 0 else 0.0


def select(recent: list[list[float]], lo: float, hi: float, stop_at_cover: bool
           ) -> tuple[list[list[float]], int, bool]:
    """(entries starting in [lo, hi), newest first; the block's start; whether an alert covered one of them). With
    `stop_at_cover` the block stops at an entry an alert already covered (a new incident needs new evidence) and
    starts where that entry ended."""
    out: list[list[float]] = []
    start, covered = int(lo), False
    for e in reversed(recent):
        if e[START] < lo:
            break
        if e[START] >= hi:
            continue
        if e[FLAG] in (1, 3):
            covered = True
            if stop_at_cover:
                start = int(e[END])
                break
        out.append(e)
    return out, start, covered


def append(recent: list[list[float]], start: int, end: int, n: float, k: float, c: float) -> list[float]:
    entry = [start, end, n, k, c, 0]
    recent.append(entry)
    return entry


def coarsen(recent: list[list[float]], now_ms: int, fine_ms: int = HOUR_MS) -> None:
    """Merge entries that ended more than `fine_ms` ago into one entry per clock hour (flags: covered wins)."""
    out: list[list[float]] = []
    for e in recent:
        old = e[END] <= now_ms - fine_ms and e[END] - e[START] < HOUR_MS
        hour = int(e[START]) - int(e[START]) % HOUR_MS
        if old and out and out[-1][START] == hour and (out[-1][FLAG] in (2, 3)) == (e[FLAG] in (2, 3)):
            # same clock hour as the previous (merged) entry; what is already in the baseline stays apart
            last = out[-1]
            last[END] = max(last[END], e[END])
            for f in (N, K, C):
                last[f] += e[f]
            if e[FLAG] in (1, 3):
                last[FLAG] = 3 if last[FLAG] in (2, 3) else 1
        elif old:
            out.append([hour, e[END], e[N], e[K], e[C], e[FLAG]])
        else:
            out.append(e)
    recent[:] = out


def cover(recent: list[list[float]], start_ms: int) -> None:
    """Mark the entries of an alert's block: their evidence is used (blocks stop there), and those not yet in the
    baseline never join it (1); those already in it are marked 3."""
    for e in recent:
        if e[START] >= start_ms:
            e[FLAG] = 3 if e[FLAG] in (2, 3) else 1


class Dispersion:
    """Over-dispersion of one scale by the method of moments, shrunk to a prior: est = (U + prior·W0) / (W + W0),
    U = Σ (observed − expected)² − sampling variance, W = Σ the variance's coefficient, both decayed with event
    time. For the negative share: U = (K − N p0)² − N p0 (1 − p0), W = N (N − 1) p0 (1 − p0): est ≈ ρ, the
    intra-block correlation (beta-binomial strength m = 1/ρ − 1). For volume: U = (C − M)² − M, W = M²: est ≈ φ,
    the negative binomial's 1/size (variance M + φ M²)."""

    @staticmethod
    def update(state: list[float], u: float, w: float, at_ms: int, half_life_ms: float) -> None:
        d = decay(at_ms - state[2], half_life_ms) if state[2] else 1.0
        state[0] = state[0] * d + u
        state[1] = state[1] * d + w
        state[2] = at_ms

    @staticmethod
    def value(state: list[float], prior: float, prior_weight: float, lo: float, hi: float) -> float:
        est = (state[0] + prior * prior_weight) / (state[1] + prior_weight)
        return min(max(est, lo), hi)


TESTS_HALF_LIFE_MS = WEEK_MS


def tests_per_week(state: list[float], end_ms: int, size_ms: int) -> float:
    """Count this window as a test and return the topic's tests per week (decayed count of non-empty windows over
    decayed time, half-life a week); before a day of history, one test per window of the week (the strictest)."""
    if state[2]:
        d = decay(end_ms - state[2], TESTS_HALF_LIFE_MS)
        state[0], state[1] = state[0] * d + 1.0, state[1] * d + max(0.0, end_ms - state[2])
    else:
        state[0], state[1] = 1.0, 0.0
    state[2] = end_ms
    if state[1] < DAY_MS:
        return WEEK_MS / size_ms
    return min(WEEK_MS / size_ms, max(1.0, state[0] / state[1] * WEEK_MS))


def threshold(p_threshold: float | None, per_week: float, sensitivity: float, size_ms: int,
              tests: float | None) -> float:
    if p_threshold is not None:
        base = p_threshold
    else:
        base = per_week / (tests if tests is not None else WEEK_MS / size_ms)
    return min(0.5, base * sensitivity)
