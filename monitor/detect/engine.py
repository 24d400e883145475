"""Per-topic detection over closed tumbling windows: rate detector + lifecycle, JSON-able state. Pure.

The live worker (app.py) and tests call `process_window`; windows already seen (start <= last start) are ignored,
so a re-emitted window after a crash changes nothing (idempotent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from monitor.detect.controls import TopicOverride, muted, rate_config_for
from monitor.detect.lifecycle import LifecycleConfig, LifecycleState, fingerprint, step
from monitor.detect.rate import RateConfig, RateState, observe
from monitor.detect.volume import VolumeConfig, VolumeState, observe_count


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


TERM_DECAY = 0.97
MAX_BASELINE_TERMS = 300


def rising_terms(window_terms: dict[str, int], baseline: dict[str, float], k: int = 5) -> list[dict[str, Any]]:
    """Terms of the window's negative posts that rose most vs the topic's baseline term shares."""
    wt = sum(window_terms.values()) or 1
    bt = sum(baseline.values()) or 1.0
    scored = []
    for term, c in window_terms.items():
        if c < 2:
            continue
        lift = (c / wt + 1e-3) / (baseline.get(term, 0.0) / bt + 1e-3)
        scored.append({"term": term, "count": c, "lift": round(lift, 2)})
    scored.sort(key=lambda x: (-x["lift"] * x["count"], x["term"]))
    return scored[:k]


def _update_terms(baseline: dict[str, float], window_terms: dict[str, int]) -> dict[str, float]:
    out = {t: w * TERM_DECAY for t, w in baseline.items()}
    for t, c in window_terms.items():
        out[t] = out.get(t, 0.0) + c
    if len(out) > MAX_BASELINE_TERMS:
        out = dict(sorted(out.items(), key=lambda kv: -kv[1])[:MAX_BASELINE_TERMS])
    return out


def _load(d: dict[str, Any] | None) -> tuple[RateState, LifecycleState, int | None, dict[str, Any]]:
    if not d:
        return RateState(), LifecycleState(), None, {}
    try:
        rs = RateState(**d["rate"])
        if rs.recent and len(rs.recent[0]) != 6 or not isinstance(rs.hour_k, list):
            raise TypeError("detector state of an older version")
    except TypeError:  # a v2 state (windows, not time): start the topic afresh rather than crash
        rs = RateState()
    return rs, LifecycleState(**d["life"]), d.get("last_start"), d.get("incident", {})


def gap_windows(last_end: int | None, w: dict[str, Any]) -> int:
    """Empty windows between the topic's previous window and this one (never emitted: counted as calm)."""
    if last_end is None:
        return 0
    size = max(1, int(w["end_ms"]) - int(w["start_ms"]))
    return max(0, (int(w["start_ms"]) - last_end) // size)


@dataclass(frozen=True)
class Controls:
    """What the operator set for this topic and this window: override (sensitivity, min volume, mute windows), an
    active silence, and where alerts link to."""

    override: TopicOverride | None = None
    silence: dict[str, Any] | None = None
    runbook_base_url: str = ""
    dashboard_url: str = ""
    ui_base_url: str = ""


def links(controls: Controls, topic: str, signal: str, starts_ms: int, end_ms: int, fingerprint: str = ""
          ) -> dict[str, str]:
    """runbook_url, dashboardURL (the topic's Grafana dashboard around the incident) and incident_url (the
    incident page of `monitor ui`)."""
    out = {"runbook_url": f"{controls.runbook_base_url.rstrip('/')}/{signal.replace('_', '-')}.md"
           if controls.runbook_base_url else ""}
    if controls.dashboard_url:
        sep = "&" if "?" in controls.dashboard_url else "?"
        out["dashboardURL"] = (f"{controls.dashboard_url}{sep}var-topic={quote(topic)}"
                               f"&from={starts_ms - 3_600_000}&to={end_ms + 3_600_000}")
    else:
        out["dashboardURL"] = ""
    out["incident_url"] = (f"{controls.ui_base_url.rstrip('/')}/incidents/{quote(fingerprint, safe='')}"
                           if controls.ui_base_url and fingerprint else "")
    return out


def duration(seconds: float) -> str:
    """60 -> '1 min', 3600 -> '1 h', 86400 -> '24 h'."""
    s = float(seconds)
    if s >= 3600:
        return f"{s / 3600:g} h"
    if s >= 60:
        return f"{s / 60:g} min"
    return f"{s:g} s"


def _detection(incident: dict[str, Any], end_ms: int) -> dict[str, Any]:
    return {"onset": iso(incident["onset_ms"]), "scale_windows": incident["scale"],
            "scale_s": incident.get("scale_s"),
            "time_to_detect_s": round((end_ms - incident["onset_ms"]) / 1000, 3),
            "evidence_digits": incident["evidence"], "confidence": incident["confidence"]}


def process_window(state: dict[str, Any] | None, w: dict[str, Any], rate_cfg: RateConfig, life_cfg: LifecycleConfig,
                   controls: Controls | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(new state or None if unchanged, alert state-change record or None) for one tumbling window."""
    controls = controls or Controls()
    rs, ls, last_start, incident = _load(state)
    if last_start is not None and w["start_ms"] <= last_start:
        return None, None
    size = int(w["end_ms"]) - int(w["start_ms"])
    v = observe(rs, w["start_ms"], int(w["n"]), int(w["negatives"]), rate_config_for(rate_cfg, controls.override),
                size_ms=size)
    decide = v.alert and not muted(controls.override, w["end_ms"])
    gap = gap_windows(last_start + size if last_start is not None else None, w)
    change = step(ls, w["end_ms"], decide, v.score, v.rate, life_cfg, elevated=not v.calm, gap_windows=gap)
    record = None
    terms = dict((state or {}).get("terms", {}))
    if change == "firing":
        onset = v.onset_ms if v.onset_ms is not None else w["start_ms"]
        incident = {"fingerprint": fingerprint(w["topic"], "negative_rate", w["end_ms"]),
                    "starts_ms": w["start_ms"], "baseline": v.baseline, "onset_ms": onset, "scale": v.scale,
                    "scale_s": v.scale_s,
                    "evidence": v.evidence, "confidence": v.confidence, "fired_end_ms": w["end_ms"]}
    if change:
        record = {
            "fingerprint": incident["fingerprint"], "topic": w["topic"], "signal": "negative_rate",
            "status": change, "startsAt": iso(incident["starts_ms"]),
            "endsAt": iso(w["end_ms"]) if change == "resolved" else None,
            "window": {"start": iso(w["start_ms"]), "end": iso(w["end_ms"]), "n": v.n, "negatives": v.k},
            "observed_rate": round(v.rate, 4), "baseline_rate": round(incident["baseline"], 4),
            "block": {"windows": v.scale, "n": v.block_n, "negatives": v.block_k},
            "score": round(v.score, 6), "p_value": v.p_value, "peak_rate": round(ls.peak_rate, 4),
            "peak_score": round(ls.peak_score, 6),
            **_detection(incident, incident["fired_end_ms"]),
            **links(controls, w["topic"], "negative_rate", incident["starts_ms"], w["end_ms"], incident["fingerprint"]),
            "silenced": controls.silence is not None, "silence": controls.silence,
            "top_posts": w.get("top_negative", []),
            "rising_terms": rising_terms(w.get("negative_terms", {}), terms),
            "modalities": w.get("negative_by_modality", {}),
            "summary": (f"negative share of {w['topic']} {v.block_k / max(1, v.block_n):.0%} "
                        f"({v.block_k}/{v.block_n} in {duration(v.scale_s)}) vs baseline "
                        f"{incident['baseline']:.0%}" + (" (low confidence: few posts)" if v.confidence == "low"
                                                          else "")
                        if change == "firing" else
                        f"negative share of {w['topic']} back to normal ({v.rate:.0%}, {v.k}/{v.n})"),
        }
        if change == "resolved":
            incident = {}
    if not v.alert:
        terms = _update_terms(terms, w.get("negative_terms", {}))
    new_state = {"rate": asdict(rs), "life": asdict(ls), "last_start": w["start_ms"], "incident": incident,
                 "terms": terms}
    return new_state, record


def process_volume(state: dict[str, Any] | None, w: dict[str, Any], cfg: VolumeConfig, life_cfg: LifecycleConfig,
                   controls: Controls | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Mention-volume signal of a topic (posts per window, scored or not), a separate incident stream."""
    controls = controls or Controls()
    if state and state.get("last_start") is not None and w["start_ms"] <= state["last_start"]:
        return None, None
    try:
        vs = VolumeState(**state["vol"]) if state else VolumeState()
    except TypeError:  # a v2 state (windows, not time): start the topic afresh rather than crash
        vs = VolumeState()
    ls = LifecycleState(**state["life"]) if state else LifecycleState()
    incident = dict(state.get("incident", {})) if state else {}
    count = int(w["n"]) + int(w.get("unscored", 0))
    size = int(w["end_ms"]) - int(w["start_ms"])
    v = observe_count(vs, w["start_ms"], count, cfg, size_ms=size)
    decide = v.alert and not muted(controls.override, w["end_ms"])
    last = state.get("last_start") if state else None
    change = step(ls, w["end_ms"], decide, v.score, float(count), life_cfg, elevated=not v.calm,
                  gap_windows=gap_windows(last + size if last is not None else None, w))
    record = None
    if change and incident.get("merged"):  # this incident was reported inside a negative-rate alert
        out = {"vol": asdict(vs), "life": asdict(ls), "last_start": w["start_ms"],
               "incident": {} if change == "resolved" else incident}
        return out, None
    if change == "firing":
        incident = {"fingerprint": fingerprint(w["topic"], "volume", w["end_ms"]), "starts_ms": w["start_ms"],
                    "expected": v.expected, "onset_ms": v.onset_ms if v.onset_ms is not None else w["start_ms"],
                    "scale": v.scale, "scale_s": v.scale_s, "evidence": v.evidence, "confidence": "high",
                    "fired_end_ms": w["end_ms"], "block_count": v.block_count}
    if change:
        record = {"fingerprint": incident["fingerprint"], "topic": w["topic"], "signal": "volume", "status": change,
                  "startsAt": iso(incident["starts_ms"]), "endsAt": iso(w["end_ms"]) if change == "resolved" else None,
                  "window": {"start": iso(w["start_ms"]), "end": iso(w["end_ms"]), "n": count,
                             "negatives": int(w["negatives"])},
                  "observed_rate": count, "baseline_rate": round(incident["expected"], 2), "score": round(v.score, 6),
                  "p_value": v.p_value, "peak_rate": ls.peak_rate, "peak_score": round(ls.peak_score, 6),
                  **_detection(incident, incident["fired_end_ms"]),
                  **links(controls, w["topic"], "volume", incident["starts_ms"], w["end_ms"], incident["fingerprint"]),
                  "silenced": controls.silence is not None, "silence": controls.silence,
                  "top_posts": [], "rising_terms": [], "modalities": {},
                  "block": {"windows": incident["scale"], "n": int(incident.get("block_count", count)),
                            "negatives": int(w["negatives"])},
                  "summary": (f"mentions of {w['topic']} x{incident.get('block_count', count) / max(incident['expected'], 1e-9):.1f}: "
                              f"{incident.get('block_count', count):.0f} in {duration(incident.get('scale_s', 0))} "
                              f"vs about {incident['expected']:.1f}"
                              if change == "firing" else f"mentions of {w['topic']} back to normal ({count})")}
        if change == "resolved":
            incident = {}
    return {"vol": asdict(vs), "life": asdict(ls), "last_start": w["start_ms"], "incident": incident}, record


def merge_signals(rate_rec: dict[str, Any] | None, vol_rec: dict[str, Any] | None,
                  vol_state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One incident when both signals move: a negative-rate alert that fires while the topic's volume is also
    firing (or starts firing in the same window) carries `volume` (posts, expected, ratio, scale) and says both in
    its summary ("... vs baseline 9 %; mentions x4.2: 91 in 1 h vs about 21.6"). A volume incident that starts in
    the same window is reported only there: its own firing and resolved records are not emitted (the volume state
    remembers it as merged). Mutates the records and `vol_state`."""
    inc = (vol_state or {}).get("incident") or {}
    if rate_rec and rate_rec["status"] == "firing" and inc.get("fingerprint"):
        posts = float(inc.get("block_count") or 0.0)
        ratio = posts / max(float(inc["expected"]), 1e-9)
        rate_rec["volume"] = {"posts": posts, "expected": round(float(inc["expected"]), 2), "ratio": round(ratio, 2),
                              "scale_s": inc.get("scale_s"), "fingerprint": inc["fingerprint"]}
        rate_rec["summary"] += (f"; mentions x{ratio:.1f}: {posts:.0f} in {duration(inc.get('scale_s') or 0)} "
                                f"vs about {float(inc['expected']):.1f}")
        if vol_rec and vol_rec["status"] == "firing":
            inc["merged"] = True
            vol_rec = None
    return [r for r in (rate_rec, vol_rec) if r]
