"""Scoring: the Scorer interface and its implementations (VADER baseline, fine-tuned MiniLM)."""
