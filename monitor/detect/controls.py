"""Operator controls over detection, pure: per-topic overrides (sensitivity, minimum volume, mute windows) from the
config, and silences by topic (from the silences topic, written by `monitor silence`).

- sensitivity: multiplies the p-value threshold (2 = twice as many windows qualify; 0.1 = ten times stricter);
- min_posts / min_ratio: replace the global values for this topic;
- mute: UTC time-of-day ranges (optionally on given weekdays) in which no new incident fires for the topic (an
  earnings call, a scheduled match); detection state still advances, so nothing is learnt from muting;
- a silence (topic, until) keeps detection and the alert record, marks it `silenced`, and the delivery stage sends
  no webhook for it; like an Alertmanager silence it runs on the wall clock ("no pages for two hours"), which the
  adapter passes in (a replay of old windows is silenced by the silences in force while it runs).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitor.detect.rate import RateConfig

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MuteWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    start: str  # "HH:MM" UTC
    end: str  # "HH:MM" UTC; end < start wraps past midnight
    days: list[str] = Field(default_factory=list)  # empty = every day; else of mon..sun

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        h, _, m = v.partition(":")
        if not (h.isdigit() and m.isdigit() and 0 <= int(h) < 24 and 0 <= int(m) < 60):
            raise ValueError(f"expected HH:MM (UTC), got {v!r}")
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d.lower() not in DAYS]
        if bad:
            raise ValueError(f"days must be of {DAYS}, got {bad}")
        return [d.lower() for d in v]

    def covers(self, at_ms: int) -> bool:
        dt = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
        minute = dt.hour * 60 + dt.minute
        a = int(self.start[:2]) * 60 + int(self.start[3:])
        b = int(self.end[:2]) * 60 + int(self.end[3:])
        inside = a <= minute < b if a <= b else (minute >= a or minute < b)
        day = DAYS[dt.weekday()] if a <= b or minute >= a else DAYS[(dt.weekday() - 1) % 7]
        return inside and (not self.days or day in self.days)


class TopicOverride(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sensitivity: float = Field(default=1.0, gt=0)
    min_posts: int | None = Field(default=None, ge=1)
    min_ratio: float | None = Field(default=None, gt=1.0)
    mute: list[MuteWindow] = Field(default_factory=list)


def rate_config_for(base: RateConfig, override: TopicOverride | None) -> RateConfig:
    if override is None:
        return base
    return replace(base, sensitivity=base.sensitivity * override.sensitivity,
                   min_posts=override.min_posts or base.min_posts, min_ratio=override.min_ratio or base.min_ratio)


def muted(override: TopicOverride | None, at_ms: int) -> bool:
    return bool(override) and any(m.covers(at_ms) for m in override.mute)  # type: ignore[union-attr]


def active_silence(silences: dict[str, dict[str, Any]], topic: str, at_ms: int) -> dict[str, Any] | None:
    """The silence covering this topic at this (wall-clock) time, if any (`*` silences every topic)."""
    for key in (topic, "*"):
        s = silences.get(key)
        if s and int(s.get("starts_ms", 0)) <= at_ms < int(s["until_ms"]):
            return s
    return None


def apply_silence_record(silences: dict[str, dict[str, Any]], key: str, value: dict[str, Any] | None) -> None:
    """Fold one record of the (compacted) silences topic: a value sets the topic's silence, a tombstone expires it."""
    if value is None or value.get("expired"):
        silences.pop(key, None)
    else:
        silences[key] = value
