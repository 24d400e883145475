"""The one backoff formula and the one Retry-After parser, shared by the source connectors (`monitor.sources`) and
webhook delivery (`monitor.alert.delivery`). Standard library only, so anything can import it without cycles."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import overload


def full_jitter(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS architecture blog): uniform(0, min(cap, base * 2^attempt))."""
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempt, 0), 64))
    return rng.uniform(0, ceiling)


@overload
def parse_retry_after(value: str | None, default: float, now: float | None = None) -> float: ...


@overload
def parse_retry_after(value: str | None, default: None = None, now: float | None = None) -> float | None: ...


def parse_retry_after(value: str | None, default: float | None = None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 10.2.3): delta-seconds ("120") or an HTTP date (a date in
    the past: 0). Missing or anything else (negative, NaN, infinite, not a date): `default`."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return default
        if when is None:  # older Pythons return None for an unparsable date
            return default
        if when.tzinfo is None:  # "-0000": UTC all the same
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    if not math.isfinite(seconds) or seconds < 0:
        return default
    return seconds
