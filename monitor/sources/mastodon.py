"""Mastodon streaming API (server-sent events): `GET /api/v1/streaming/public` (or `/hashtag?tag=`), events
`update` carry a Status JSON. Resume after a disconnect: the stream has no cursor, so the adapter backfills from the
REST timeline with `min_id=<last id>` before it reconnects (ids are idempotent: the overlap is counted once). Post
ids come from the status's canonical `uri`, not its server-local `id`, so a federated status seen through two
servers is one post."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from monitor.sources.common import MediaPolicy, html_to_text, make_post

MEDIA_KIND = {"image": "image", "gifv": None, "video": None, "audio": "audio"}


class SSEParser:
    """Incremental server-sent events parser: feed lines, get (event, data) when a blank line ends an event.
    Comment lines (`:thump` heartbeats) are skipped; multi-line data joined with newlines; no `event:` = message."""

    def __init__(self) -> None:
        self.event, self.data = "", []  # type: tuple[str, list[str]]

    def feed(self, raw: str) -> tuple[str, str] | None:
        line = raw.rstrip("\r\n")
        if not line:
            out = (self.event or "message", "\n".join(self.data)) if self.data else None
            self.event, self.data = "", []
            return out
        if line.startswith(":"):
            return None
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            self.event = value
        elif key == "data":
            self.data.append(value)
        return None


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    p = SSEParser()
    for line in [*lines, ""]:
        ev = p.feed(line)
        if ev:
            yield ev


def post_id(status: dict[str, Any], host: str) -> str:
    """`mastodon:<uri>`: a Status's `uri` is its canonical ActivityPub id, the same on every server that federates
    it (its `id` is local to the server asked), so two connectors on different servers publish it once. A status
    without a uri (not seen on real servers) falls back to `mastodon:<host>:<id>`."""
    uri = status.get("uri")
    if isinstance(uri, str) and uri.strip():
        return f"mastodon:{uri.strip()}"
    return f"mastodon:{host}:{status['id']}"


def map_status(status: dict[str, Any], host: str, policy: MediaPolicy | None = None) -> dict[str, Any]:
    """A Status -> posts.raw dict, id from the canonical `uri` (`post_id`); a boost carries the boosted status's
    content under the boost's own id (its own uri, the Announce activity)."""
    inner = status.get("reblog") or status
    text = html_to_text(inner["content"])
    if inner.get("spoiler_text"):
        text = f"{inner['spoiler_text']}\n{text}"
    media = []
    for m in inner.get("media_attachments") or []:
        kind = MEDIA_KIND.get(m.get("type", ""))
        if kind and m.get("url"):
            media.append({"kind": kind, "uri": m["url"], "alt": m.get("description") or ""})
    tags = [t["name"] for t in inner.get("tags") or [] if isinstance(t, dict) and t.get("name")]
    return make_post(post_id(status, host), status["created_at"], "mastodon", text,
                     author=(status.get("account") or {}).get("acct"), lang=inner.get("language"), media=media,
                     meta={"url": inner.get("url") or inner.get("uri"), **({"tags": tags} if tags else {}),
                           **({"boost_of": inner["id"]} if status.get("reblog") else {})}, policy=policy)


def id_key(status_id: str) -> tuple[int, str]:
    """Mastodon ids are numeric strings that sort as numbers (snowflake-like)."""
    return (len(status_id), status_id)
