"""Server-rendered HTML and SVG (pure functions of store data): the live topic table, the incidents index, the
incident page (`incident.py`). Every string that came from a post, an alert or a topic name goes through `e()`
(html.escape, quotes included); URLs are built with quote(). No inline script or style: the Content-Security-Policy
forbids both."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from monitor.ui.fmt import CSP, duration, e, iso, layout, ms_of, num, pct, safe_url, when
from monitor.ui.incident import fired_ms, incident_chart, incident_page

__all__ = ["CSP", "e", "incident_chart", "incident_page", "iso", "layout", "num", "pct", "safe_url"]

HOUR_MS = 3_600_000


def topic_row(t: dict[str, Any], ref_ms: int | None = None) -> dict[str, Any]:
    """The live table's row of one topic (also the /api/topics JSON). `n_hour`: posts (scored or not) in the windows
    that ended in the hour up to `ref_ms` (the stream's newest window end; default: this topic's own); `quiet`: none."""
    ws = t["windows"]
    last = ws[-1] if ws else {}
    five = ws[-5:]
    n5 = sum(w["n"] for w in five)
    ref = ref_ms if ref_ms is not None else last.get("end_ms", 0)
    n_hour = sum(w["n"] + w.get("unscored", 0) for w in ws if w["end_ms"] > ref - HOUR_MS)
    return {"topic": t["topic"], "n": last.get("n", 0), "n_hour": n_hour, "quiet": n_hour == 0,
            "neg1": round(last["negatives"] / last["n"], 4) if last.get("n") else None,
            "neg5": round(sum(w["negatives"] for w in five) / n5, 4) if n5 else None,
            "state": "firing" if t.get("firing") else "ok", "fingerprint": t.get("firing"),
            "end_ms": last.get("end_ms"),
            "spark": [round(w["negatives"] / w["n"], 4) if w["n"] else None for w in ws]}


def topic_rows(topics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The live table's rows in order: firing topics first, then by posts in the last hour, then by name. The hour
    is the stream's (up to its newest closed window), so a replay of old posts is not all "quiet". A firing topic is
    never quiet."""
    ref = max((t["windows"][-1]["end_ms"] for t in topics if t["windows"]), default=0)
    rows = [topic_row(t, ref) for t in topics]
    for r in rows:
        r["quiet"] = r["quiet"] and not r["fingerprint"]
    rows.sort(key=lambda r: (not r["fingerprint"], -r["n_hour"], -r["n"], str(r["topic"])))
    return rows


def sparkline(values: list[float | None], w: int = 160, h: int = 28) -> str:
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return f"<svg class=\"spark\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"no data\"></svg>"
    n = max(len(values) - 1, 1)
    line = " ".join(f"{i * w / n:.1f},{h - v * h:.1f}" for i, v in pts)
    return (f"<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" "
            f"aria-label=\"negative share, last {len(values)} windows\"><polyline fill=\"none\" stroke=\"#c0392b\" "
            f"stroke-width=\"1.5\" points=\"{line}\"/></svg>")


def alert_row(a: dict[str, Any]) -> dict[str, Any]:
    """One alert state change for the live page (also the /api/alerts JSON): times in words."""
    window = a.get("window") if isinstance(a.get("window"), dict) else {}
    at = ms_of(a.get("endsAt")) or ms_of(window.get("end")) or ms_of(a.get("startsAt"))
    return {"fingerprint": str(a.get("fingerprint", "")), "topic": a.get("topic"), "signal": a.get("signal"),
            "status": "resolved" if a.get("status") == "resolved" else "firing", "at": when(at),
            "summary": a.get("summary")}


def _alert_li(r: dict[str, Any]) -> str:
    return (f"<li><span class=\"{r['status']}\">{r['status']}</span> <span class=\"muted\">{e(r['at'])}</span> "
            f"<a href=\"/incidents/{quote(r['fingerprint'], safe='')}\">{e(r['topic'])}</a> {e(r['signal'])} — "
            f"{e(r['summary'])}</li>")


TOPIC_HEAD = ("<thead><tr><th scope=\"col\">topic</th><th scope=\"col\">state</th><th scope=\"col\">posts, last "
              "hour</th><th scope=\"col\">posts, last window</th><th scope=\"col\">negative, last window</th>"
              "<th scope=\"col\">negative, last 5 windows</th><th scope=\"col\">negative share, last hour</th></tr></thead>")


def index_page(topics: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> str:
    """Recent alert state changes on top; the topics with posts in the last hour (firing first, then by volume);
    the quiet ones folded into one expandable line. The page's script refreshes all three."""
    rows = topic_rows(topics)
    active = [r for r in rows if not r["quiet"]]
    quiet = [r for r in rows if r["quiet"]]
    body = "".join(_row_html(r) for r in active) or (
        f"<tr class=\"empty\"><td colspan=\"7\">{'no windows yet' if not rows else 'no posts in the last hour'}"
        "</td></tr>")
    recent = "".join(_alert_li(alert_row(a)) for a in alerts) or "<li class=\"empty\">none yet</li>"
    return layout("sentiment monitor — topics", (
        "<h1>Topics</h1><section id=\"recent\"><h2>Recent alert state changes</h2>"
        f"<ul class=\"alerts\" id=\"alerts\" data-api=\"/api/alerts\">{recent}</ul>"
        "<p><a href=\"/incidents\">all incidents</a></p></section>"
        "<p class=\"note\">Closed windows, firing topics first, then by posts in the last hour; refreshed every "
        f"5 s.</p><table id=\"topics\" data-api=\"/api/topics\">{TOPIC_HEAD}<tbody>{body}</tbody></table>"
        f"<details id=\"quiet\"{'' if quiet else ' hidden'}><summary>quiet topics (<span id=\"quiet-count\">"
        f"{len(quiet)}</span>): no post in the last hour</summary><table id=\"quiet-topics\">{TOPIC_HEAD}<tbody>"
        f"{''.join(_row_html(r) for r in quiet)}</tbody></table></details>"))


def _row_html(r: dict[str, Any]) -> str:
    state = (f"<a class=\"firing\" href=\"/incidents/{quote(r['fingerprint'], safe='')}\">firing</a>"
             if r["fingerprint"] else "<span class=\"ok\">ok</span>")
    return (f"<tr><th scope=\"row\">{e(r['topic'])}</th><td>{state}</td><td>{r['n_hour']}</td><td>{r['n']}</td>"
            f"<td>{pct(r['neg1'])}</td><td>{pct(r['neg5'])}</td><td>{sparkline(r['spark'])}</td></tr>")


def incidents_page(incidents: list[dict[str, Any]], topics: list[str], topic: str | None = None,
                   now_ms: int | None = None) -> str:
    """Every incident in the store (firing first, then resolved, newest first), filtered by topic if given."""
    import time

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    rows = "".join(_incident_tr(i, now_ms) for i in incidents) or (
        "<tr><td colspan=\"7\">no incidents" + (f" of {e(topic)}" if topic is not None else "") + "</td></tr>")
    current = ' class="current"'
    filters = " ".join(
        f"<a href=\"/incidents?topic={quote(t, safe='')}\"{current if t == topic else ''}>{e(t)}</a>" for t in topics)
    everything = "<a href=\"/incidents\">all topics</a>" if topic is not None else "<strong>all topics</strong>"
    title = "Incidents" + (f" of {topic}" if topic is not None else "")
    return layout(f"sentiment monitor — {title.lower()}", (
        f"<h1>{e(title)}</h1><p class=\"filters\">topic: {everything} {filters}</p>"
        "<table id=\"incidents\"><thead><tr><th scope=\"col\">status</th><th scope=\"col\">topic</th>"
        "<th scope=\"col\">signal</th><th scope=\"col\">started</th><th scope=\"col\">duration</th>"
        f"<th scope=\"col\">peak</th><th scope=\"col\">summary</th></tr></thead><tbody>{rows}</tbody></table>"))


def _incident_tr(i: dict[str, Any], now_ms: int) -> str:
    a = i["firing"] or i["resolved"]
    last = i["resolved"] or a
    status = "resolved" if i["resolved"] else "firing"
    base = fired_ms(i) or i["starts_ms"]
    took = duration((i["ends_ms"] or now_ms) - base) if base else "—"
    peak = last.get("peak_rate")
    peak_text = num(peak, "{:,.0f}") + " posts" if a.get("signal") == "volume" else pct(peak)
    return (f"<tr><td><a class=\"{status}\" href=\"/incidents/{quote(i['fingerprint'], safe='')}\">{status}</a></td>"
            f"<td><a href=\"/incidents?topic={quote(str(i['topic']), safe='')}\">{e(i['topic'])}</a></td>"
            f"<td>{e(a.get('signal'))}</td><td>{e(when(i['starts_ms']))}</td>"
            f"<td>{e(took)}{'' if i['ends_ms'] else ' so far'}</td><td>{e(peak_text)}</td>"
            f"<td>{e(last.get('summary'))}</td></tr>")


def not_found(what: str) -> str:
    return layout("not found", f"<h1>Not found</h1><p>{e(what)}</p>")
