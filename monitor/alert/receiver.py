"""A small local webhook receiver (the demo's, and a reference for verifying signatures)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from monitor.alert.payload import verify


class WebhookReceiver:
    """Accepts POSTs on 127.0.0.1, verifies the HMAC signature when a secret is set, keeps the JSON bodies."""

    def __init__(self, secret: str = "", on_alert: Callable[[dict[str, Any]], None] | None = None,
                 fail_first: int = 0, delay_s: float = 0.0) -> None:
        """fail_first: answer 503 to the first N requests (to exercise retries)."""
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.requests = 0
        self.fail_first = fail_first
        self.down = False  # answer 503 to everything while True
        self.delay_s = delay_s  # answer this late (to exercise client timeouts)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests += 1
                if outer.delay_s:
                    __import__("time").sleep(outer.delay_s)
                if outer.down or outer.requests <= outer.fail_first:
                    self.send_response(503)
                elif secret and not verify(secret, self.headers.get("X-Monitor-Timestamp", ""), body,
                                         self.headers.get("X-Monitor-Signature", "")):
                    outer.bad_signatures += 1
                    self.send_response(401)
                else:
                    payload = json.loads(body)
                    outer.received.append(payload)
                    if on_alert:
                        on_alert(payload)
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
