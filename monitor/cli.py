"""`monitor` command line. Heavy modules are imported inside the command that needs them."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monitor", description="streaming multimodal sentiment monitor")
    sub = p.add_subparsers(dest="cmd", required=True)
    from monitor import cli_models

    cli_models.add_parsers(sub)
    from monitor import cli_ops

    cli_ops.add_parsers(sub)
    try:
        from monitor import cli_stream
    except ImportError as exc:  # pragma: no cover - only on a training-only machine
        print(f"(stream commands unavailable: {exc})", file=sys.stderr)
    else:
        cli_stream.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
