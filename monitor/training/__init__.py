"""Training and evaluation tooling (never imported by the worker hot path)."""
