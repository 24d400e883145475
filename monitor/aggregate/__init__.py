"""Event-time window aggregation per topic (pure core in windows.py)."""
