"""SSRF-safe remote media fetching against a real local HTTP server."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.media import MediaError
from monitor.media.fetch import _public, fetch


@pytest.fixture(scope="module")
def server():
    class H(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/img":
                body = b"x" * 100
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/big":
                self.send_response(200)
                self.end_headers()  # no Content-Length: the cap applies while reading
                self.wfile.write(b"y" * 5000)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://localhost:{srv.server_address[1]}"
    srv.shutdown()


def reason(fn):
    with pytest.raises(MediaError) as e:
        fn()
    return e.value.reason


def test_private_addresses_are_refused_by_default(server):
    assert reason(lambda: fetch(f"{server}/img", ["localhost"], 1000)) == "uri_private_address"


@pytest.mark.parametrize("ip,public", [("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.1", False),
                                       ("169.254.169.254", False), ("::1", False), ("::ffff:10.0.0.1", False),
                                       ("0.0.0.0", False), ("8.8.8.8", True), ("2606:4700::1111", True)])
def test_public_address_classification(ip, public):
    assert _public(ip) is public


def test_allowlist_scheme_and_credentials(server):
    assert reason(lambda: fetch(f"{server}/img", ["example.com"], 1000)) == "uri_not_allowed"
    assert reason(lambda: fetch("file:///etc/passwd", ["localhost"], 1000)) == "uri_not_allowed"
    assert reason(lambda: fetch("http://user:pw@localhost/x", ["localhost"], 1000)) == "uri_not_allowed"


def test_fetch_when_private_allowed(server):
    assert fetch(f"{server}/img", ["localhost"], 1000, allow_private=True) == b"x" * 100
    assert reason(lambda: fetch(f"{server}/redirect", ["localhost"], 1000, allow_private=True)) == "fetch_failed"
    assert reason(lambda: fetch(f"{server}/missing", ["localhost"], 1000, allow_private=True)) == "fetch_failed"
    assert reason(lambda: fetch(f"{server}/big", ["localhost"], 1000, allow_private=True)) == "media_too_large"


def test_a_dead_image_link_sheds_the_media_and_scores_the_text(server):
    """#30.5: a remote image that cannot be fetched (404 here) is not the post's fault: the post is scored on its
    text, marked shed with `media_fetch_failed`, never dead-lettered. Without text there is nothing to score: DLQ."""
    from datetime import UTC, datetime

    from monitor.config import Settings
    from monitor.ingest.records import scored_record
    from monitor.score.factory import build_scorer
    from monitor.types import Media, Post

    s = Settings.load(None, env={}, scorer="vader", allow_remote_media=True, remote_media_allowlist=["localhost"],
                      remote_media_allow_private=True)
    scorer = build_scorer(s)
    now = datetime.now(UTC)
    dead = [Media(kind="image", mime="image/png", uri=f"{server}/gone.png")]
    posts = [Post(id="a", created_at=now, text="$ACME terrible recall, awful losses", media=dead),
             Post(id="b", created_at=now, text=None, media=dead)]
    a, b = scorer.score(posts)
    assert a.error is None and a.label == "negative" and a.shed_reason == "media_fetch_failed"
    assert "404" in a.evidence["media_error"]
    rec = scored_record(posts[0], a, ["ACME"], 0.0, "media")
    assert rec["media_shed"] is True and rec["shed_reason"] == "media_fetch_failed"
    assert b.error and b.reason == "fetch_failed"
