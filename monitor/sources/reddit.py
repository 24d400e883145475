"""Reddit listings (`/r/<subs>/new.json`, `/r/<subs>/comments.json`), polled. Each poll asks for the newest
100 items with `If-None-Match` (304 = nothing new) and honours `X-Ratelimit-Remaining` / `X-Ratelimit-Reset` and
429 responses. Resume: the checkpoint keeps the fullnames already published (bounded), so a restart publishes only
what is new."""

from __future__ import annotations

from typing import Any

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
    return make_post(f"reddit:{d['name']}", int(float(d["created_utc"]) * 1000), "reddit", text,
                     author=d.get("author"), media=media,
                     meta={"subreddit": d.get("subreddit"), "permalink": d.get("permalink")}, policy=policy)


def children(listing: dict[str, Any]) -> list[dict[str, Any]]:
    if listing.get("kind") != "Listing":
        raise ValueError("not a Listing")
    return list(listing["data"]["children"])


def rate_limit_wait(headers: dict[str, str], status: int, default_s: float = 60.0) -> float:
    """Seconds to wait before the next request: the reset time when the quota is used up or on 429, else 0."""
    try:
        remaining = float(headers.get("x-ratelimit-remaining", "1"))
        reset = float(headers.get("x-ratelimit-reset", "0"))
    except ValueError:
        remaining, reset = 1.0, 0.0
    if status == 429:
        retry = headers.get("retry-after")
        return float(retry) if retry and retry.replace(".", "", 1).isdigit() else (reset or default_s)
    return reset if remaining < 1 else 0.0
