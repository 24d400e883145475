"""`monitor` command line. Heavy modules are imported inside the command that needs them.

One module per branch of the help tree: models (`train`, `eval`: the groups and text), media (train faces / align /
fusion / voice, eval faces / voice / posts / ocr / asr, compose, bench-media), detect (detect, eval nab / rate-sim /
detect, silence), ops (ops render), stream (worker, topics, replay, demo, alerts, verify, bench), sources (ingest bluesky / mastodon / reddit / rss /
http), ui."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monitor", description="streaming multimodal sentiment monitor")
    sub = p.add_subparsers(dest="cmd", required=True)
    from monitor.cli import models as cli_models

    cli_models.add_parsers(sub)
    from monitor.cli import ops as cli_ops

    cli_ops.add_parsers(sub)
    try:
        from monitor.cli import stream as cli_stream
    except ImportError as exc:  # pragma: no cover - only on a training-only machine
        print(f"(stream commands unavailable: {exc})", file=sys.stderr)
    else:
        cli_stream.add_parsers(sub)
        from monitor.cli import sources as cli_sources

        cli_sources.add_parsers(sub)
        from monitor.cli import ui as cli_ui

        cli_ui.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


