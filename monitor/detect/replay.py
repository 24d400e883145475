"""`monitor eval detect`: replay a recorded `sentiment.windows` stream through the live detection functions
(`detect.engine`, the same the worker runs) and score the alerts against labelled incidents. Pure.

windows: JSON lines as the worker writes them to `sentiment.windows` (tumbling ones are used: topic, start_ms,
end_ms, n, negatives[, unscored]). incidents: JSON list or JSON lines of {topic, start, end[, signal]} (ISO 8601 or
epoch seconds; signal defaults to negative_rate), or CSV with those columns.
A firing matches an incident of its topic and signal when the window that fired ends inside [start, end + grace];
the first match gives the time to detect (fired window end − incident start). Firings matching no incident are
false positives; precision = matched firings / firings.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from statistics import median
from typing import Any

from monitor.config import Settings
from monitor.detect.engine import Controls, merge_signals, process_volume, process_window
from monitor.detect.offline import parse_ts_ms
from monitor.detect.setup import DetectorConfigs, detector_configs


def load_windows(path: Path) -> list[dict[str, Any]]:
    out = []
    with open(path) as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                w = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{i}: not JSON ({exc})") from None
            if isinstance(w, dict) and "value" in w and isinstance(w["value"], dict):
                w = w["value"]  # a dump with key/value/partition/offset
            if w.get("kind", "tumbling") != "tumbling":
                continue
            missing = {"topic", "start_ms", "end_ms", "n", "negatives"} - set(w)
            if missing:
                raise ValueError(f"{path}:{i}: window lacks {sorted(missing)}")
            out.append(w)
    return out


def load_incidents(path: Path) -> list[dict[str, Any]]:
    text = Path(path).read_text()
    if path.suffix == ".csv":
        rows: list[dict[str, Any]] = list(csv.DictReader(text.splitlines()))
    else:
        stripped = text.strip()
        rows = json.loads(stripped) if stripped.startswith("[") else [json.loads(x) for x in stripped.splitlines()
                                                                       if x.strip()]
    out = []
    for r in rows:
        out.append({"topic": r["topic"], "signal": r.get("signal") or "negative_rate",
                    "start_ms": parse_ts_ms(str(r["start"])), "end_ms": parse_ts_ms(str(r["end"]))})
    return out


def replay(windows: list[dict[str, Any]], configs: DetectorConfigs | None = None) -> list[dict[str, Any]]:
    """Alert records the worker would have produced, in window order per topic (the worker's configurations by
    default: `detect.setup.detector_configs` of the default settings)."""
    c = configs or detector_configs(Settings())
    state: dict[str, dict[str, Any]] = {}
    records = []
    for w in sorted(windows, key=lambda x: (x["start_ms"], x["topic"])):
        st = state.setdefault(w["topic"], {})
        rs, rr = process_window(st.get("rate"), w, c.rate, c.rate_life, Controls())
        vs, vr = process_volume(st.get("volume"), w, c.volume, c.volume_life, Controls())
        st["rate"] = rs or st.get("rate")
        st["volume"] = vs or st.get("volume")
        for r in merge_signals(rr, vr, st["volume"]):
            records.append({**r, "_fired_end_ms": parse_ts_ms(r["window"]["end"])})
    return records


def score(records: list[dict[str, Any]], incidents: list[dict[str, Any]], grace_ms: int) -> dict[str, Any]:
    firings = [r for r in records if r["status"] == "firing"]
    found: dict[int, int] = {}
    false_pos = 0
    for f in firings:
        t = f["_fired_end_ms"]
        match = next((i for i, inc in enumerate(incidents) if inc["topic"] == f["topic"]
                      and inc["signal"] == f["signal"] and inc["start_ms"] <= t <= inc["end_ms"] + grace_ms), None)
        if match is None:
            false_pos += 1
        else:
            found.setdefault(match, t)
    delays = sorted((t - incidents[i]["start_ms"]) / 1000 for i, t in found.items())
    per = [{**{k: v for k, v in inc.items()}, "detected": i in found,
            "time_to_detect_s": (found[i] - inc["start_ms"]) / 1000 if i in found else None}
           for i, inc in enumerate(incidents)]
    return {"incidents": len(incidents), "detected": len(found), "firings": len(firings),
            "false_positives": false_pos,
            "recall": round(len(found) / len(incidents), 4) if incidents else None,
            "precision": round((len(firings) - false_pos) / len(firings), 4) if firings else None,
            "median_time_to_detect_s": median(delays) if delays else None,
            "max_time_to_detect_s": max(delays) if delays else None, "per_incident": per}


def evaluate(windows_path: Path, incidents_path: Path, grace_windows: int = 2, settings: Settings | None = None
             ) -> dict[str, Any]:
    """Replay with the worker's detector and the worker's settings (`settings`: the same object the worker loads,
    defaults < YAML < MONITOR_* env)."""
    windows = load_windows(windows_path)
    incidents = load_incidents(incidents_path)
    width = min((w["end_ms"] - w["start_ms"] for w in windows), default=60_000)
    records = replay(windows, detector_configs(settings or Settings.load()))
    res = score(records, incidents, grace_windows * width)
    res.update({"windows": len(windows), "topics": len({w["topic"] for w in windows}),
                "window_s": width / 1000, "grace_windows": grace_windows})
    return res
