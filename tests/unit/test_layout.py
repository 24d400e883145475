"""The architecture rules the code promises (README "Architecture"), checked on the source: which package may import
which, and small functions everywhere."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "monitor"
HOT = ("ingest", "score", "media", "aggregate", "detect", "alert", "metrics")


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def modules(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in ((ROOT / part).rglob("*.py") if (ROOT / part).is_dir()
                                                 else [ROOT / part]))


@pytest.mark.parametrize("path", modules(*HOT, "app.py", "worker.py", "outbox.py", "synth", "data.py", "types.py",
                                         "sources", "ui", "bench.py"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_hot_path_and_synth_never_import_training_or_cli(path):
    bad = {m for m in imports(path) if m.startswith(("monitor.training", "monitor.cli"))}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_cli_modules_import_each_other_without_a_circle():
    """The command modules form a tree (a module adds its sub-commands' parsers), never a circle: cli.media and
    cli.models imported each other."""
    names = {p.stem for p in modules("cli")} - {"__init__", "__main__"}
    graph = {n: {m.split(".")[2] for m in imports(ROOT / "cli" / f"{n}.py")
                 if m.startswith("monitor.cli.") and m.split(".")[2] in names} - {n} for n in names}

    def reach(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo += graph[n]
        return seen

    circles = sorted(n for n in names if n in reach(n))
    assert not circles, f"import circle through {circles}: {graph}"


def test_scorer_interface_imports_no_scorer():
    bad = {m for m in imports(ROOT / "score" / "base.py") if m.startswith("monitor.score.")}
    assert not bad, bad


MAX_FUNCTION_LINES = 80


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_stay_small(path):
    """No function of any module under monitor/ runs over 80 lines (#32.6): the hot path first, and the commands,
    harnesses and training scripts too."""
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.relative_to(ROOT)}: functions over {MAX_FUNCTION_LINES} lines {long}"


def test_faust_private_access_lives_in_faust_compat_only():
    """Every reach into Faust / aiokafka internals is in monitor/faust_compat (#32.3): anyone upgrading Faust reads
    one package. A private access elsewhere shows as ruff's SLF001 suppression."""
    outside = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
               if "faust_compat" not in p.parts and "SLF001" in p.read_text()]
    assert not outside, f"private Faust/aiokafka access outside monitor/faust_compat: {outside}"


@pytest.mark.parametrize("path", modules("detect", "aggregate/windows.py", "aggregate/watermark.py",
                                         "aggregate/persist.py"), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_cores_do_no_kafka_io(path):
    """The detector package and the window cores are pure: Kafka adapters live next to the others (kafka_io,
    kafka_follow, kafka_silences), not inside them (monitor/detect/silences.py wrote and followed the topic)."""
    bad = {m for m in imports(path) if m.split(".")[0] in ("kafka", "aiokafka", "faust")
           or m.startswith(("monitor.kafka_io", "monitor.kafka_follow", "monitor.kafka_silences"))}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
