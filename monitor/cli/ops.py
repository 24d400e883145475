"""`monitor ops render [--check]`: regenerate (or check) rules, dashboards and reference docs from code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def rendered_files() -> dict[str, str]:
    from monitor.ops.dashboards import render_dashboards
    from monitor.ops.docs import configuration_md, metrics_md, missing_docs
    from monitor.ops.rules import render_rules

    if missing := missing_docs():
        raise SystemExit(f"settings without a description in monitor/ops/docs.py: {missing}")
    out = {f"deploy/prometheus/rules/{k}": v for k, v in render_rules().items()}
    out |= {f"dashboards/{k}": v for k, v in render_dashboards().items()}
    out |= {"docs/configuration.md": configuration_md(), "docs/metrics.md": metrics_md()}
    return out


def cmd_render(args: argparse.Namespace) -> int:
    root = Path(args.root)
    stale = []
    for rel, text in rendered_files().items():
        path = root / rel
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {rel}")
    if stale:
        print("stale generated files (run `monitor ops render`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


def add_parsers(sub: Any) -> None:
    ops = sub.add_parser("ops", help="operations files generated from code").add_subparsers(dest="ops", required=True)
    r = ops.add_parser("render", help="write deploy/prometheus/rules, dashboards/, docs/ from code")
    r.add_argument("--check", action="store_true", help="only check the committed files are up to date")
    r.add_argument("--root", default=".", help="repository root")
    r.set_defaults(func=cmd_render)
