"""Bluesky via Jetstream (https://github.com/bluesky-social/jetstream): a WebSocket of JSON events; we keep
`kind: commit`, `operation: create`, `collection: app.bsky.feed.post`. Images (embed `app.bsky.embed.images`, also
inside `recordWithMedia`) become media by uri on Bluesky's CDN, their alt text joins the text. Resume: Jetstream
replays from `?cursor=<time_us>`; we reconnect from the checkpointed cursor minus a few seconds (ids are idempotent,
so the overlap is counted once)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from monitor.sources.common import MediaPolicy, make_post

COLLECTION = "app.bsky.feed.post"
CDN = "https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg"
REWIND_US = 5_000_000


class NotAPost(Exception):
    """A valid event that is not a new post (delete, identity, another collection)."""


def _images(did: str, embed: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not isinstance(embed, dict):
        return []
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        return _images(did, embed.get("media"))
    if embed.get("$type") != "app.bsky.embed.images":
        return []
    out = []
    for im in embed.get("images") or []:
        ref = ((im.get("image") or {}).get("ref") or {}).get("$link")
        if ref:
            out.append({"kind": "image", "uri": CDN.format(did=did, cid=ref), "mime": "image/jpeg",
                        "alt": im.get("alt") or ""})
    return out


def map_jetstream(event: dict[str, Any], policy: MediaPolicy | None = None) -> dict[str, Any]:
    """One Jetstream event -> posts.raw dict. Raises NotAPost for other events, KeyError/TypeError/ValueError
    for a malformed one."""
    if event.get("kind") != "commit":
        raise NotAPost(event.get("kind"))
    commit = event["commit"]
    if commit.get("collection") != COLLECTION or commit.get("operation") != "create":
        raise NotAPost(f"{commit.get('collection')}/{commit.get('operation')}")
    did, rkey, rec = event["did"], commit["rkey"], commit["record"]
    if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
        raise ValueError("record without text")
    uri = f"at://{did}/{COLLECTION}/{rkey}"
    langs = rec.get("langs") or []
    tags = [f["tag"] for fc in rec.get("facets") or [] for f in fc.get("features") or []
            if isinstance(f, dict) and f.get("$type") == "app.bsky.richtext.facet#tag" and f.get("tag")]
    created = rec.get("createdAt") or int(event["time_us"]) // 1000
    return make_post(f"bsky:{uri}", created, "bluesky", rec["text"], author=did,
                     lang=langs[0] if langs else None, media=_images(did, rec.get("embed")),
                     meta={"uri": uri, "cid": commit.get("cid"), "time_us": event["time_us"],
                           **({"tags": tags} if tags else {})}, policy=policy)


def subscribe_url(base: str, cursor_us: int | None) -> str:
    q = [("wantedCollections", COLLECTION)]
    if cursor_us:
        q.append(("cursor", str(max(0, cursor_us - REWIND_US))))
    return f"{base}{'&' if '?' in base else '?'}{urlencode(q)}"
