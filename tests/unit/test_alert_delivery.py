"""Webhook delivery against a real local HTTP receiver that fails, then recovers."""

import asyncio
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.alert.delivery import RetryPolicy, Target, classify, deliver
from monitor.alert.payload import alertmanager_payload, verify

RECORD = {"fingerprint": "abc123", "topic": "AAPL", "signal": "negative_rate", "status": "firing",
          "startsAt": "2026-01-01T00:10:00Z", "endsAt": None,
          "window": {"start": "2026-01-01T00:10:00Z", "end": "2026-01-01T00:11:00Z", "n": 80, "negatives": 50},
          "observed_rate": 0.625, "baseline_rate": 0.2, "score": 0.99999, "p_value": 1e-9, "peak_rate": 0.625,
          "peak_score": 0.99999, "summary": "negative share of AAPL 62% (50/80) vs baseline 20%"}


class Receiver:
    def __init__(self, fail_first: int, fail_status: int = 503, retry_after: str | None = None):
        self.requests: list[tuple[dict, bytes]] = []
        self.fail_first = fail_first
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                if len(outer.requests) <= outer.fail_first:
                    self.send_response(fail_status)
                    if retry_after:
                        self.send_header("Retry-After", retry_after)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


FAST = RetryPolicy(base_s=0.01, cap_s=0.05)


def run(target, policy=FAST):
    async def go():
        import aiohttp

        async with aiohttp.ClientSession() as s:
            return await deliver(s, target, RECORD, policy, rng=random.Random(0))

    return asyncio.run(go())


def test_retries_until_receiver_recovers_and_signature_verifies():
    r = Receiver(fail_first=3)
    try:
        assert run(Target(url=r.url, secret="s3cret")) == "ok"
        assert len(r.requests) == 4
        headers, body = r.requests[-1]
        assert verify("s3cret", headers["X-Monitor-Timestamp"], body, headers["X-Monitor-Signature"])
        assert not verify("wrong", headers["X-Monitor-Timestamp"], body, headers["X-Monitor-Signature"])
        assert headers["Idempotency-Key"] == "abc123:firing"
        assert len({h["Idempotency-Key"] for h, _ in r.requests}) == 1
    finally:
        r.close()


def test_no_retry_on_4xx():
    r = Receiver(fail_first=10, fail_status=400)
    try:
        assert run(Target(url=r.url)) == "give_up"
        assert len(r.requests) == 1
    finally:
        r.close()


def test_retry_after_honoured_on_429():
    assert RetryPolicy().backoff(3, random.Random(0), retry_after=2.0) == 2.0
    r = Receiver(fail_first=1, fail_status=429, retry_after="0")
    try:
        assert run(Target(url=r.url)) == "ok" and len(r.requests) == 2
    finally:
        r.close()


@pytest.mark.parametrize("status,verdict", [(200, "ok"), (204, "ok"), (500, "retry"), (503, "retry"),
                                            (429, "retry"), (None, "retry"), (400, "give_up"), (404, "give_up")])
def test_classify(status, verdict):
    assert classify(status) == verdict


def test_alertmanager_payload_fields():
    p = alertmanager_payload(RECORD)
    assert p["version"] == "4" and p["status"] == "firing" and p["receiver"] == "monitor"
    assert {"groupKey", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"} <= set(p)
    a = p["alerts"][0]
    assert set(a) >= {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    assert a["labels"]["topic"] == "AAPL" and a["labels"]["alertname"] == "NegativeSentimentSpike"
    assert a["startsAt"] == "2026-01-01T00:10:00Z" and a["fingerprint"] == "abc123"
    assert "var-topic=AAPL" in a["generatorURL"]
    assert all(isinstance(v, str) for v in a["annotations"].values())
    json.dumps(p)


def test_verify_rejects_old_timestamps():
    """Hot path v3 #10: a signature with any timestamp used to verify, so a captured request could be replayed."""
    import time

    from monitor.alert.payload import sign, verify

    body, now = b'{"a": 1}', time.time()
    fresh, old = str(int(now)), str(int(now) - 3600)
    assert verify("k", fresh, body, "sha256=" + sign("k", fresh, body))
    assert not verify("k", old, body, "sha256=" + sign("k", old, body))  # replayed an hour later
    assert verify("k", old, body, "sha256=" + sign("k", old, body), tolerance_s=0)  # opt out
    assert not verify("k", "not-a-time", body, "sha256=" + sign("k", "not-a-time", body))
    assert not verify("k", fresh, body, "sha256=" + sign("other", fresh, body))


def test_webhook_urls_are_redacted_in_reprs_and_dead_letters():
    """Hot path v3 #10: a Slack-style webhook URL is a secret; it appeared in Target.__repr__ (logs)."""
    from monitor.alert.delivery import Target, redact_url

    t = Target(url="https://hooks.slack.com/services/T000/B000/XXXXSECRET", secret="s3cr3t")
    assert "XXXXSECRET" not in repr(t) and "s3cr3t" not in repr(t) and "hooks.slack.com" in repr(t)
    assert redact_url("http://user:pw@127.0.0.1:9000/hook?token=abc") == "http://127.0.0.1:9000/…"
