"""Formatting shared by the UI's pages (pure): escaping, safe links, readable numbers, percentages, durations, times
and the evidence of an alert in words. Every string that came from a post, an alert or a topic name goes through
`e()` (html.escape, quotes included)."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def safe_url(url: Any) -> str | None:
    """An alert's link, only if it is http(s) or a relative path (never javascript:, data: ...)."""
    if not isinstance(url, str) or not url.strip():
        return None
    scheme = urlparse(url.strip()).scheme.lower()
    return url.strip() if scheme in ("http", "https") or (not scheme and not url.strip().startswith("//")) else None


def as_float(value: Any) -> float | None:
    """A number from a record (records are not trusted to be typed); None for anything else (NaN included)."""
    if isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def num(value: Any, fmt: str = "{:.2f}") -> str:
    """A number from a record, formatted; anything else shown escaped."""
    x = as_float(value)
    if x is not None:
        return fmt.format(x)
    return e(value) if value is not None else "—"


def pct(x: Any) -> str:
    """A share as a percentage a person reads: 0.7 -> "70%", 0.004 -> "0.4%", 0 -> "0%"; "—" when not a number.
    Anything that is not a number is shown escaped (never raw markup)."""
    v = as_float(x)
    if v is None:
        return "—" if x is None else e(x)
    if v != 0 and abs(v) < 0.1:
        return f"{v * 100:.1f}%"
    return f"{v * 100:.0f}%"


def duration(ms: Any) -> str:
    """A duration in milliseconds in words: "45 s", "12 min", "1 h 05 min", "2 d 3 h"; "—" when unknown."""
    v = as_float(ms)
    if v is None or v < 0:
        return "—"
    s = int(round(v / 1000))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, rest = divmod(s, 60)
        return f"{m} min" if m >= 10 or not rest else f"{m} min {rest:02d} s"
    if s < 86_400:
        h, rest = divmod(s, 3600)
        return f"{h} h {rest // 60:02d} min"
    d, rest = divmod(s, 86_400)
    return f"{d} d {rest // 3600} h"


_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def evidence_text(digits: Any) -> str:
    """`evidence_digits` (−log10 p) as a person reads it: 3.8225 -> "p ≈ 1.5×10⁻⁴ (3.8 digits of evidence)"."""
    d = as_float(digits)
    if d is None:
        return "—" if digits is None else e(digits)
    if d < 2:
        return f"p ≈ {10 ** -d:.2g} ({d:.1f} digits of evidence)"
    exp = math.floor(-d)
    mant = 10 ** (-d - exp)
    if round(mant, 1) >= 10:
        mant, exp = mant / 10, exp + 1
    return f"p ≈ {mant:.1f}×10{str(exp).translate(_SUP)} ({d:.1f} digits of evidence)"


def iso(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "—"


def when(ms: int | None) -> str:
    """A readable UTC time to the minute ("2025-11-29 10:10 UTC")."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC") if ms else "—"


def ms_of(value: Any) -> int | None:
    """Milliseconds of an ISO-8601 time from a record; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def layout(title: str, body: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
            "<script src=\"/static/app.js\" defer></script></head><body>"
            "<header><a href=\"/\">sentiment monitor</a> <a href=\"/incidents\">incidents</a></header><main>"
            + body + "</main></body></html>")
