"""Spike detection (pure cores, time injected): negative-rate and volume detectors, alert lifecycle."""
