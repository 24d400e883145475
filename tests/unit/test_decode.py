import base64
import json

import pytest

from monitor.config import Limits
from monitor.ingest.decode import DecodeFailure, decode_post
from monitor.types import Post

L = Limits(max_message_bytes=4096, max_text_chars=100, max_media=2, max_media_bytes=30)


def enc(obj) -> bytes:
    return json.dumps(obj).encode()


def test_valid_text_post_rfc3339_and_epoch():
    p = decode_post(enc({"id": "a", "created_at": "2026-01-01T00:00:01Z", "text": "hi $AAPL"}), L)
    assert isinstance(p, Post) and p.event_ms == 1767225601000
    q = decode_post(enc({"id": "b", "created_at": 1767225601000, "text": "hi"}), L)
    assert isinstance(q, Post) and q.event_ms == 1767225601000


def test_valid_media_only_post():
    data = base64.b64encode(b"\x89PNG....").decode()
    p = decode_post(enc({"id": "m", "created_at": 0, "media": [{"kind": "image", "mime": "image/png", "data": data}]}), L)
    assert isinstance(p, Post) and p.media[0].kind == "image"


@pytest.mark.parametrize("raw,reason", [
    (b"x" * 5000, "too_large"),
    (b'{"id": "a", ', "invalid_json"),
    (b"\xff\xfe\x00", "invalid_json"),
    (b"[" * 2000 + b"]" * 2000, "invalid_json"),
    (b"[1, 2]", "schema"),
    (enc({"text": "no id"}), "schema"),
    (enc({"id": "a", "created_at": "yesterday", "text": "x"}), "schema"),
    (enc({"id": "a", "created_at": 0, "text": "x", "colour": "red"}), "schema"),
    (enc({"id": "a", "created_at": 0, "text": "   "}), "no_content"),
    (enc({"id": "a", "created_at": 0}), "no_content"),
    (enc({"id": "a", "created_at": 0, "text": "y" * 101}), "text_too_long"),
    (enc({"id": "a", "created_at": 0, "media": [{"kind": "image", "data": "AAAA"}] * 3}), "too_many_media"),
    (enc({"id": "a", "created_at": 0, "media": [{"kind": "image", "data": "A" * 80}]}), "media_too_large"),
    (enc({"id": "a", "created_at": 0, "media": [{"kind": "image", "data": "@@@"}]}), "bad_base64"),
    (enc({"id": "a", "created_at": 0, "media": [{"kind": "audio", "mime": "image/png", "data": "AAAA"}]}), "bad_mime"),
    (enc({"id": "a", "created_at": 0, "media": [{"kind": "image", "uri": "http://x/y.png"}]}), "remote_media_disabled"),
    (enc({"id": "a", "created_at": 0, "media": [{"kind": "image"}]}), "schema"),
    (None, "invalid_json"),
])
def test_failures_have_reasons(raw, reason):
    r = decode_post(raw, L)
    assert isinstance(r, DecodeFailure), r
    assert r.reason == reason, r
    assert r.detail


def test_failure_keeps_post_id_when_known():
    r = decode_post(enc({"id": "keep-me", "created_at": 0, "text": ""}), L)
    assert isinstance(r, DecodeFailure) and r.post_id == "keep-me"


def test_remote_uri_only_with_allowlist():
    raw = enc({"id": "a", "created_at": 0, "media": [{"kind": "image", "uri": "https://cdn.example/x.png"}]})
    assert isinstance(decode_post(raw, L, allow_remote=True, allowlist=["cdn.example"]), Post)
    r = decode_post(raw, L, allow_remote=True, allowlist=["other.example"])
    assert isinstance(r, DecodeFailure) and r.reason == "uri_not_allowed"


def test_inline_media_is_base64_decoded_once_and_kept(monkeypatch):
    data = base64.b64encode(b"\x89PNG....").decode()
    p = decode_post(enc({"id": "m", "created_at": 0, "media": [{"kind": "image", "data": data}]}), L)
    assert isinstance(p, Post)

    def boom(*a, **k):
        raise AssertionError("decoded a second time")

    monkeypatch.setattr(base64, "b64decode", boom)
    assert p.media[0].payload == b"\x89PNG...."  # the bytes from validation, no second decode
    assert p.model_copy().media[0].payload == b"\x89PNG...."


@pytest.mark.parametrize("uri,allow,ok", [
    ("https://CDN.Example/a.png", ["cdn.example"], True),
    ("https://cdn.example/a.png", ["CDN.example"], True),
    ("ftp://cdn.example/a.png", ["cdn.example"], False),
    ("https://cdn.example.evil/a.png", ["cdn.example"], False),
])
def test_decode_and_fetch_share_one_allowlist_rule(uri, allow, ok):
    from monitor.media.fetch import uri_allowed

    raw = enc({"id": "u", "created_at": 0, "media": [{"kind": "image", "uri": uri}]})
    r = decode_post(raw, L, allow_remote=True, allowlist=allow)
    assert isinstance(r, Post) is ok
    assert uri_allowed(uri, allow) is ok
