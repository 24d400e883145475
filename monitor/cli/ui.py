"""`monitor ui`: the live topic table and incident pages (reads Kafka into a bounded SQLite store)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from monitor.cli.stream import _common, settings_from


def add_parsers(sub: argparse._SubParsersAction) -> None:
    u = sub.add_parser("ui", help="serve the live topic table and the incident pages alerts link to")
    _common(u)
    u.add_argument("--host", default="127.0.0.1", help="bind address (anything but loopback needs --token)")
    u.add_argument("--port", type=int, default=8090)
    u.add_argument("--token", default=None, help="access token (?token= once, then a cookie)")
    u.add_argument("--store", default=":memory:", help="SQLite file of the bounded store (default: in memory)")
    u.set_defaults(func=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    from monitor.ui.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from(args)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"monitor ui on http://{args.host}:{args.port}/", flush=True)
        await serve(settings, args.host, args.port, args.token, args.store, stop)

    asyncio.run(main())
    return 0
