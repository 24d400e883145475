"""Reddit listings (`/r/<subs>/new.json`, `/r/<subs>/comments.json`), polled. Each poll asks for the newest
100 items with `If-None-Match` (304 = nothing new) and honours `X-Ratelimit-Remaining` / `X-Ratelimit-Reset` and
429 responses. A busy listing is paged back (`after=<fullname of the oldest item so far>`, 100 a page) until a page
reaches a post already published, at most `max_pages` pages a poll; stopping short of it is a gap, counted in
`monitor_source_gaps_total` and logged. Resume: the checkpoint keeps the ids already published (bounded), so a
restart publishes only what is new."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.retry import parse_retry_after
from monitor.sources.common import MediaPolicy, make_post

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".webp")


def map_thing(thing: dict[str, Any], policy: MediaPolicy | None = None) -> dict[str, Any]:
    """One listing child (t3 link or t1 comment) -> posts.raw dict; KeyError/TypeError on a malformed one."""
    kind, d = thing["kind"], thing["data"]
    if kind == "t3":
        text = d["title"] + ("\n" + d["selftext"] if d.get("selftext") else "")
        url = d.get("url_overridden_by_dest") or d.get("url") or ""
        media = ([{"kind": "image", "uri": url}] if d.get("post_hint") == "image" or url.lower().endswith(IMAGE_EXT)
                 else [])
    elif kind == "t1":
        text, media = d["body"], []
    else:
        raise ValueError(f"unexpected listing kind {kind!r}")
    return make_post(post_id(d["name"]), int(float(d["created_utc"]) * 1000), "reddit", text,
                     author=d.get("author"), media=media,
                     meta={"subreddit": d.get("subreddit"), "permalink": d.get("permalink")}, policy=policy)


def post_id(fullname: str) -> str:
    return f"reddit:{fullname}"


def children(listing: dict[str, Any]) -> list[dict[str, Any]]:
    if listing.get("kind") != "Listing":
        raise ValueError("not a Listing")
    return list(listing["data"]["children"])


def next_after(listing: dict[str, Any]) -> str | None:
    """The `after=` cursor of the next (older) page; None at the end of the listing."""
    after = (listing.get("data") or {}).get("after")
    return after if isinstance(after, str) and after else None


def page_url(url: str, after: str) -> str:
    """`url` asking for the page after `after` (the listing's own query kept, a previous `after` replaced)."""
    parts = urlsplit(url)
    query: list[tuple[str, str]] = []
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k == "after":  # replaced where it was
            query.append((k, after))
        elif k != "before":
            query.append((k, v))
    if ("after", after) not in query:
        query.append(("after", after))
    return urlunsplit(parts._replace(query=urlencode(query)))


def reached(items: list[Any], published: Collection[str]) -> bool:
    """Whether a page holds a post already published (paging back can stop there)."""
    for t in items:
        name = (t.get("data") or {}).get("name") if isinstance(t, dict) else None
        if isinstance(name, str) and post_id(name) in published:
            return True
    return False


def rate_limit_wait(headers: dict[str, str], status: int, default_s: float = 60.0) -> float:
    """Seconds to wait before the next request: the reset time when the quota is used up or on 429, else 0."""
    try:
        remaining = float(headers.get("x-ratelimit-remaining", "1"))
        reset = float(headers.get("x-ratelimit-reset", "0"))
    except ValueError:
        remaining, reset = 1.0, 0.0
    if status == 429:
        return parse_retry_after(headers.get("retry-after"), reset or default_s)
    return reset if remaining < 1 else 0.0
