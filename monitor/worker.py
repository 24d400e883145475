"""Run one worker process: topics, metrics endpoint, Faust worker (SIGTERM/SIGINT = graceful stop)."""

from __future__ import annotations

import logging

from monitor.config import Settings
from monitor.metrics import Metrics


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    import faust

    from monitor.app import build_app, bytopic_name
    from monitor.kafka_io import create_topics
    from monitor.score.base import build_scorer

    logging.basicConfig(level=getattr(logging, loglevel.upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    create_topics(settings, extra=[bytopic_name(settings)])
    metrics = Metrics()
    metrics.serve(settings.metrics_port, settings.metrics_host)
    app = build_app(settings, metrics, lambda: build_scorer(settings))
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
