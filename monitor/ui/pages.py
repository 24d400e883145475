"""Server-rendered HTML and SVG (pure functions of store data). Every string that came from a post, an alert or a
topic name goes through `e()` (html.escape, quotes included); URLs are built with quote(). No inline script or
style: the Content-Security-Policy forbids both."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def safe_url(url: Any) -> str | None:
    """An alert's link, only if it is http(s) or a relative path (never javascript:, data: ...)."""
    from urllib.parse import urlparse

    if not isinstance(url, str) or not url.strip():
        return None
    scheme = urlparse(url.strip()).scheme.lower()
    return url.strip() if scheme in ("http", "https") or (not scheme and not url.strip().startswith("//")) else None


def num(value: Any, fmt: str = "{:.2f}") -> str:
    """A number from a record, formatted; anything else shown escaped (records are not trusted to be typed)."""
    try:
        return fmt.format(float(value))
    except (TypeError, ValueError):
        return e(value) if value is not None else "—"


def iso(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "—"


def layout(title: str, body: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
            "<script src=\"/static/app.js\" defer></script></head><body>"
            "<header><a href=\"/\">sentiment monitor</a></header><main>" + body + "</main></body></html>")


def topic_row(t: dict[str, Any]) -> dict[str, Any]:
    """The live table's row of one topic (also the /api/topics JSON)."""
    ws = t["windows"]
    last = ws[-1] if ws else {}
    five = ws[-5:]
    n5 = sum(w["n"] for w in five)
    return {"topic": t["topic"], "n": last.get("n", 0),
            "neg1": round(last["negatives"] / last["n"], 4) if last.get("n") else None,
            "neg5": round(sum(w["negatives"] for w in five) / n5, 4) if n5 else None,
            "state": "firing" if t.get("firing") else "ok", "fingerprint": t.get("firing"),
            "end_ms": last.get("end_ms"),
            "spark": [round(w["negatives"] / w["n"], 4) if w["n"] else None for w in ws]}


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def sparkline(values: list[float | None], w: int = 160, h: int = 28) -> str:
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return f"<svg class=\"spark\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"no data\"></svg>"
    n = max(len(values) - 1, 1)
    line = " ".join(f"{i * w / n:.1f},{h - v * h:.1f}" for i, v in pts)
    return (f"<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" "
            f"aria-label=\"negative share, last {len(values)} windows\"><polyline fill=\"none\" stroke=\"#c0392b\" "
            f"stroke-width=\"1.5\" points=\"{line}\"/></svg>")


def index_page(topics: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> str:
    rows = "".join(_row_html(topic_row(t)) for t in topics) or "<tr><td colspan=\"6\">no windows yet</td></tr>"
    recent = "".join(
        f"<li><a href=\"/incidents/{quote(a['fingerprint'], safe='')}\">{e(a['topic'])}</a> {e(a['signal'])} "
        f"<span class=\"{e(a['status'])}\">{e(a['status'])}</span> {e(a.get('startsAt'))} — {e(a.get('summary'))}</li>"
        for a in alerts) or "<li>none</li>"
    return layout("sentiment monitor — topics", (
        "<h1>Topics</h1><p class=\"note\">Closed one-minute windows; refreshed every 5 s.</p>"
        "<table id=\"topics\" data-api=\"/api/topics\"><thead><tr><th scope=\"col\">topic</th>"
        "<th scope=\"col\">posts (last window)</th><th scope=\"col\">negative 1 m</th><th scope=\"col\">negative 5 m"
        "</th><th scope=\"col\">state</th><th scope=\"col\">negative share, last hour</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><h2>Recent alert state changes</h2><ul class=\"alerts\">{recent}</ul>"))


def _row_html(r: dict[str, Any]) -> str:
    state = (f"<a class=\"firing\" href=\"/incidents/{quote(r['fingerprint'], safe='')}\">firing</a>"
             if r["fingerprint"] else "<span class=\"ok\">ok</span>")
    return (f"<tr><th scope=\"row\">{e(r['topic'])}</th><td>{r['n']}</td><td>{pct(r['neg1'])}</td>"
            f"<td>{pct(r['neg5'])}</td><td>{state}</td><td>{sparkline(r['spark'])}</td></tr>")


def incident_chart(windows: list[dict[str, Any]], baseline: float | None, onset_ms: int | None,
                   fired_ms: int | None, resolved_ms: int | None, w: int = 760, h: int = 260) -> str:
    """Negative share (line) and volume (bars) per window, the baseline (dashed), onset / fired / resolved marks."""
    if not windows:
        return "<p>no windows of this topic in the store for this period</p>"
    lo, hi = windows[0]["start_ms"], windows[-1]["end_ms"]
    span = max(hi - lo, 1)
    top = 20
    ph = h - top - 30

    def x(ms: int) -> float:
        return 40 + (ms - lo) / span * (w - 60)

    vmax = max(max(win["n"] for win in windows), 1)
    bars = "".join(f"<rect x=\"{x(win['start_ms']):.1f}\" y=\"{top + ph - win['n'] / vmax * ph * 0.35:.1f}\" "
                   f"width=\"{max(x(win['end_ms']) - x(win['start_ms']) - 1, 1):.1f}\" "
                   f"height=\"{win['n'] / vmax * ph * 0.35:.1f}\" fill=\"#bdc3c7\"/>" for win in windows)
    pts = " ".join(f"{x((win['start_ms'] + win['end_ms']) // 2):.1f},{top + ph - win['negatives'] / win['n'] * ph:.1f}"
                   for win in windows if win["n"])
    marks = ""
    if baseline is not None:
        yb = top + ph - baseline * ph
        marks += (f"<line x1=\"40\" x2=\"{w - 20}\" y1=\"{yb:.1f}\" y2=\"{yb:.1f}\" stroke=\"#2c3e50\" "
                  f"stroke-dasharray=\"5 4\"/><text x=\"{w - 20}\" y=\"{yb - 4:.1f}\" text-anchor=\"end\">baseline "
                  f"{baseline:.0%}</text>")
    for label, ms, colour in (("onset", onset_ms, "#e67e22"), ("fired", fired_ms, "#c0392b"),
                              ("resolved", resolved_ms, "#27ae60")):
        if ms and lo <= ms <= hi:
            marks += (f"<line x1=\"{x(ms):.1f}\" x2=\"{x(ms):.1f}\" y1=\"{top}\" y2=\"{top + ph}\" stroke=\"{colour}\"/>"
                      f"<text x=\"{x(ms) + 3:.1f}\" y=\"{top + 10}\" fill=\"{colour}\">{label}</text>")
    axis = (f"<text x=\"4\" y=\"{top + 8}\">100%</text><text x=\"4\" y=\"{top + ph}\">0%</text>"
            f"<text x=\"40\" y=\"{h - 6}\">{e(iso(lo))}</text><text x=\"{w - 20}\" y=\"{h - 6}\" "
            f"text-anchor=\"end\">{e(iso(hi))}</text>")
    return (f"<svg id=\"chart\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" "
            "aria-label=\"negative share (line) and posts per window (bars) around the incident\">"
            f"{bars}<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"{pts}\"/>{marks}{axis}</svg>")


def incident_page(inc: dict[str, Any], windows: list[dict[str, Any]], posts: list[dict[str, Any]]) -> str:
    a = inc["firing"] or inc["resolved"]
    status = "resolved" if inc["resolved"] else "firing"
    onset = _ms(a.get("onset"))
    fired = _ms((inc["firing"] or {}).get("window", {}).get("end")) if inc["firing"] else None
    facts = [("topic", a["topic"]), ("signal", a.get("signal")), ("status", status),
             ("started", a.get("startsAt")), ("resolved", (inc["resolved"] or {}).get("endsAt") or "still going"),
             ("observed", a.get("observed_rate")), ("baseline", a.get("baseline_rate")),
             ("evidence (digits)", a.get("evidence_digits")), ("confidence", a.get("confidence")),
             ("time to detect (s)", a.get("time_to_detect_s")), ("summary", a.get("summary"))]
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    mods = a.get("modalities") or {}
    mod_rows = "".join(f"<tr><th scope=\"row\">{e(k)}</th><td>{e(v)}</td></tr>" for k, v in
                       sorted(mods.items(), key=lambda kv: -_float(kv[1]))) or "<tr><td colspan=\"2\">—</td></tr>"
    terms = "".join(f"<li>{e(t.get('term'))} <span class=\"muted\">×{e(t.get('count'))}, lift {e(t.get('lift'))}</span>"
                    "</li>" for t in a.get("rising_terms") or []) or "<li>—</li>"
    post_rows = "".join(_post_row(p) for p in posts) or _top_posts_from_alert(a)
    baseline = _float(a.get("baseline_rate")) if a.get("signal", "negative_rate") == "negative_rate" else None
    links = " · ".join(f"<a href=\"{e(u)}\" rel=\"noopener noreferrer\">{label}</a>" for label, u in
                       (("Grafana", safe_url(a.get("dashboardURL"))), ("runbook", safe_url(a.get("runbook_url"))))
                       if u)
    links = f"<p>{links}</p>" if links else ""
    return layout(f"incident {a['topic']} — {status}", (
        f"<h1>Incident on <span id=\"topic\">{e(a['topic'])}</span> <span class=\"{status}\" id=\"status\">"
        f"{status}</span></h1>{links}<dl class=\"facts\">{dl}</dl>"
        f"<h2>Negative share and volume</h2>{incident_chart(windows, baseline, onset, fired, inc.get('ends_ms'))}"
        "<h2>Posts that drove it</h2><table id=\"posts\"><thead><tr><th scope=\"col\">p(negative)</th>"
        "<th scope=\"col\">text</th><th scope=\"col\">source</th><th scope=\"col\">modalities</th>"
        f"<th scope=\"col\">OCR text / transcript</th></tr></thead><tbody>{post_rows}</tbody></table>"
        f"<h2>Rising terms</h2><ul id=\"terms\">{terms}</ul>"
        f"<h2>Which modality carried it</h2><table id=\"modalities\"><tbody>{mod_rows}</tbody></table>"))


def _post_row(p: dict[str, Any]) -> str:
    ev = p.get("evidence") or {}
    extra = " / ".join(x for x in (ev.get("ocr"), ev.get("transcript")) if x)
    pn = (p.get("probs") or {}).get("negative") if isinstance(p.get("probs"), dict) else None
    count = f" <span class=\"muted\">×{int(p['count'])}</span>" if p.get("count", 1) > 1 else ""
    return (f"<tr><td>{num(pn)}</td><td class=\"text\">{e(p.get('text'))}{count}</td>"
            f"<td>{e(p.get('source'))}</td><td>{e(', '.join(p.get('modalities') or []))}</td>"
            f"<td class=\"text\">{e(extra)}</td></tr>")


def _top_posts_from_alert(a: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{num(p.get('p_negative'))}</td><td class=\"text\">{e(p.get('text'))}</td>"
                   f"<td>{e(p.get('source'))}</td><td>—</td><td></td></tr>" for p in a.get("top_posts") or [])
    return rows or "<tr><td colspan=\"5\">no negative posts recorded</td></tr>"


def _ms(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def not_found(what: str) -> str:
    return layout("not found", f"<h1>Not found</h1><p>{e(what)}</p>")
