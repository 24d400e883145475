"""Webhook payloads for an alert state-change record, and the HMAC signature. Pure."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any


def alertmanager_payload(record: dict[str, Any], receiver: str = "monitor",
                         external_url: str = "http://localhost:3000/d/monitor-sentiment") -> dict[str, Any]:
    """Alertmanager webhook v4 JSON, so existing Alertmanager receivers work unchanged."""
    labels = {"alertname": "NegativeSentimentSpike", "topic": record["topic"], "signal": record["signal"],
              "severity": "warning"}
    annotations = {"summary": record["summary"],
                   "observed_rate": str(record["observed_rate"]), "baseline_rate": str(record["baseline_rate"]),
                   "window_posts": str(record["window"]["n"]), "window_negatives": str(record["window"]["negatives"]),
                   "score": str(record["score"]), "p_value": f"{record['p_value']:.3g}",
                   "top_posts": " | ".join(f"{p['id']} ({p['source']}): {p['text'][:80]}"
                                           for p in record.get("top_posts", [])[:3]),
                   "rising_terms": ", ".join(t["term"] for t in record.get("rising_terms", [])),
                   "negative_by_modality": ", ".join(f"{m}={c}" for m, c in record.get("modalities", {}).items())}
    for key in ("runbook_url", "onset", "time_to_detect_s", "scale_windows", "confidence", "evidence_digits"):
        if record.get(key) not in (None, ""):
            annotations[key] = str(record[key])
    status = "firing" if record["status"] == "firing" else "resolved"
    generator = (record.get("incident_url") or record.get("dashboardURL")
                 or f"{external_url}?var-topic={record['topic']}")
    alert = {"status": status, "labels": labels, "annotations": annotations, "startsAt": record["startsAt"],
             "endsAt": record["endsAt"] or "0001-01-01T00:00:00Z", "generatorURL": generator,
             "dashboardURL": record.get("dashboardURL") or generator, "fingerprint": record["fingerprint"]}
    return {"version": "4", "groupKey": f"{{}}:{{topic=\"{record['topic']}\"}}", "truncatedAlerts": 0,
            "status": status, "receiver": receiver, "groupLabels": {"topic": record["topic"]},
            "commonLabels": labels, "commonAnnotations": annotations, "externalURL": external_url,
            "alerts": [alert]}


def slack_payload(record: dict[str, Any]) -> dict[str, Any]:
    icon = ":rotating_light:" if record["status"] == "firing" else ":white_check_mark:"
    return {"text": f"{icon} [{record['status'].upper()}] {record['summary']} (score {record['score']:.4f})"}


def render(record: dict[str, Any], fmt: str) -> bytes:
    if fmt == "alertmanager":
        body: dict[str, Any] = alertmanager_payload(record)
    elif fmt == "slack":
        body = slack_payload(record)
    elif fmt == "raw":
        body = record
    else:
        raise ValueError(f"unknown webhook format {fmt!r}")
    return json.dumps(body, separators=(",", ":")).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over `timestamp + "." + body` (header X-Monitor-Signature: sha256=<hex>)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature_header: str, tolerance_s: float = 300.0,
           now: float | None = None) -> bool:
    """The signature matches and the timestamp (epoch seconds) is within `tolerance_s` of now (0: any age), as
    Stripe and Slack check: a captured request cannot be replayed later."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if tolerance_s and abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    expected = "sha256=" + sign(secret, timestamp, body)
    return hmac.compare_digest(expected, signature_header)
