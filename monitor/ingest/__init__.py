"""Ingest: decode/validate raw messages (pure) and route posts to monitored topics (pure)."""
