"""`monitor ui`: the live topic table and incident pages (reads Kafka into a bounded SQLite store)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from monitor.cli.stream import _common, settings_from


def add_parsers(sub: argparse._SubParsersAction) -> None:
    u = sub.add_parser("ui", help="serve the live topic table and the incident pages alerts link to")
    _common(u)
    u.add_argument("--host", default="127.0.0.1", help="bind address (anything but loopback needs --token)")
    u.add_argument("--port", type=int, default=8090)
    add_token_options(u, "access token (?token= once, then a cookie)", "MONITOR_UI_TOKEN")
    u.add_argument("--loglevel", default="warning",
                   help="log level: info adds one access-log line per request (paths only, never query strings)")
    u.add_argument("--store", default=":memory:", help="SQLite file of the bounded store (default: in memory)")
    u.add_argument("--runbooks", type=Path, default=None,
                   help="folder of the runbooks served at /runbooks/<name> (alerts whose runbook_url is relative "
                        "link there; default: docs/runbooks of this checkout)")
    u.set_defaults(func=cmd_ui)


def add_token_options(p: argparse.ArgumentParser, what: str, env: str) -> None:
    """--token (kept, but visible in the process list), --token-file, and the environment variable `env`."""
    p.add_argument("--token", default=None,
                   help=f"{what}; visible to other users in the process list: prefer ${env} or --token-file")
    p.add_argument("--token-file", type=Path, default=None,
                   help=f"read the token from this file (surrounding whitespace dropped); else --token, else ${env}")
    p.set_defaults(token_env=env)


def resolve_token(args: argparse.Namespace) -> str | None:
    """The token of a command: --token-file, else --token, else the environment variable; None when none is set.
    Both flags at once, an unreadable or empty file: an error (exit 2), never a silent run without a token."""
    flag, path, env = getattr(args, "token", None), getattr(args, "token_file", None), getattr(args, "token_env", "")
    if flag and path is not None:
        raise SystemExit("monitor: error: give --token or --token-file, not both")
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"monitor: error: --token-file {path}: {exc.strerror or exc}") from None
        if not text:
            raise SystemExit(f"monitor: error: --token-file {path} is empty")
        return text
    if flag:
        return str(flag)
    from_env = os.environ.get(env, "").strip() if env else ""
    return from_env or None


def cmd_ui(args: argparse.Namespace) -> int:
    from monitor.ui.runbooks import DEFAULT_DIR
    from monitor.ui.server import serve

    level = getattr(logging, str(getattr(args, "loglevel", "warning")).upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = resolve_token(args)
    settings = settings_from(args)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"monitor ui on http://{args.host}:{args.port}/", flush=True)
        await serve(settings, args.host, args.port, token, args.store, stop, args.runbooks or DEFAULT_DIR)

    asyncio.run(main())
    return 0
