"""Streaming multimodal sentiment monitor."""

__version__ = "0.1.0"

LABELS: tuple[str, str, str] = ("negative", "neutral", "positive")
