"""`monitor eval stream`: replay a recorded post stream (`posts.raw` JSON lines, time-sorted) through the worker's
decoder, router, scorer, windows and detector functions (offline, the same code as live) and judge its alerts
against price moves.

Events: per ticker, trading days whose close moved <= −4 % (`down`) or >= +4 % (`up`) (StockNet's events.json).
A day D is *detectable* when the ticker had >= `min_posts` posts on D and D − 1 together (UTC days). An alert of the
ticker's topic matches D when its firing window ends in [D − 1 20:00 UTC, D + 1 00:00 UTC) (the evening before, when
after-hours news breaks, to the end of the day). Reported for detectable down days: recall of any alert and of
negative-rate alerts, the same on up days (a control: a negative-rate detector should fire less there), unmatched
alerts (matching no event day of either kind) per ticker-week, and lead time of the first matching alert against
the 09:30 New York open of D (positive = before the open). Beside it, the baseline the issue names: the daily
cashtag volume z-score against the trailing 28 days (z >= 3 and >= 5 posts), alerting on day D.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from monitor.aggregate.stage import window_config
from monitor.aggregate.windows import ScoredEvent, add_event, close_windows, new_state
from monitor.config import Settings
from monitor.detect.replay import replay
from monitor.detect.setup import detector_configs
from monitor.ingest.decode import decode_post
from monitor.ingest.route import Router

DAY_MS = 86_400_000
NY = ZoneInfo("America/New_York")


def read_posts(path: Path) -> Iterator[bytes]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        for line in fh:
            if line.strip():
                yield line.rstrip(b"\n")


def load_events(path: Path) -> dict[str, list[dict[str, Any]]]:
    data = json.loads(Path(path).read_text())
    return {t.upper(): evs for t, evs in data.get("events", data).items()}


def score_texts(texts: list[str], settings: Settings, cache_dir: Path | None) -> tuple[np.ndarray, str]:
    """(n, 3) probabilities from the worker's scorer (text model or VADER), cached by scorer version and texts."""
    from monitor.score.factory import build_scorer

    scorer = build_scorer(settings.model_copy(update={"media_encoders": False}))
    text = getattr(scorer, "text", scorer)
    key = hashlib.sha256(("\x00".join(texts) + scorer.version).encode()).hexdigest()[:16]
    path = cache_dir / f"stream-scores-{scorer.name}-{key}.npy" if cache_dir else None
    if path and path.is_file():
        return np.load(path), f"{scorer.name} {scorer.version}"
    from tqdm import tqdm

    out = []
    step = 256
    for i in tqdm(range(0, len(texts), step), desc=f"scoring with {scorer.name}", unit="batch"):
        out.append(np.asarray(text.predict_proba(texts[i:i + step]), dtype=np.float32))  # type: ignore[attr-defined]
    probs = np.concatenate(out) if out else np.zeros((0, 3), dtype=np.float32)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, probs)
    return probs, f"{scorer.name} {scorer.version}"


def windows_of(posts: list[tuple[str, int, list[str], str]], probs: np.ndarray, settings: Settings
               ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Tumbling windows of every topic from an in-order replay (the watermark follows the posts), with the worker's
    pure window functions. Returns the windows and the outcome counts (added / late / duplicate)."""
    cfg = window_config(settings)
    labels = ("negative", "neutral", "positive")
    states: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    wm = 0
    for (pid, ts, topics, text), p in zip(posts, probs, strict=True):
        label = labels[int(np.argmax(p))]
        for topic in topics:
            st = states.setdefault(topic, new_state())
            ev = ScoredEvent(pid, topic, ts, label, float(p[2] - p[0]), float(p[0]), "twitter", text[:140])
            counts[add_event(st, ev, wm, cfg)] += 1
        if ts - wm > cfg.size_ms:  # close what the watermark passed (every window's worth of event time)
            wm = ts
            for topic, st in states.items():
                out += close_windows(st, topic, wm, cfg, 0)
    for topic, st in states.items():
        out += close_windows(st, topic, 10**15, cfg, 0)
    return [w for w in out if w["kind"] == "tumbling"], dict(counts)


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


def _ms(d: date, hour: int = 0) -> int:
    return int(datetime(d.year, d.month, d.day, hour, tzinfo=UTC).timestamp() * 1000)


def open_ms(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, 9, 30, tzinfo=NY).timestamp() * 1000)


def zscore_baseline(daily: dict[date, int], first: date, last: date, z_min: float = 3.0, min_posts: int = 5,
                    trailing: int = 28) -> list[date]:
    """Days whose cashtag volume is >= z_min standard deviations over the trailing `trailing` days (>= min_posts)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    counts = [daily.get(d, 0) for d in days]
    out = []
    for i in range(trailing, len(days)):
        hist = np.asarray(counts[i - trailing:i], dtype=float)
        mu, sd = hist.mean(), hist.std()
        z = (counts[i] - mu) / max(sd, 1.0)
        if counts[i] >= min_posts and z >= z_min:
            out.append(days[i])
    return out


def judge(alerts: list[dict[str, Any]], events: dict[str, list[dict[str, Any]]], daily: dict[str, dict[date, int]],
          tickers: list[str], first: date, last: date, min_posts: int = 5,
          daily_neg: dict[str, dict[date, int]] | None = None) -> dict[str, Any]:
    """Recall on detectable down / up days, unmatched alerts per ticker-week, lead time; and the z-score baseline.
    With `daily_neg` (negatives per ticker and day, by the scorer), each day also carries `share_z`: how many
    binomial standard deviations its negative share lies above the ticker's two-year share (what any negative-rate
    test could see on the scorer's labels)."""
    weeks = ((last - first).days + 1) / 7
    by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        by_topic[a["topic"]].append(a)
    rows: dict[str, list[dict[str, Any]]] = {"down": [], "up": []}
    unmatched = {"any": 0, "negative_rate": 0, "volume": 0}
    base_unmatched = 0
    base_hits: dict[str, list[bool]] = {"down": [], "up": []}
    per_ticker: dict[str, Any] = {}
    for t in tickers:
        evs = [e for e in events.get(t, []) if first <= date.fromisoformat(e["date"]) <= last]
        event_days = {date.fromisoformat(e["date"]) for e in evs}
        d_counts = daily.get(t, {})
        ta = by_topic.get(t, [])
        base_days = set(zscore_baseline(d_counts, first, last))
        neg_counts = (daily_neg or {}).get(t, {})
        total = sum(d_counts.values())
        p_t = sum(neg_counts.values()) / total if total else 0.0
        for a in ta:
            end = a["_fired_end_ms"]
            matched = any(_ms(d - timedelta(days=1), 20) <= end < _ms(d + timedelta(days=1)) for d in event_days)
            if not matched:
                unmatched["any"] += 1
                unmatched[a["signal"]] += 1
        base_unmatched += len(base_days - event_days)
        for e in evs:
            d = date.fromisoformat(e["date"])
            posts = d_counts.get(d, 0) + d_counts.get(d - timedelta(days=1), 0)
            if posts < min_posts:
                continue
            lo, hi = _ms(d - timedelta(days=1), 20), _ms(d + timedelta(days=1))
            hits = sorted((a for a in ta if lo <= a["_fired_end_ms"] < hi), key=lambda a: a["_fired_end_ms"])
            neg = [a for a in hits if a["signal"] == "negative_rate"]
            rows[e["kind"]].append({
                "ticker": t, "date": e["date"], "return": e["return"], "posts_day_and_before": posts,
                "any": bool(hits), "negative_rate": bool(neg), "volume": any(a["signal"] == "volume" for a in hits),
                "lead_s": (open_ms(d) - hits[0]["_fired_end_ms"]) / 1000 if hits else None,
                "first_alert": hits[0]["summary"] if hits else None, "baseline": d in base_days,
                "negatives_day": neg_counts.get(d, 0),
                "share_z": round((neg_counts.get(d, 0) - d_counts.get(d, 0) * p_t)
                                 / math.sqrt(max(d_counts.get(d, 0) * p_t * (1 - p_t), 1e-9)), 2)
                if daily_neg is not None and d_counts.get(d, 0) else None})
            base_hits[e["kind"]].append(d in base_days)
        per_ticker[t] = {"alerts": len(ta), "posts": sum(d_counts.values()), "baseline_alerts": len(base_days)}

    def rec(kind: str, key: str) -> float | None:
        r = rows[kind]
        return round(sum(x[key] for x in r) / len(r), 4) if r else None

    leads = [x["lead_s"] for x in rows["down"] if x["lead_s"] is not None]
    tw = len(tickers) * weeks
    return {
        "tickers": len(tickers), "weeks": round(weeks, 2), "ticker_weeks": round(tw, 1),
        "detectable_down_days": len(rows["down"]), "detectable_up_days": len(rows["up"]),
        "recall_any_down": rec("down", "any"), "recall_negative_rate_down": rec("down", "negative_rate"),
        "recall_volume_down": rec("down", "volume"),
        "recall_any_up": rec("up", "any"), "recall_negative_rate_up": rec("up", "negative_rate"),
        "alerts": len(alerts), "alerts_negative_rate": sum(a["signal"] == "negative_rate" for a in alerts),
        "alerts_volume": sum(a["signal"] == "volume" for a in alerts),
        "unmatched_alerts": unmatched["any"], "unmatched_per_ticker_week": round(unmatched["any"] / tw, 4),
        "unmatched_negative_rate_per_ticker_week": round(unmatched["negative_rate"] / tw, 4),
        "unmatched_volume_per_ticker_week": round(unmatched["volume"] / tw, 4),
        "median_lead_s": median(leads) if leads else None,
        "down_days_share_z_ge3": sum((x["share_z"] or 0) >= 3 for x in rows["down"]),
        "down_days_share_z_ge2": sum((x["share_z"] or 0) >= 2 for x in rows["down"]),
        "share_before_open": round(sum(x > 0 for x in leads) / len(leads), 4) if leads else None,
        "baseline_zscore": {
            "definition": "daily cashtag volume z-score vs the trailing 28 days, z >= 3 and >= 5 posts",
            "recall_down": round(sum(base_hits["down"]) / len(base_hits["down"]), 4) if base_hits["down"] else None,
            "recall_up": round(sum(base_hits["up"]) / len(base_hits["up"]), 4) if base_hits["up"] else None,
            "unmatched_per_ticker_week": round(base_unmatched / tw, 4)},
        "down_days": rows["down"], "up_days": rows["up"], "per_ticker": per_ticker,
    }


def evaluate(posts_path: Path, events_path: Path, settings: Settings, cache_dir: Path | None = None,
             tickers: list[str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """(report, windows, alerts)."""
    router = Router(settings.keywords, settings.catch_all_topic, hashtags=False)
    events = load_events(events_path)
    wanted = set(tickers or events)
    posts: list[tuple[str, int, list[str], str]] = []
    invalid = 0
    for raw in read_posts(posts_path):
        post = decode_post(raw, settings.limits)
        if not hasattr(post, "event_ms"):
            invalid += 1
            continue
        topics = [t for t in router.topics(post.text, post.topics) if t in wanted]  # type: ignore[union-attr]
        if topics:
            posts.append((post.id, post.event_ms, topics, post.text or ""))  # type: ignore[union-attr]
    posts.sort(key=lambda p: p[1])
    probs, scorer = score_texts([p[3] for p in posts], settings, cache_dir)
    windows, outcomes = windows_of(posts, probs, settings)
    alerts = [a for a in replay(windows, detector_configs(settings)) if a["status"] == "firing"]
    daily: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    daily_neg: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for (_, ts, topics, _), p in zip(posts, probs, strict=True):
        for t in topics:
            daily[t][_day(ts)] += 1
            daily_neg[t][_day(ts)] += int(np.argmax(p) == 0)
    first, last = _day(posts[0][1]), _day(posts[-1][1])
    report = judge(alerts, events, daily, sorted(wanted), first, last, daily_neg=daily_neg)
    neg_share = float((probs.argmax(1) == 0).mean()) if len(probs) else math.nan
    report.update({"posts": len(posts), "invalid": invalid, "scorer": scorer, "window_s": settings.window_s,
                   "late_events": outcomes.get("late", 0), "events_counted": outcomes.get("added", 0),
                   "negative_share": round(neg_share, 4), "windows": len(windows),
                   "detector": {"scales_s": list(detector_configs(settings).rate.scales_s),
                                "false_alarms_per_week": settings.detect_false_alarms_per_week}})
    return report, windows, alerts


def plot_timelines(windows: list[dict[str, Any]], alerts: list[dict[str, Any]], events: dict[str, list[dict[str, Any]]],
                   out_dir: Path, tickers: list[str]) -> list[Path]:
    """One PNG per ticker: daily posts and negative share, alerts (red: negative rate, orange: volume), down / up
    days (grey / green)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in tickers:
        ws = [w for w in windows if w["topic"] == t]
        if not ws:
            continue
        days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
        for w in ws:
            d = days[_day(w["start_ms"])]
            d[0] += w["n"]
            d[1] += w["negatives"]
        xs = sorted(days)
        fig, ax = plt.subplots(figsize=(14, 3.2))
        ax.bar(xs, [days[x][0] for x in xs], width=1.0, color="#4a78b0", label="posts/day")
        ax2 = ax.twinx()
        share = [days[x][1] / days[x][0] if days[x][0] >= 5 else np.nan for x in xs]
        ax2.plot(xs, share, ".", color="#444", ms=3, label="negative share (days with >= 5 posts)")
        ax2.set_ylim(0, 1)
        for e in events.get(t, []):
            ax.axvline(date.fromisoformat(e["date"]), color="#999" if e["kind"] == "down" else "#3a3", lw=0.8,
                       ls="--")
        for a in alerts:
            if a["topic"] == t:
                ax.axvline(_day(a["_fired_end_ms"]), color="#d22" if a["signal"] == "negative_rate" else "#f90",
                           lw=1.2, alpha=0.8)
        ax.set_title(f"{t}: posts/day (bars), negative share (dots), down days (grey dashed), up (green), "
                     f"alerts (red: negative rate, orange: volume)", fontsize=9)
        fig.tight_layout()
        p = out_dir / f"{t}.png"
        fig.savefig(p, dpi=80)
        plt.close(fig)
        paths.append(p)
    return paths
