"""The incident page (pure): facts in words and percentages (peak, duration, posts involved, evidence), a chart of
the negative share and the volume with a time axis, a share axis and a volume scale, the posts that drove it, the
rising terms (log-odds, `terms.py`) and the modalities; sections and columns only when they hold something."""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import quote, urlparse

from monitor.ui.fmt import as_float, duration, e, evidence_text, layout, ms_of, pct, safe_url, when
from monitor.ui.terms import rising

TICK_STEPS_MIN = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)


def time_ticks(lo_ms: int, hi_ms: int, max_ticks: int = 8) -> list[int]:
    """Round times (multiples of 1, 2, 5, 10, 15, 30 min, 1 h ...) within [lo, hi], at most `max_ticks` of them."""
    span = max(hi_ms - lo_ms, 1)
    step = next((m * 60_000 for m in TICK_STEPS_MIN if span / (m * 60_000) <= max_ticks), 1440 * 60_000)
    first = -(-lo_ms // step) * step
    return list(range(first, hi_ms + 1, step))


def nice_ceiling(x: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above x (a volume scale's top); 1 for x <= 1."""
    if x <= 1:
        return 1.0
    mag = 10 ** math.floor(math.log10(x))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= x)


def runbook_link(url: Any) -> str | None:
    """Where the runbook link goes: an absolute http(s) `runbook_url` (a `runbook_base_url` setting with a host) as
    it is; a relative one (the default `docs/runbooks/<signal>.md`) to this UI's `/runbooks/<name>`."""
    safe = safe_url(url)
    if safe is None:
        return None
    if urlparse(safe).scheme:
        return safe
    name = safe.rstrip("/").rsplit("/", 1)[-1].removesuffix(".md")
    return f"/runbooks/{quote(name, safe='')}" if name else None


class Chart:
    """Geometry of the incident chart: plot area, x of a time, y of a share."""

    def __init__(self, lo: int, hi: int, w: int = 860, h: int = 330) -> None:
        self.lo, self.hi, self.w, self.h = lo, hi, w, h
        self.left, self.right, self.top, self.bottom = 44, w - 84, 50, h - 40  # marks' labels above the plot

    def x(self, ms: int) -> float:
        return self.left + (ms - self.lo) / max(self.hi - self.lo, 1) * (self.right - self.left)

    def y(self, share: float) -> float:
        return self.bottom - share * (self.bottom - self.top)


def _axes(c: Chart, vmax: float) -> str:
    """Share grid and labels (left), volume scale (right, bars use the lower 35 %), time ticks (bottom)."""
    out = []
    for share in (0, 0.25, 0.5, 0.75, 1):
        y = c.y(share)
        out.append(f"<line class=\"grid\" x1=\"{c.left}\" x2=\"{c.right}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" "
                   f"stroke=\"#e3e3e3\"/><text x=\"{c.left - 4}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">"
                   f"{share:.0%}</text>")
    for frac in (0, 0.5, 1):
        y = c.bottom - frac * 0.35 * (c.bottom - c.top)
        label = f"{vmax * frac:g}"
        out.append(f"<line x1=\"{c.right}\" x2=\"{c.right + 4}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" stroke=\"#7f8c8d\"/>"
                   f"<text class=\"vtick\" x=\"{c.right + 6}\" y=\"{y + 4:.1f}\">{label}</text>")
    out.append(f"<text x=\"{c.w - 2}\" y=\"{c.bottom - 0.35 * (c.bottom - c.top) - 14:.1f}\" text-anchor=\"end\">"
               "posts/window</text>")
    for t in time_ticks(c.lo, c.hi):
        x = c.x(t)
        out.append(f"<line x1=\"{x:.1f}\" x2=\"{x:.1f}\" y1=\"{c.bottom}\" y2=\"{c.bottom + 4}\" stroke=\"#7f8c8d\"/>"
                   f"<text class=\"tick\" x=\"{x:.1f}\" y=\"{c.bottom + 16}\" text-anchor=\"middle\">"
                   f"{e(when(t)[11:16])}</text>")
    out.append(f"<text x=\"{c.left}\" y=\"{c.h - 6}\">{e(when(c.lo)[:10])} (times UTC)</text>")
    return "".join(out)


def _marks(c: Chart, baseline: float | None, onset: int | None, fired: int | None, resolved: int | None) -> str:
    out = ""
    if baseline is not None:
        yb = c.y(baseline)
        out += (f"<line x1=\"{c.left}\" x2=\"{c.right}\" y1=\"{yb:.1f}\" y2=\"{yb:.1f}\" stroke=\"#2c3e50\" "
                f"stroke-dasharray=\"5 4\"/><text x=\"{c.left + 4}\" y=\"{yb - 4:.1f}\">baseline {pct(baseline)}"
                "</text>")
    marks = (("onset", onset, "#e67e22"), ("fired", fired, "#c0392b"), ("resolved", resolved, "#27ae60"))
    for row, (label, ms, colour) in enumerate(marks):  # one label row each: they never overlap
        if ms and c.lo <= ms <= c.hi:
            x = c.x(ms)
            flip = x > c.right - 70
            anchor = ' text-anchor="end"' if flip else ""
            out += (f"<line x1=\"{x:.1f}\" x2=\"{x:.1f}\" y1=\"{11 + 13 * row}\" y2=\"{c.bottom}\" "
                    f"stroke=\"{colour}\"/><text class=\"mark\" x=\"{x - 3 if flip else x + 3:.1f}\" "
                    f"y=\"{13 + 13 * row}\" "
                    f"fill=\"{colour}\"{anchor}>{label} {e(when(ms)[11:16])}</text>")
    return out


def incident_chart(windows: list[dict[str, Any]], baseline: float | None, onset_ms: int | None,
                   fired_ms: int | None, resolved_ms: int | None) -> str:
    """Negative share (line) and volume (bars) per window, the baseline (dashed), onset / fired / resolved marks."""
    if not windows:
        return "<p>no windows of this topic in the store for this period</p>"
    c = Chart(windows[0]["start_ms"], windows[-1]["end_ms"])
    vmax = nice_ceiling(max(w["n"] for w in windows))
    vh = 0.35 * (c.bottom - c.top)
    bars = "".join(f"<rect x=\"{c.x(w['start_ms']):.1f}\" y=\"{c.bottom - w['n'] / vmax * vh:.1f}\" "
                   f"width=\"{max(c.x(w['end_ms']) - c.x(w['start_ms']) - 1, 1):.1f}\" "
                   f"height=\"{w['n'] / vmax * vh:.1f}\" fill=\"#bdc3c7\"/>" for w in windows)
    pts = " ".join(f"{c.x((w['start_ms'] + w['end_ms']) // 2):.1f},{c.y(w['negatives'] / w['n']):.1f}"
                   for w in windows if w["n"])
    return (f"<svg id=\"chart\" width=\"{c.w}\" height=\"{c.h}\" viewBox=\"0 0 {c.w} {c.h}\" role=\"img\" "
            "aria-label=\"negative share (line) and posts per window (bars) around the incident\">"
            f"{_axes(c, vmax)}{bars}<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"{pts}\"/>"
            f"{_marks(c, baseline, onset_ms, fired_ms, resolved_ms)}</svg>")


def fired_ms(inc: dict[str, Any]) -> int | None:
    """When the incident fired: the end of its firing record's window."""
    window = (inc.get("firing") or {}).get("window")
    return ms_of(window.get("end")) if isinstance(window, dict) else None


def involved(windows: list[dict[str, Any]], lo_ms: int, hi_ms: int) -> dict[str, Any]:
    """Posts and negatives in the windows that start within [lo, hi), their number and the peak negative share."""
    inside = [w for w in windows if lo_ms <= w["start_ms"] < hi_ms]
    shares = [w["negatives"] / w["n"] for w in inside if w["n"]]
    return {"windows": len(inside), "n": sum(w["n"] for w in inside),
            "negatives": sum(w["negatives"] for w in inside), "peak": max(shares) if shares else None,
            "peak_n": max((w["n"] + w.get("unscored", 0) for w in inside), default=None)}


def facts(inc: dict[str, Any], windows: list[dict[str, Any]], now_ms: int) -> list[tuple[str, str, str]]:
    """(key, label, text) of the incident's facts, in words; only those known."""
    a = inc["firing"] or inc["resolved"]
    last = inc["resolved"] or a
    fired = fired_ms(inc)
    started, resolved = inc["starts_ms"], inc.get("ends_ms")
    inv = involved(windows, started, resolved or now_ms)
    volume = a.get("signal") == "volume"
    peak = as_float(last.get("peak_rate"))
    peak = inv["peak_n" if volume else "peak"] if peak is None else peak
    rows = [("status", "status", "resolved" if resolved else "firing"), ("signal", "signal", a.get("signal") or "—"),
            ("started", "started", when(started)), ("fired", "fired", when(fired) if fired else "—"),
            ("resolved", "resolved", when(resolved) if resolved else "still going"),
            ("duration", "duration", duration((resolved or now_ms) - (fired or started)) + ("" if resolved else
                                                                                           " so far")
             if fired or started else "—")]
    if volume:
        rows += [("observed", "posts in the firing window", _count(a.get("observed_rate"))),
                 ("baseline", "expected", _count(a.get("baseline_rate"))),
                 ("peak", "peak posts in a window", _count(peak))]
    else:
        rows += [("observed", "negative share when it fired", pct(a.get("observed_rate"))),
                 ("baseline", "baseline", pct(a.get("baseline_rate"))), ("peak", "peak negative share", pct(peak))]
    if inv["windows"]:
        rows.append(("posts", "posts involved", f"{inv['negatives']} negative of {inv['n']} posts in "
                                                f"{inv['windows']} window{'s' if inv['windows'] != 1 else ''}"))
    rows += [("evidence", "evidence", evidence_text(a.get("evidence_digits"))),
             ("confidence", "confidence", str(a.get("confidence") or "—")),
             ("ttd", "time to detect", duration(_times(a.get("time_to_detect_s"), 1000))),
             ("summary", "summary", str(a.get("summary") or "—"))]
    return [r for r in rows if r[2] not in ("—", "")]


def _count(x: Any) -> str:
    v = as_float(x)
    return "—" if v is None else f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def _times(x: Any, k: float) -> float | None:
    v = as_float(x)
    return None if v is None else v * k


def incident_page(inc: dict[str, Any], windows: list[dict[str, Any]], posts: list[dict[str, Any]],
                  now_ms: int | None = None) -> str:
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    a = inc["firing"] or inc["resolved"]
    status = "resolved" if inc["resolved"] else "firing"
    fired = fired_ms(inc)
    dl = "".join(f"<dt>{e(label)}</dt><dd id=\"fact-{key}\">{e(text)}</dd>" for key, label, text in
                 facts(inc, windows, now_ms))
    baseline = as_float(a.get("baseline_rate")) if a.get("signal", "negative_rate") == "negative_rate" else None
    links = [(label, u) for label, u in (("Grafana", safe_url(a.get("dashboardURL"))),
                                        ("runbook", runbook_link(a.get("runbook_url"))),
                                        (f"all incidents of {a['topic']}",
                                         f"/incidents?topic={quote(str(a['topic']), safe='')}")) if u]
    link_html = " · ".join(f"<a id=\"link-{e(label.split()[0])}\" href=\"{e(u)}\" rel=\"noopener noreferrer\">"
                           f"{e(label)}</a>" for label, u in links)
    return layout(f"incident {a['topic']} — {status}", (
        f"<h1>Incident on <span id=\"topic\">{e(a['topic'])}</span> <span class=\"{status}\" id=\"status\">"
        f"{status}</span></h1><p class=\"links\">{link_html}</p><dl class=\"facts\">{dl}</dl>"
        f"<h2>Negative share and volume</h2>"
        f"{incident_chart(windows, baseline, ms_of(a.get('onset')), fired, inc.get('ends_ms'))}"
        f"<h2>Posts that drove it</h2>{posts_table(posts, a)}"
        f"{terms_section(inc, windows, a, now_ms)}{modalities_section(a)}"))


POST_COLUMNS = (("p(negative)", "pn"), ("text", "text"), ("source", "source"), ("modalities", "mods"),
                ("OCR text / transcript", "extra"))


def _post_cells(p: dict[str, Any]) -> dict[str, str]:
    ev = p.get("evidence") if isinstance(p.get("evidence"), dict) else {}
    probs = p.get("probs") if isinstance(p.get("probs"), dict) else {}
    pn = probs.get("negative") if probs else p.get("p_negative")
    count = p.get("count", 1)
    mods = p.get("modalities") if isinstance(p.get("modalities"), list) else []
    return {"pn": pct(pn), "text": e(p.get("text")) + (f" <span class=\"muted\">×{int(count)}</span>"
                                                     if isinstance(count, int) and count > 1 else ""),
            "source": e(p.get("source") or ""), "mods": e(", ".join(str(m) for m in mods)),
            "extra": e(" / ".join(str(x) for x in (ev.get("ocr"), ev.get("transcript")) if x))}


def posts_table(posts: list[dict[str, Any]], a: dict[str, Any]) -> str:
    """The most negative posts (from the store, else the alert's top posts); a column only if some post fills it."""
    rows = [_post_cells(p) for p in posts] or [_post_cells(p) for p in a.get("top_posts") or [] if isinstance(p, dict)]
    if not rows:
        return "<p id=\"posts\">no negative posts recorded</p>"
    cols = [(title, key) for title, key in POST_COLUMNS if key in ("pn", "text") or any(r[key] for r in rows)]
    head = "".join(f"<th scope=\"col\">{title}</th>" for title, _ in cols)
    body = "".join("<tr>" + "".join(f"<td class=\"{'text' if key in ('text', 'extra') else key}\">{r[key]}</td>"
                                    for _, key in cols) + "</tr>" for r in rows)
    return f"<table id=\"posts\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def terms_section(inc: dict[str, Any], windows: list[dict[str, Any]], a: dict[str, Any], now_ms: int) -> str:
    """Rising terms by log-odds from the stored windows; else the alert's own list, as it came."""
    ranked = rising(windows, inc["starts_ms"], inc.get("ends_ms") or now_ms)
    if ranked:
        items = "".join(f"<li>{e(t['term'])} <span class=\"muted\">{t['count']} in the incident, {t['before']} "
                        f"in the hour before (z {t['z']:.1f})</span></li>" for t in ranked)
        note = ("<p class=\"note\">Ranked by log-odds with an informative prior (Monroe et al. 2008) of the terms "
                "in negative posts during the incident vs the hour before.</p>")
        return f"<h2>Rising terms</h2>{note}<ol id=\"terms\">{items}</ol>"
    alert_terms = [t for t in a.get("rising_terms") or [] if isinstance(t, dict)]
    if not alert_terms:
        return ""
    items = "".join(f"<li>{e(t.get('term'))} <span class=\"muted\">×{e(t.get('count'))}, lift "
                    f"{_count(t.get('lift')) if as_float(t.get('lift')) is not None else e(t.get('lift'))}</span></li>"
                    for t in alert_terms)
    return f"<h2>Rising terms</h2><ol id=\"terms\">{items}</ol>"


def modalities_section(a: dict[str, Any]) -> str:
    mods = a.get("modalities") if isinstance(a.get("modalities"), dict) else {}
    if not mods:
        return ""
    rows = "".join(f"<tr><th scope=\"row\">{e(k)}</th><td>{e(v)}</td></tr>" for k, v in
                   sorted(mods.items(), key=lambda kv: -(as_float(kv[1]) or 0.0)))
    return f"<h2>Which modality carried it</h2><table id=\"modalities\"><tbody>{rows}</tbody></table>"
