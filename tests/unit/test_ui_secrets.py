"""Issue #30 item 10 (UI secrets) and item 9 (UI follower off the loop): the `?token=` never stays in the URL nor
reaches the access log, the cookie is HttpOnly + SameSite=Strict (+ Secure over TLS), every token can come from the
environment or a file; the follower writes one transaction per batch, in a worker thread."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import time
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from monitor.ui.server import COOKIE, build_app
from monitor.ui.store import Store

TOKEN = "s3cret-t0ken"


def test_token_in_the_url_redirects_to_the_same_url_without_it():
    async def go() -> None:
        async with TestClient(TestServer(build_app(Store(), token=TOKEN))) as c:
            r = await c.get(f"/incidents/ab%2Fc?x=1&token={TOKEN}&y=2", allow_redirects=False)
            assert r.status in (302, 303)
            assert r.headers["Location"] == "/incidents/ab%2Fc?x=1&y=2" and TOKEN not in r.headers["Location"]
            cookie = r.headers["Set-Cookie"]
            assert cookie.startswith(f"{COOKIE}={TOKEN}") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
            assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-store"
            r = await c.get(f"/?token={TOKEN}", allow_redirects=False)
            assert r.status in (302, 303) and r.headers["Location"] == "/"
            r = await c.get("/api/topics")  # the cookie carries on
            assert r.status == 200
            r = await c.get("/?token=wrong", allow_redirects=False)
            assert r.status == 401 and "Location" not in r.headers

    asyncio.run(go())


def test_cookie_is_secure_over_tls():
    app = build_app(Store(), token=TOKEN)
    guard = app.middlewares[0]

    async def handler(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def go() -> None:
        req = make_mocked_request("GET", f"/?token={TOKEN}", app=app, sslcontext=ssl.create_default_context())
        assert req.secure
        resp = await guard(req, handler)
        assert resp.status in (302, 303) and resp.headers["Location"] == "/"
        morsel = resp.cookies[COOKIE]
        assert morsel.value == TOKEN and morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Strict"

    asyncio.run(go())


def test_access_log_never_shows_the_token(caplog, monkeypatch):
    from monitor.broker import free_port
    from monitor.config import Settings
    from monitor.ui import follower, server

    async def no_follow(settings: Any, store: Store) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(follower, "follow", no_follow)
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    port = free_port()

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(server.serve(Settings.load(None, env={}), "127.0.0.1", port, TOKEN, stop=stop))
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/api/topics?token={TOKEN}&q=1",
                                        allow_redirects=False) as r:
                        await r.read()
                    break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)
            async with http.get(f"http://127.0.0.1:{port}/?token=wrong") as r:
                assert r.status == 401
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(go())
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("GET /api/topics" in line for line in lines), lines
    assert all(TOKEN not in line and "token=" not in line and "?" not in line for line in lines), lines


# ---- tokens from the environment or a file ------------------------------------------------------------------------
def _ui_token(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> str | None:
    from monitor.cli import build_parser
    from monitor.ui import server

    got: list[str | None] = []

    async def fake_serve(settings: Any, host: str, port: int, token: str | None, *a: Any) -> None:
        got.append(token)

    monkeypatch.setattr(server, "serve", fake_serve)
    args = build_parser().parse_args(["ui", *argv])
    assert args.func(args) == 0
    return got[0]


def test_ui_token_from_env_file_or_flag(monkeypatch, tmp_path):
    monkeypatch.delenv("MONITOR_UI_TOKEN", raising=False)
    assert _ui_token(monkeypatch, []) is None
    monkeypatch.setenv("MONITOR_UI_TOKEN", "from-env")
    assert _ui_token(monkeypatch, []) == "from-env"
    f = tmp_path / "ui.token"
    f.write_text("from-file\n")
    assert _ui_token(monkeypatch, ["--token-file", str(f)]) == "from-file"
    assert _ui_token(monkeypatch, ["--token", "from-flag"]) == "from-flag"  # the old flag still works
    with pytest.raises(SystemExit):
        _ui_token(monkeypatch, ["--token", "a", "--token-file", str(f)])
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SystemExit):
        _ui_token(monkeypatch, ["--token-file", str(tmp_path / "empty")])


def _ingest_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str]) -> str | None:
    from monitor.cli import build_parser
    from monitor.sources import adapters, http_ingest, runtime

    got: list[str | None] = []

    class Pub:
        def __init__(self, settings: Any) -> None:
            pass

        def close(self) -> None:
            pass

    async def fake_mastodon(run: Any, base: str, hashtag: str | None, token: str | None, local: bool) -> None:
        got.append(token)

    async def fake_http(run: Any, host: str, port: int, token: str | None) -> None:
        got.append(token)

    monkeypatch.setattr(runtime, "Publisher", Pub)
    monkeypatch.setattr(adapters, "run_mastodon", fake_mastodon)
    monkeypatch.setattr(http_ingest, "serve", fake_http)
    args = build_parser().parse_args(["ingest", *argv, "--checkpoint", str(tmp_path / "cp.json")])
    assert args.func(args) == 0
    return got[0]


def test_ingest_tokens_from_env_file_or_flag(monkeypatch, tmp_path):
    masto = ["mastodon", "--base", "https://a.social"]
    monkeypatch.setenv("MONITOR_MASTODON_TOKEN", "m-env")
    monkeypatch.setenv("MONITOR_INGEST_TOKEN", "i-env")
    assert _ingest_token(monkeypatch, tmp_path, masto) == "m-env"
    assert _ingest_token(monkeypatch, tmp_path, ["http"]) == "i-env"
    f = tmp_path / "tok"
    f.write_text("  i-file \n")
    assert _ingest_token(monkeypatch, tmp_path, ["http", "--token-file", str(f)]) == "i-file"
    assert _ingest_token(monkeypatch, tmp_path, [*masto, "--token-file", str(f)]) == "i-file"
    assert _ingest_token(monkeypatch, tmp_path, [*masto, "--token", "m-flag"]) == "m-flag"
    monkeypatch.delenv("MONITOR_MASTODON_TOKEN")
    assert _ingest_token(monkeypatch, tmp_path, masto) is None


# ---- the follower: one transaction per batch, off the event loop --------------------------------------------------
TP = namedtuple("TP", "topic partition")


def test_follower_writes_one_transaction_per_batch_off_the_loop(monkeypatch):
    from monitor import kafka_follow
    from monitor.config import Settings
    from monitor.ui import follower

    s = Settings.load(None, env={})
    now = int(time.time() * 1000)
    win = [{"topic": "ACME", "kind": "tumbling", "start_ms": now + i * 60_000, "end_ms": now + (i + 1) * 60_000,
            "n": 10, "negatives": 2} for i in range(5)]
    post = {"id": "p1", "label": "negative", "event_ms": now, "topics": ["ACME"], "text": "bad",
            "probs": {"negative": 0.9}}

    def rec(value: Any, offset: int) -> SimpleNamespace:
        return SimpleNamespace(value=value if isinstance(value, bytes) else json.dumps(value).encode(), offset=offset)

    batches = [
        {TP(s.topic_windows, 0): [rec(w, i) for i, w in enumerate(win[:3])] + [rec(b"{not json", 3)],
         TP(s.topic_scored, 0): [rec(post, 0), rec({"label": "negative"}, 1)]},  # the last one lacks its keys
        {TP(s.topic_windows, 0): [rec(w, 10 + i) for i, w in enumerate(win[3:])]},
    ]
    loop_thread: list[int] = []

    async def fake_follow(settings: Any, topics: list[str], on_batch: Any, name: str, on_idle: Any = None,
                          retry_s: float = 5.0) -> None:
        loop_thread.append(threading.get_ident())
        for b in batches:
            on_batch(b)
            await asyncio.sleep(0)

    monkeypatch.setattr(kafka_follow, "follow_topics", fake_follow)
    store = Store()
    trace: list[tuple[str, int]] = []
    store.db.set_trace_callback(lambda sql: trace.append((sql.strip().split()[0].upper(), threading.get_ident())))
    asyncio.run(follower.follow(s, store))
    store.db.set_trace_callback(None)
    assert len(store.topics()[0]["windows"]) == 5 and [p["id"] for p in store.negative_posts("ACME", 0, 2 * now)] == ["p1"]
    begins = [t for sql, t in trace if sql == "BEGIN"]
    inserts = [t for sql, t in trace if sql == "INSERT"]
    assert len(begins) == 2 and len(inserts) == 6  # one transaction per poll batch, not one per row
    assert loop_thread and all(t != loop_thread[0] for _, t in trace)  # none of it on the event loop's thread
