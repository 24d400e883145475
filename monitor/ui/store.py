"""Bounded SQLite store behind the UI: closed tumbling windows per topic, alert state changes, negative posts.
Retention by age (`retention_h`) and row caps; everything the pages show comes from here, never from a worker's
memory, and it can be rebuilt from Kafka at any time."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("monitor.ui")

SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (topic TEXT, start_ms INTEGER, end_ms INTEGER, n INTEGER, negatives INTEGER,
    unscored INTEGER, rec TEXT, PRIMARY KEY (topic, start_ms));
CREATE TABLE IF NOT EXISTS alerts (fingerprint TEXT, status TEXT, topic TEXT, signal TEXT, starts_ms INTEGER,
    at_ms INTEGER, rec TEXT, PRIMARY KEY (fingerprint, status));
CREATE TABLE IF NOT EXISTS posts (id TEXT PRIMARY KEY, event_ms INTEGER, topics TEXT, p_negative REAL, rec TEXT);
CREATE INDEX IF NOT EXISTS posts_time ON posts (event_ms);
"""


def _ms(iso: Any) -> int:
    from datetime import datetime

    if not isinstance(iso, str) or not iso:
        return 0
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0


Row = tuple[str, tuple[Any, ...]]


def _incident(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One incident from its alert records by status ("firing", "resolved")."""
    first = rows.get("firing") or next(iter(rows.values()))
    return {"firing": rows.get("firing"), "resolved": rows.get("resolved"), "topic": first["topic"],
            "signal": first.get("signal", "negative_rate"), "starts_ms": _ms(first["startsAt"]),
            "ends_ms": _ms(rows["resolved"]["endsAt"]) if rows.get("resolved") else None}


def _window_row(w: dict[str, Any]) -> Row | None:
    if w.get("kind") != "tumbling":
        return None
    return ("INSERT OR REPLACE INTO windows VALUES (?,?,?,?,?,?,?)",
            (w["topic"], w["start_ms"], w["end_ms"], w["n"], w["negatives"], w.get("unscored", 0), json.dumps(w)))


def _alert_row(a: dict[str, Any]) -> Row:
    at = _ms(a.get("endsAt") or (a.get("window") or {}).get("end"))
    return ("INSERT OR REPLACE INTO alerts VALUES (?,?,?,?,?,?,?)",
            (a["fingerprint"], a["status"], a["topic"], a.get("signal", ""), _ms(a["startsAt"]), at, json.dumps(a)))


def _post_row(p: dict[str, Any]) -> Row | None:
    if p.get("label") != "negative":
        return None
    keep = {k: p.get(k) for k in ("id", "topics", "event_ms", "source", "text", "modalities", "probs",
                                  "by_modality", "evidence", "contributions", "media_shed")}
    return ("INSERT OR REPLACE INTO posts VALUES (?,?,?,?,?)",
            (p["id"], p["event_ms"], json.dumps(p.get("topics", [])),
             float((p.get("probs") or {}).get("negative", 0.0)), json.dumps(keep)))


_ROWS: dict[str, Callable[[dict[str, Any]], Row | None]] = {"window": _window_row, "alert": _alert_row,
                                                             "post": _post_row}


class Store:
    def __init__(self, path: Path | str = ":memory:", retention_h: float = 48.0, max_posts: int = 50_000) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.retention_ms = int(retention_h * 3_600_000)
        self.max_posts = max_posts

    # ---- writes (the follower)
    def add_window(self, w: dict[str, Any]) -> None:
        self.add_batch([("window", w)])

    def add_alert(self, a: dict[str, Any]) -> None:
        self.add_batch([("alert", a)])

    def add_post(self, p: dict[str, Any]) -> None:
        """Negative posts only (the incident page's evidence)."""
        self.add_batch([("post", p)])

    def add_batch(self, records: Iterable[tuple[str, dict[str, Any]]]) -> int:
        """Write many records ("window" | "alert" | "post", value) in one transaction (one commit per poll batch,
        not one per row). A record that does not fit (missing keys, odd types) is logged and skipped; the others
        are kept. Returns how many rows were written. Blocking: the follower calls it from a worker thread."""
        written = 0
        with self.lock, self.db:
            for kind, value in records:
                try:
                    row = _ROWS[kind](value)
                    if row is not None:
                        self.db.execute(row[0], row[1])
                        written += 1
                except (KeyError, TypeError, ValueError, AttributeError, sqlite3.Error) as exc:
                    log.warning("ui store: skipping a %s record (%s: %s)", kind, type(exc).__name__, exc)
        return written

    def prune(self, now_ms: int) -> None:
        cut = now_ms - self.retention_ms
        with self.lock, self.db:
            self.db.execute("DELETE FROM windows WHERE end_ms < ?", (cut,))
            # an incident leaves with both its rows once resolved before the cut; a firing row with no resolution and
            # nothing newer than the cut is stale (its worker's state is gone) and leaves too
            self.db.execute("DELETE FROM alerts WHERE fingerprint IN (SELECT fingerprint FROM alerts WHERE "
                            "status = 'resolved' AND at_ms < ?)", (cut,))
            self.db.execute("DELETE FROM alerts WHERE status = 'firing' AND starts_ms < ? AND fingerprint NOT IN "
                            "(SELECT fingerprint FROM alerts WHERE status = 'resolved')", (cut,))
            self.db.execute("DELETE FROM posts WHERE event_ms < ?", (cut,))
            self.db.execute("DELETE FROM posts WHERE id NOT IN (SELECT id FROM posts ORDER BY event_ms DESC LIMIT ?)",
                            (self.max_posts,))

    # ---- reads (the pages)
    def topics(self) -> list[dict[str, Any]]:
        """Per topic: its windows (oldest first, last 60) and whether an incident is firing."""
        with self.lock:
            names = [r[0] for r in self.db.execute("SELECT DISTINCT topic FROM windows ORDER BY topic")]
            firing = {r[0]: r[1] for r in self.db.execute(
                "SELECT topic, fingerprint FROM alerts a WHERE status='firing' AND NOT EXISTS "
                "(SELECT 1 FROM alerts b WHERE b.fingerprint=a.fingerprint AND b.status='resolved')")}
            out = []
            for t in names:
                ws = [json.loads(r[0]) for r in self.db.execute(
                    "SELECT rec FROM windows WHERE topic=? ORDER BY start_ms DESC LIMIT 60", (t,))][::-1]
                out.append({"topic": t, "windows": ws, "firing": firing.get(t)})
            return out

    def incident(self, fingerprint: str) -> dict[str, Any] | None:
        with self.lock:
            rows = {r[0]: json.loads(r[1]) for r in self.db.execute(
                "SELECT status, rec FROM alerts WHERE fingerprint=?", (fingerprint,))}
        return _incident(rows) if rows else None

    def windows_between(self, topic: str, lo_ms: int, hi_ms: int) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r[0]) for r in self.db.execute(
                "SELECT rec FROM windows WHERE topic=? AND start_ms>=? AND end_ms<=? ORDER BY start_ms",
                (topic, lo_ms, hi_ms))]

    def negative_posts(self, topic: str, lo_ms: int, hi_ms: int, limit: int = 10) -> list[dict[str, Any]]:
        """The most negative posts of a topic in [lo, hi), identical texts (reposts) folded into one with `count`."""
        out: dict[str, dict[str, Any]] = {}
        with self.lock:
            rows = self.db.execute(
                "SELECT rec, topics FROM posts WHERE event_ms>=? AND event_ms<? ORDER BY p_negative DESC", (lo_ms, hi_ms))
            for rec, topics in rows:
                if topic not in json.loads(topics):
                    continue
                p = json.loads(rec)
                key = (p.get("text") or "").strip().lower()
                if key in out:
                    out[key]["count"] += 1
                elif len(out) < limit:
                    out[key] = {**p, "count": 1}
        return list(out.values())

    def incidents(self, topic: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Every incident in the store (of one topic if given): firing ones first, then resolved, newest first
        within each; each as `incident()` returns it plus its fingerprint."""
        query = "SELECT fingerprint, status, rec FROM alerts" + (" WHERE topic=?" if topic is not None else "")
        with self.lock:
            rows = self.db.execute(query, (topic,) if topic is not None else ()).fetchall()
        grouped: dict[str, dict[str, Any]] = {}
        for fp, status, rec in rows:
            grouped.setdefault(fp, {})[status] = json.loads(rec)
        out = [{"fingerprint": fp, **_incident(recs)} for fp, recs in grouped.items()]
        out.sort(key=lambda i: (i["resolved"] is not None, -i["starts_ms"], i["fingerprint"]))
        return out[:limit]

    def incident_topics(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.db.execute("SELECT DISTINCT topic FROM alerts ORDER BY topic")]

    def alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r[0]) for r in self.db.execute(
                "SELECT rec FROM alerts ORDER BY at_ms DESC, status LIMIT ?", (limit,))]
