"""bytes -> Post, or a DecodeFailure with a machine-readable reason. Pure: never raises on input."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from pydantic import ValidationError

from monitor.config import Limits
from monitor.media.fetch import uri_allowed
from monitor.types import Media, Post

REASONS = ("too_large", "invalid_json", "schema", "no_content", "bad_base64", "media_too_large",
           "too_many_media", "text_too_long", "remote_media_disabled", "uri_not_allowed", "bad_mime",
           "scorer_error", "bad_image", "image_too_many_pixels", "unsupported_image", "bad_audio", "audio_too_long",
           "fetch_failed", "uri_private_address")
MIME_PREFIX = {"image": "image/", "audio": "audio/"}


@dataclass(frozen=True)
class DecodeFailure:
    reason: str
    detail: str
    post_id: str | None = None


def _post_id(obj: object) -> str | None:
    if isinstance(obj, dict):
        pid = obj.get("id")
        if isinstance(pid, str):
            return pid[:256]
    return None


def decode_post(raw: bytes | None, limits: Limits, allow_remote: bool = False,
                allowlist: tuple[str, ...] | list[str] = ()) -> Post | DecodeFailure:
    """Validate one message value. Order of checks: size, JSON, schema, limits, content, media."""
    if raw is None:
        return DecodeFailure("invalid_json", "message has no value (null/tombstone)")
    if len(raw) > limits.max_message_bytes:
        return DecodeFailure("too_large", f"message is {len(raw)} bytes > limit {limits.max_message_bytes}")
    try:
        obj = json.loads(raw.decode("utf-8"))  # strict UTF-8 (json.loads on bytes would guess UTF-16/32)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return DecodeFailure("invalid_json", f"not valid UTF-8 JSON: {str(exc)[:200]}")
    if not isinstance(obj, dict):
        return DecodeFailure("schema", f"top-level JSON must be an object, got {type(obj).__name__}")
    pid = _post_id(obj)
    try:
        post = Post.model_validate(obj)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return DecodeFailure("schema", errs[:500], pid)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        return DecodeFailure("schema", str(exc)[:500], pid)
    if len(post.id) > limits.max_id_chars:
        return DecodeFailure("schema", f"id longer than {limits.max_id_chars} characters", pid)
    if post.text is not None and len(post.text) > limits.max_text_chars:
        return DecodeFailure("text_too_long", f"text has {len(post.text)} chars > {limits.max_text_chars}", pid)
    if len(post.topics) > limits.max_topics:
        return DecodeFailure("schema", f"{len(post.topics)} explicit topics > {limits.max_topics}", pid)
    if len(post.media) > limits.max_media:
        return DecodeFailure("too_many_media", f"{len(post.media)} media items > {limits.max_media}", pid)
    if not (post.text and post.text.strip()) and not post.media:
        return DecodeFailure("no_content", "post has neither text nor media", pid)
    for i, m in enumerate(post.media):
        failure = _check_media(i, m, limits, allow_remote, allowlist)
        if failure:
            return DecodeFailure(failure[0], failure[1], pid)
    return post


def _check_media(i: int, m: Media, limits: Limits, allow_remote: bool, allowlist: tuple[str, ...] | list[str]
                 ) -> tuple[str, str] | None:
    """Validate one media item; inline data is base64-decoded here, once, and kept on the item (`m.payload`)."""
    kind, mime, data, uri = m.kind, m.mime, m.data, m.uri
    if mime is not None and not mime.lower().startswith(MIME_PREFIX[kind]):
        return "bad_mime", f"media[{i}]: mime {mime!r} does not match kind {kind!r}"
    if (data is None) == (uri is None):
        return "schema", f"media[{i}]: exactly one of data (base64) or uri is required"
    if data is not None:
        est = len(data) * 3 // 4
        if est > limits.max_media_bytes:
            return "media_too_large", f"media[{i}]: ~{est} bytes > {limits.max_media_bytes}"
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            return "bad_base64", f"media[{i}]: {exc}"
        if not decoded:
            return "bad_base64", f"media[{i}]: empty payload"
        m.attach_payload(decoded)
        return None
    assert uri is not None
    if not allow_remote:
        return "remote_media_disabled", f"media[{i}]: remote uri fetching is disabled (allow_remote_media=false)"
    if not uri_allowed(uri, allowlist):
        return "uri_not_allowed", f"media[{i}]: scheme or host of {uri[:200]!r} not allowed"
    return None
