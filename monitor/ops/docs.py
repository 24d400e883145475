"""Reference documentation generated from the code: every setting (docs/configuration.md) and every metric
(docs/metrics.md). `monitor ops render --check` (run in CI) fails when a setting has no description or the
committed files are stale. Setting descriptions live in monitor/config/sections.py (`Field(description=)`)."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from pydantic.fields import FieldInfo

from monitor.config import SECTIONS, Limits, Settings
from monitor.metrics import Metrics, SourceMetrics


class Row(NamedTuple):
    section: str
    name: str  # the flat name (`window_s`, `limits.max_media`)
    envs: tuple[str, str]  # the sectioned variable, the flat one
    default: Any
    description: str


def _default(f: FieldInfo) -> Any:
    return f.default_factory() if f.default_factory else f.default  # type: ignore[call-arg]


def rows() -> list[Row]:
    """One row per setting, section by section (a `Limits` field is a row of its own: `limits.<name>`)."""
    out: list[Row] = []
    for section, model in SECTIONS.items():
        for name, f in model.model_fields.items():
            nested = f"MONITOR_{section.upper()}__{name.upper()}"
            if f.annotation is Limits:
                for lname, lf in Limits.model_fields.items():
                    out.append(Row(section, f"{name}.{lname}", (f"{nested}__{lname.upper()}",
                                                                f"MONITOR_{name.upper()}"),
                                   _default(lf), lf.description or ""))
                continue
            out.append(Row(section, name, (nested, f"MONITOR_{name.upper()}"), _default(f), f.description or ""))
    return out


def missing_docs() -> list[str]:
    """Settings (and sections) without a description."""
    sections = [s for s, f in Settings.model_fields.items() if not (f.description or "").strip()]
    return sections + [f"{r.section}.{r.name}" for r in rows() if not r.description]


def configuration_md() -> str:
    lines = ["# Configuration reference", "",
             "Generated from `monitor/config/sections.py` by `monitor ops render`. Precedence: defaults < YAML file "
             "(`--config` or `MONITOR_CONFIG`) < `MONITOR_*` environment variables (JSON for lists and mappings) "
             "< command-line flags.", "",
             "Settings are grouped in sections. Every setting has a unique name, so it can be written by section or "
             "flat, everywhere: `settings.windows.window_s` or `settings.window_s`; in YAML `windows: {window_s: "
             "300}` or `window_s: 300`; in the environment `MONITOR_WINDOWS__WINDOW_S=300` or "
             "`MONITOR_WINDOW_S=300` (the sectioned variable wins when both are set). A whole section can also be "
             "given as one JSON object (`MONITOR_WINDOWS='{\"window_s\": 300}'`). Sections and `limits` merge "
             "setting by setting across the layers; a list or mapping value is replaced whole.", ""]
    lines += [f"- [`{s}`](#{s}): {Settings.model_fields[s].description}" for s in SECTIONS]
    current = None
    for r in rows():
        if r.section != current:
            current = r.section
            lines += ["", f"## {r.section}", "", Settings.model_fields[r.section].description or "", "",
                      "| setting | environment variables | default | meaning |", "|---|---|---|---|"]
        json_key = " (JSON object)" if "." in r.name else ""
        envs = f"`{r.envs[0]}`<br>`{r.envs[1]}`{json_key}"
        lines.append(f"| `{r.section}.{r.name}` | {envs} | `{json.dumps(r.default)}` | {r.description} |")
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
