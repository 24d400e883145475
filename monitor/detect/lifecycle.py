"""Alert lifecycle per topic: one alert per incident, firing -> resolved with hysteresis and cooldown. Pure."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class LifecycleConfig:
    fire_windows: int = 1  # consecutive alerting windows needed to fire
    resolve_windows: int = 3  # consecutive calm windows (score below resolve_score) needed to resolve
    resolve_score: float = 0.99
    cooldown_ms: int = 10 * 60_000  # after resolving, a new incident needs this much event time


@dataclass
class LifecycleState:
    firing: bool = False
    started_ms: int | None = None
    hits: int = 0
    calm: int = 0
    resolved_at_ms: int | None = None
    peak_rate: float = 0.0
    peak_score: float = 0.0


def fingerprint(topic: str, signal: str, started_ms: int) -> str:
    return hashlib.sha256(f"{topic}\x00{signal}\x00{started_ms}".encode()).hexdigest()[:16]


def step(st: LifecycleState, window_end_ms: int, alert: bool, score: float, rate: float,
         cfg: LifecycleConfig, elevated: bool | None = None, gap_windows: int = 0) -> str | None:
    """Advance with one window's decision. Returns 'firing', 'resolved' or None (no state change).

    `elevated`: the detector's own "this window is not calm" signal; without it, alert or score >= resolve_score.
    `gap_windows`: empty windows since the previous one (never emitted): calm time that counts towards resolving."""
    if st.firing and gap_windows >= cfg.resolve_windows:
        st.calm = cfg.resolve_windows  # quiet for long enough: the incident ended before this window
    elif st.firing:
        st.calm += gap_windows
    if st.firing and st.calm >= cfg.resolve_windows and elevated is not None:
        st.firing, st.resolved_at_ms, st.hits, st.calm = False, window_end_ms, 0, 0
        return "resolved"
    if st.firing:
        st.peak_rate = max(st.peak_rate, rate)
        st.peak_score = max(st.peak_score, score)
        # with the detector's own signal, only the window itself counts: a multi-window block that still holds the
        # incident's first windows must not keep it open
        busy = (alert or score >= cfg.resolve_score) if elevated is None else elevated
        st.calm = 0 if busy else st.calm + 1
        if st.calm >= cfg.resolve_windows:
            st.firing, st.resolved_at_ms, st.hits, st.calm = False, window_end_ms, 0, 0
            return "resolved"
        return None
    st.hits = st.hits + 1 if alert else 0
    cooling = st.resolved_at_ms is not None and window_end_ms - st.resolved_at_ms < cfg.cooldown_ms
    if st.hits >= cfg.fire_windows and not cooling:
        st.firing, st.started_ms, st.calm = True, window_end_ms, 0
        st.peak_rate, st.peak_score = rate, score
        return "firing"
    return None
