"""Reference documentation generated from the code: every setting (docs/configuration.md) and every metric
(docs/metrics.md). `monitor ops render --check` (run in CI) fails when a setting has no description or the
committed files are stale. Setting descriptions live in monitor/config.py (`Field(description=)`)."""

from __future__ import annotations

import json
from typing import Any

from monitor.config import Limits, Settings
from monitor.metrics import Metrics, SourceMetrics


def _description(name: str) -> str:
    """A setting's `Field(description=...)` in monitor/config.py (the one place settings are documented)."""
    if name.startswith("limits."):
        return Limits.model_fields[name.split(".", 1)[1]].description or ""
    return Settings.model_fields[name].description or ""


def _rows() -> list[tuple[str, str, Any]]:
    rows: list[tuple[str, str, Any]] = []
    for name, f in Settings.model_fields.items():
        default = f.default_factory() if f.default_factory else f.default  # type: ignore[call-arg]
        if name == "limits":
            continue
        rows.append((name, f"MONITOR_{name.upper()}", default))
    for name, f in Limits.model_fields.items():
        rows.append((f"limits.{name}", "MONITOR_LIMITS (JSON object)", f.default))
    return rows


def missing_docs() -> list[str]:
    return [name for name, _, _ in _rows() if not _description(name)]


def configuration_md() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `monitor/config.py` by `monitor ops render`. Precedence: defaults < YAML file "
             "(`--config` or `MONITOR_CONFIG`) < `MONITOR_*` environment variables (JSON for lists and mappings) "
             "< command-line flags.", "",
             "| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, env, default in _rows():
        lines.append(f"| `{name}` | `{env}` | `{json.dumps(default)}` | {_description(name)} |")
    return "\n".join(lines) + "\n"


def metrics_md() -> str:
    lines = ["# Metrics reference", "",
             "Generated from `monitor/metrics/__init__.py` by `monitor ops render`. Served on "
             "`http://<worker>:9108/metrics`; the `monitor_source_*` metrics by a connector (`monitor ingest SOURCE "
             "--metrics-port P`).", "",
             "| metric | type | labels | help |", "|---|---|---|---|"]
    for m in (Metrics(), SourceMetrics()):
        for fam in m.registry.collect():
            name = fam.name + ("_total" if fam.type == "counter" else "_info" if fam.type == "info" else "")
            label_names = _declared_labels(m, fam.name)
            lines.append(f"| `{name}` | {fam.type} | {', '.join(label_names) or '—'} | {fam.documentation} |")
    return "\n".join(lines) + "\n"


def _declared_labels(m: Any, family: str) -> list[str]:
    for attr in vars(m).values():
        names = getattr(attr, "_labelnames", None)
        if names is not None and getattr(attr, "_name", None) in (family, family + "_total"):
            return list(names)
    return []
