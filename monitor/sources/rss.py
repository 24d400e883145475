"""RSS / Atom news feeds via feedparser, polled with `If-None-Match` / `If-Modified-Since`. Resume: the checkpoint
keeps the ETag, Last-Modified and the ids of entries already published (bounded), so a restart publishes only new
entries."""

from __future__ import annotations

import calendar
import hashlib
from typing import Any
from urllib.parse import urlparse

from monitor.sources.common import MediaPolicy, html_to_text, make_post


def entry_id(feed_url: str, entry: dict[str, Any]) -> str:
    key = entry.get("id") or entry.get("link") or (entry.get("title", "") + entry.get("published", ""))
    if not key:
        raise ValueError("entry without id, link or title")
    return f"rss:{urlparse(feed_url).hostname}:{hashlib.sha1(key.encode()).hexdigest()[:20]}"  # noqa: S324 - an id


def map_entry(entry: dict[str, Any], feed_url: str, now_ms: int, policy: MediaPolicy | None = None
              ) -> dict[str, Any]:
    """A feedparser entry -> posts.raw dict (title + summary text; media:content / image enclosures as media)."""
    title = html_to_text(entry.get("title", ""))
    summary = html_to_text(entry.get("summary", "") or entry.get("description", ""))
    text = (title + ("\n" + summary if summary and summary != title else "")).strip()
    if not text:
        raise ValueError("entry without title or summary")
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    created = int(calendar.timegm(parsed) * 1000) if parsed else now_ms
    media = [{"kind": "image", "uri": m["url"], "mime": m.get("type")} for m in entry.get("media_content") or []
             if m.get("url") and (m.get("medium") == "image" or str(m.get("type", "")).startswith("image/"))]
    media += [{"kind": "image", "uri": e["href"], "mime": e.get("type")} for e in entry.get("enclosures") or []
              if e.get("href") and str(e.get("type", "")).startswith("image/")]
    return make_post(entry_id(feed_url, entry), created, "rss", text, author=entry.get("author"),
                     media=[{k: v for k, v in m.items() if v} for m in media],
                     meta={"feed": feed_url, "link": entry.get("link")}, policy=policy)
