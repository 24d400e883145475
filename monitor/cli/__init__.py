"""`monitor` command line. Heavy modules are imported inside the command that needs them.

One module per branch of the help tree: models (`train`, `eval`: the groups and text), media (train faces / align /
fusion / voice, eval faces / voice / posts / ocr / asr, compose, bench-media), detect (detect, eval nab / rate-sim /
detect, silence), ops (ops render), stream (worker, broker, topics, replay, demo, alerts, verify, bench), inspect
(alerts list / tail, posts tail, windows tail), sources (ingest bluesky / mastodon / reddit / rss / http), ui, up.

`main` turns every failure of a command into one line `monitor: error: <what>. <what to do>` on stderr: exit 2 for
bad usage, 1 at run time; `monitor --debug ...` shows the traceback instead."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap

# the help's command groups (argparse lists subcommands in one block): name, one line, commands in order
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("run", "start the monitor or one of its parts", ("up", "demo", "worker", "broker", "ingest", "ui", "replay")),
    ("inspect", "read back what it produced, measure it", ("alerts", "posts", "windows", "verify", "bench")),
    ("models", "train and evaluate the scoring models", ("train", "eval", "compose", "bench-media")),
    ("operate", "topics, silences, generated operations files, offline detection",
     ("topics", "silence", "ops", "detect")),
)

# help for options whose module gives none, by destination name (every option shows a help line and its default)
FALLBACK_HELP = {
    "json": "print JSON instead of text", "seed": "random seed", "device": "cpu | cuda (default: cuda when present)",
    "out": "output directory", "output": "output file", "data": "input data (file or folder)",
    "model": "model: 'default' (the packaged one) or an artefact directory", "plot": "also write a PNG plot here",
    "scorer": "auto (the fine-tuned model when present), text or vader",
    "config": "YAML settings file (also MONITOR_CONFIG)",
    "bootstrap_servers": "Kafka bootstrap servers (also MONITOR_BOOTSTRAP_SERVERS)",
    "epochs": "training epochs", "lr": "learning rate", "batch_size": "batch size", "batch": "batch size",
    "n": "number of items", "limit": "cap on the items used (0 = no cap)",
    "loglevel": "log level: debug, info, warning, error", "comment": "why (kept with the silence)",
    "days": "simulated days", "grace_windows": "windows after an incident's end in which a detection still counts",
    "input": "input CSV", "kind": "series kind", "host": "bind address", "port": "listen port",
    "split": "data split", "width": "network width", "images": "images to time", "clips": "audio clips to time",
    "kinds": "comma-separated post kinds", "secret": "HMAC secret", "format": "payload format",
    "posts": "posts to use",
}


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks; appends "(default: X)" to an option's help unless the help already
    speaks of its default or there is none worth showing (None, False, empty)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if ("default" in text.lower() or d is None or d is False or d == "" or d == [] or d is argparse.SUPPRESS
                or not (action.option_strings or action.nargs in ("?", "*"))):
            return text
        return f"{text} (default: %(default)s)"


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("monitor")
    except PackageNotFoundError:  # pragma: no cover - running from a tree that was never `pip install`ed
        return "unknown (not installed; pip install -e .)"


def _subparsers(p: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)


def _finish(p: argparse.ArgumentParser) -> None:
    """Every parser of the tree: our formatter, a help line on every option, a `--debug` flag (also accepted after
    the command, where people type it)."""
    p.formatter_class = Formatter
    for a in p._actions:
        if a.help is None and a.option_strings:
            a.help = FALLBACK_HELP.get(a.dest, a.dest.replace("_", " "))
    if "--debug" not in p._option_string_actions:
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the traceback instead of one line")
    sub = _subparsers(p)
    if sub is not None:
        for child in dict.fromkeys(sub.choices.values()):
            _finish(child)


def _group_commands(p: argparse.ArgumentParser, sub: argparse._SubParsersAction) -> None:
    """Replace argparse's single block of subcommands by the GROUPS, one line per command."""
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    sub._choices_actions.clear()
    listed: set[str] = set()
    blocks = []
    groups = [*GROUPS, ("other", "", tuple(n for n in sub.choices if n not in {c for g in GROUPS for c in g[2]}))]
    for name, what, cmds in groups:
        present = [c for c in cmds if c in sub.choices and c not in listed]
        if not present:
            continue
        listed |= set(present)
        lines = [f"{name} commands" + (f" ({what})" if what else "") + ":"]
        for c in present:
            lines += textwrap.wrap(helps.get(c, ""), 110, initial_indent=f"  {c:<12} ",
                                   subsequent_indent=" " * 15) or [f"  {c}"]
        blocks.append("\n".join(lines))
    p.epilog = "\n\n".join(blocks) + "\n\n`monitor COMMAND --help` shows a command's options and their defaults."


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monitor", description="streaming multimodal sentiment monitor",
                                formatter_class=Formatter)
    p.add_argument("--version", action="version", version=f"monitor {package_version()}")
    p.add_argument("--debug", action="store_true", help="on an error, show the traceback instead of one line")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND",
                           help="one of the commands listed below")
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
        from monitor.cli import inspect as cli_inspect

        cli_inspect.add_parsers(sub)
        from monitor.cli import sources as cli_sources

        cli_sources.add_parsers(sub)
        from monitor.cli import ui as cli_ui

        cli_ui.add_parsers(sub)
        try:  # `monitor up` (monitor/cli/up.py), registered once that module exists
            from monitor.cli import up as cli_up
        except ImportError:
            pass
        else:
            cli_up.add_parsers(sub)
    _finish(p)
    _group_commands(p, sub)
    return p


# ---- errors a person can read -----------------------------------------------------------------------------------
def _bootstrap_of(args: argparse.Namespace) -> str:
    try:
        from monitor.cli.stream import settings_from

        return str(settings_from(args).bootstrap_servers)
    except Exception:  # noqa: BLE001 - only for the message
        return str(getattr(args, "bootstrap_servers", None) or os.environ.get("MONITOR_BOOTSTRAP_SERVERS")
                   or "the configured bootstrap servers")


def _sentence(text: str) -> str:
    s = " ".join(str(text).split())
    return s if s.endswith((".", "!", "?")) else s + "."


def error_line(exc: BaseException, args: argparse.Namespace) -> str:
    """`monitor: error: <what>. <what to do>` for an exception a command raised (one line)."""
    import kafka.errors as ke

    from monitor.inspect import BROKER_HINT, BrokerUnreachable, TopicMissing

    command = " ".join(str(getattr(args, k)) for k in ("cmd", "what", "source", "ops")
                       if isinstance(getattr(args, k, None), str))
    unreachable = tuple(c for c in (getattr(ke, "NoBrokersAvailable", None), ke.KafkaConnectionError) if c)
    if isinstance(exc, BrokerUnreachable):
        what, todo = str(exc), BROKER_HINT
    elif isinstance(exc, unreachable):
        what, todo = f"cannot reach a Kafka broker at {_bootstrap_of(args)} ({type(exc).__name__}: {exc})", BROKER_HINT
    elif isinstance(exc, ke.KafkaTimeoutError):
        what, todo = f"Kafka at {_bootstrap_of(args)} did not answer in time ({exc})", BROKER_HINT
    elif isinstance(exc, ke.KafkaError):
        what, todo = f"Kafka error: {type(exc).__name__}: {exc}", "Check the broker and the settings; --debug shows more"
    elif isinstance(exc, TopicMissing):
        what, todo = str(exc), (f"Create the topics with `monitor topics create --bootstrap-servers {_bootstrap_of(args)}`"
                                ", or check the MONITOR_TOPIC_* settings")
    elif isinstance(exc, FileNotFoundError):
        what, todo = f"{exc.filename or exc}: no such file or directory", "Check the path"
    elif isinstance(exc, PermissionError):
        what, todo = f"{exc.filename or exc}: permission denied", "Check the file's permissions"
    elif isinstance(exc, ValueError):
        what, todo = str(exc), f"See `monitor {command} --help`"
    elif isinstance(exc, OSError) and exc.strerror:
        what, todo = exc.strerror + (f": {exc.filename}" if exc.filename else ""), "--debug shows more"
    elif isinstance(exc, OSError):  # raised with the whole sentence (what, then what to do)
        what, todo = str(exc), ""
    else:
        what, todo = f"{type(exc).__name__}: {exc}", "Rerun with --debug for the traceback"
    what = " ".join(what.split())
    return f"monitor: error: {_sentence(what[:600])}" + (f" {_sentence(todo)}" if todo else "")


def usage_error(args: argparse.Namespace) -> str | None:
    """Refusals known before the command starts (exit 2): a public bind without a token."""
    host = getattr(args, "host", None)
    if not isinstance(host, str) or not hasattr(args, "token_env"):
        return None
    from monitor.cli.ui import resolve_token
    from monitor.sources.http_ingest import is_loopback

    if is_loopback(host) or resolve_token(args):
        return None
    return (f"binding {host} (not loopback) needs --token: give --token-file F or set ${args.token_env}, or bind "
            f"127.0.0.1")


def _run(args: argparse.Namespace) -> int:
    if (msg := usage_error(args)) is not None:
        print(f"monitor: error: {msg}", file=sys.stderr)
        return 2
    if getattr(args, "needs_broker", False) or args.cmd == "silence":  # fail in a second, not after 30 s
        from monitor.cli.stream import settings_from
        from monitor.inspect import require_broker

        require_broker(settings_from(args).bootstrap_servers)
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    if not debug:
        logging.getLogger("kafka").setLevel(logging.WARNING)  # no kafka-python chatter at INFO
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `monitor posts tail | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a refusal raised as SystemExit("...") (token options): bad usage
            msg = " ".join(exc.code.split())
            print(msg if msg.startswith("monitor: error:") else f"monitor: error: {msg}", file=sys.stderr)
            return 2
        raise
    except Exception as exc:
        if debug:
            raise
        print(error_line(exc, args), file=sys.stderr)
        return 1
