"""Reading the service's topics back for people (`monitor alerts list|tail`, `posts tail`, `windows tail`): readable
times, percentages and fixed-width tables (pure), one kafka-python reader (no consumer group, no commits) and a quick
broker reachability probe."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

TIME_FMT = "%Y-%m-%d %H:%M:%S"
BROKER_HINT = ("Start one with `monitor broker`, or point --bootstrap-servers (or MONITOR_BOOTSTRAP_SERVERS) at a "
               "running Kafka")


class BrokerUnreachable(ConnectionError):
    """No Kafka broker answers at the bootstrap address."""

    def __init__(self, bootstrap: str, detail: str = "") -> None:
        self.bootstrap = bootstrap
        super().__init__(f"cannot reach a Kafka broker at {bootstrap}" + (f" ({detail})" if detail else ""))


class TopicMissing(LookupError):
    """The topic to read does not exist on the broker."""


# ---- formatting (pure) ------------------------------------------------------------------------------------------
def to_ms(value: Any) -> int | None:
    """Epoch milliseconds from epoch ms or an RFC 3339 string; None when it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)
    return None


def when(value: Any) -> str:
    """'2026-12-07 10:13:15' (UTC) from epoch ms or an RFC 3339 string; '-' when missing."""
    ms = to_ms(value)
    if ms is None:
        return "-" if value in (None, "") else str(value)
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(TIME_FMT)
    except (OverflowError, OSError, ValueError):
        return str(value)


def pct(x: Any) -> str:
    """0.4213 -> '42.1 %'; '-' when not a number."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "-"
    return f"{x * 100:.1f} %"


def span(seconds: float | None) -> str:
    """45 -> '45 s', 180 -> '3 min', 3900 -> '1 h 5 min', 183600 -> '2 d 3 h'; '-' when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 and s < 600 else "")
    if s < 86400:
        return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")
    return f"{s // 86400} d" + (f" {s % 86400 // 3600} h" if s % 86400 // 3600 else "")


def clip(text: Any, width: int) -> str:
    """One line of at most `width` characters (an ellipsis marks a cut)."""
    s = " ".join(str(text if text is not None else "").split())
    return s if len(s) <= width else s[: max(0, width - 1)] + "…"


def line(cells: Sequence[Any], widths: Sequence[int]) -> str:
    """A table row: each cell clipped and padded to its width, two spaces apart, trailing blanks dropped."""
    return "  ".join(clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def same_topic(a: str, b: str) -> bool:
    """Topic names compared as a person types them: case-insensitive, `$ACME` = `ACME`, `#brand` = `brand`."""
    return a.lstrip("$#").lower() == b.lstrip("$#").lower()


ALERT_COLUMNS = (("time (UTC)", 19), ("status", 9), ("topic", 16), ("signal", 13), ("observed", 10),
                 ("baseline", 9), ("started (UTC)", 19), ("lasted", 10), ("summary", 110))
POST_COLUMNS = (("time (UTC)", 19), ("label", 8), ("negative", 8), ("topics", 20), ("source", 10), ("text", 90))
WINDOW_COLUMNS = (("window start (UTC)", 19), ("length", 7), ("topic", 16), ("kind", 9), ("posts", 6),
                  ("negative", 8), ("neg", 5), ("neu", 5), ("pos", 5), ("unscored", 8), ("mean score", 10))


def header(columns: Sequence[tuple[str, int]]) -> str:
    return line([c for c, _ in columns], [w for _, w in columns])


def row(columns: Sequence[tuple[str, int]], cells: Sequence[Any]) -> str:
    return line(cells, [w for _, w in columns])


def alert_changed_ms(a: dict[str, Any]) -> int | None:
    """When an alert record's state changed: its end when resolved, else the end of the window that fired it."""
    if a.get("status") == "resolved" and a.get("endsAt"):
        return to_ms(a["endsAt"])
    return to_ms((a.get("window") or {}).get("end")) or to_ms(a.get("startsAt"))


def alert_cells(a: dict[str, Any]) -> list[Any]:
    changed, started = alert_changed_ms(a), to_ms(a.get("startsAt"))
    lasted = span((changed - started) / 1000) if changed is not None and started is not None else "-"
    if a.get("signal") == "volume":
        observed, baseline = f"{a.get('observed_rate', '-'):g} posts" if isinstance(
            a.get("observed_rate"), int | float) else "-", f"~{a.get('baseline_rate', 0):g}"
    else:
        observed, baseline = pct(a.get("observed_rate")), pct(a.get("baseline_rate"))
    status = str(a.get("status", "?")) + (" (silenced)" if a.get("silenced") else "")
    return [when(changed), status, a.get("topic", ""), a.get("signal", ""), observed, baseline, when(started),
            lasted, a.get("summary", "")]


def post_cells(p: dict[str, Any]) -> list[Any]:
    probs = p.get("probs") or {}
    return [when(p.get("event_ms")), p.get("label", ""), pct(probs.get("negative")),
            ",".join(map(str, p.get("topics") or [])), p.get("source", ""), p.get("text", "")]


def window_cells(w: dict[str, Any]) -> list[Any]:
    start, end = to_ms(w.get("start_ms")), to_ms(w.get("end_ms"))
    length = span((end - start) / 1000) if start is not None and end is not None else "-"
    mean = w.get("mean_score")
    return [when(start), length, w.get("topic", ""), w.get("kind", ""), w.get("n", ""),
            pct(w.get("negative_rate")), w.get("negatives", ""), w.get("neutrals", ""), w.get("positives", ""),
            w.get("unscored", 0), f"{mean:+.3f}" if isinstance(mean, int | float) else "-"]


def alert_matches(a: Any, topic: str | None = None, status: str | None = None) -> bool:
    return isinstance(a, dict) and (topic is None or same_topic(str(a.get("topic", "")), topic)) and (
        status is None or a.get("status") == status)


def post_matches(p: Any, topic: str | None = None, label: str | None = None) -> bool:
    return isinstance(p, dict) and (label is None or p.get("label") == label) and (
        topic is None or any(same_topic(str(t), topic) for t in p.get("topics") or []))


def window_matches(w: Any, topic: str | None = None, kind: str | None = "tumbling") -> bool:
    return isinstance(w, dict) and (kind in (None, "all") or w.get("kind") == kind) and (
        topic is None or same_topic(str(w.get("topic", "")), topic))


def json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


# ---- reading (kafka-python) -------------------------------------------------------------------------------------
def broker_reachable(bootstrap: str, timeout_s: float = 3.0) -> str | None:
    """None when one of the bootstrap servers accepts a TCP connection, else why not (the last error)."""
    why = "no bootstrap servers"
    for hostport in (x.strip() for x in bootstrap.split(",") if x.strip()):
        host, _, port = hostport.rpartition(":")
        host = host.strip("[]") or "localhost"
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s):
                return None
        except ValueError:
            why = f"{hostport!r} is not host:port"
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
    return why


def require_broker(bootstrap: str, timeout_s: float = 3.0) -> None:
    why = broker_reachable(bootstrap, timeout_s)
    if why is not None:
        raise BrokerUnreachable(bootstrap, why)


def _decode(m: Any) -> dict[str, Any]:
    try:
        value: Any = json.loads(m.value) if m.value is not None else None
    except ValueError:
        value = m.value.decode("utf-8", "replace")
    return {"key": m.key.decode("utf-8", "replace") if m.key else None, "value": value, "partition": m.partition,
            "offset": m.offset, "timestamp": m.timestamp}


class TopicReader:
    """Records of every partition of a topic, from positions fixed when it was opened (see `read_records`);
    a context manager (closes its consumer)."""

    def __init__(self, consumer: Any, tps: list[Any], follow: bool, timeout_s: float | None) -> None:
        self.c, self.tps, self.follow, self.timeout_s = consumer, tps, follow, timeout_s

    def __iter__(self) -> Iterator[dict[str, Any]]:
        c, tps = self.c, self.tps
        end = c.end_offsets(tps)
        deadline = time.monotonic() + self.timeout_s if self.timeout_s else None
        empty_at_end = 0
        while deadline is None or time.monotonic() < deadline:
            at_end = not self.follow and all(c.position(tp) >= end[tp] for tp in tps)
            batch = c.poll(timeout_ms=300 if at_end else 500)
            if at_end and not any(batch.values()):
                empty_at_end += 1  # Tansu can report an end offset below the last record (see read_all)
                if empty_at_end >= 2:
                    return
                continue
            empty_at_end = 0
            for _tp, msgs in sorted(batch.items(), key=lambda kv: kv[0].partition):
                for m in msgs:
                    yield _decode(m)

    def close(self) -> None:
        self.c.close()

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(bootstrap: str, topic: str, *, from_beginning: bool = True, follow: bool = False,
                 timeout_s: float | None = None, connect_timeout_s: float = 10.0, **client_kw: Any) -> TopicReader:
    """Open a reader of `topic` (dicts as `kafka_io.read_all`'s), positioned before this returns.
    follow=False: up to the end offsets, then stop; follow=True: keep waiting for new records. Either way stop
    after timeout_s (None = no limit). from_beginning=False: only records produced from now on."""
    from kafka import KafkaConsumer, TopicPartition

    require_broker(bootstrap)
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      client_id=f"monitor-inspect-{uuid.uuid4().hex[:6]}",
                      bootstrap_timeout_ms=int(connect_timeout_s * 1000), **client_kw)
    try:
        parts = c.partitions_for_topic(topic)
        if not parts:
            raise TopicMissing(f"topic {topic} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        (c.seek_to_beginning if from_beginning else c.seek_to_end)(*tps)
        for tp in tps:
            c.position(tp)  # resolve the start offsets now: `tail` shows what arrives from this moment
    except BaseException:
        c.close()
        raise
    return TopicReader(c, tps, follow, timeout_s)
