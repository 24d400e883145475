"""Connectors that feed `posts.raw` from public streams: Bluesky Jetstream, Mastodon streaming, Reddit listings,
RSS / Atom feeds, and a generic HTTP ingest endpoint. Each connector is a pure mapper (the source's JSON -> our post
dict) plus a thin network adapter; all publish through `publish.Publisher` (one producer code path), keep a durable
checkpoint (`common.Checkpoint`) so a restart resumes where it stopped, and use idempotent post ids
(`bsky:<at-uri>`, `mastodon:<host>:<id>`, `reddit:<fullname>`, `rss:<feed host>:<entry id hash>`), so a record
produced twice around a restart is counted once by the windows."""
