"""Webhook delivery: retries with exponential backoff + full jitter on timeouts / 5xx / 429 (Retry-After honoured,
delta-seconds or HTTP date: `monitor.retry`, the one parser and backoff formula shared with the connectors),
no retry on other 4xx; signed; idempotency key = fingerprint:status. At-least-once: the alerts agent acknowledges
an alert record only after every target accepted it (or refused it for good), so pending deliveries survive a
worker restart. Retries stop after `RetryPolicy.horizon_s` (setting `webhook_give_up_s`), so one dead receiver
cannot stall its alerts partition forever: the alert then goes to the dead-letter topic (`alert_delivery_failed`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from monitor.alert.payload import render, sign
from monitor.retry import full_jitter, parse_retry_after

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    url: str
    secret: str = ""
    timeout_s: float = 5.0
    format: str = "alertmanager"
    name: str = "webhook"

    def __repr__(self) -> str:  # never log the secret, nor the URL (a secret itself for Slack-style receivers)
        return f"Target(name={self.name!r}, url={redact_url(self.url)!r}, format={self.format!r})"


def redact_url(url: str) -> str:
    """scheme://host[:port]/… : no path, query or credentials (Slack-style webhook URLs carry their secret)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}/…" if parts.scheme else "<redacted>"


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 0.5
    cap_s: float = 60.0
    max_attempts: int = 0  # 0 = no limit on attempts (retryable failures only)
    horizon_s: float = 3600.0  # give up once retrying would go past this many seconds (0 = never)

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(self.cap_s, max(0.0, retry_after))
        return full_jitter(attempt, self.base_s, self.cap_s, rng)


def classify(status: int | None) -> str:
    """'ok', 'retry' or 'give_up' for an HTTP status (None = timeout / connection error)."""
    if status is None or status == 429 or status >= 500:
        return "retry"
    if 200 <= status < 300:
        return "ok"
    return "give_up"


async def deliver(session: Any, target: Target, record: dict[str, Any], policy: RetryPolicy,
                  metrics: Any = None, rng: random.Random | None = None) -> str:
    """POST one alert to one target until accepted or refused for good. Returns 'ok' or 'give_up'."""
    import aiohttp

    rng = rng or random.Random()
    body = render(record, target.format)
    attempt = 0
    started = time.monotonic()
    while True:
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Monitor-Timestamp": ts,
                   "Idempotency-Key": f"{record['fingerprint']}:{record['status']}"}
        if target.secret:
            headers["X-Monitor-Signature"] = "sha256=" + sign(target.secret, ts, body)
        status, retry_after = None, None
        t0 = time.perf_counter()
        try:
            async with session.post(target.url, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=target.timeout_s)) as resp:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("webhook %s attempt %d failed: %s", target.name, attempt + 1, type(exc).__name__)
        verdict = classify(status)
        if metrics is not None:
            metrics.alert_deliveries.labels(target.name, verdict).inc()
            metrics.alert_delivery_seconds.observe(time.perf_counter() - t0)
        if verdict != "retry":
            if verdict == "give_up":
                log.error("webhook %s refused alert %s with HTTP %s: not retried", target.name,
                          record["fingerprint"], status)
            return verdict
        attempt += 1
        if policy.max_attempts and attempt >= policy.max_attempts:
            return "give_up"
        pause = policy.backoff(attempt, rng, retry_after)
        if policy.horizon_s and time.monotonic() - started + pause > policy.horizon_s:
            log.error("webhook %s still failing for alert %s after %.0f s: giving up", target.name,
                      record["fingerprint"], time.monotonic() - started)
            return "give_up"
        await asyncio.sleep(pause)
