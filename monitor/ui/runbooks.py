"""Runbooks served by the UI at `/runbooks/<name>` (alerts carry `runbook_url = <runbook_base_url>/<signal>.md`,
relative by default, which the incident page turns into this route): `docs/runbooks/<name>.md` rendered as simple
HTML. Only names of letters, digits, `-` and `_` that exist in the folder are served (no path traversal); every
line is escaped before the little markdown it uses (headings, lists, **bold**, `code`, paragraphs) is rendered."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.ui.fmt import e, layout

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def find(folder: Path | None, name: str) -> Path | None:
    """The runbook file of `name` (with or without `.md`) inside `folder`, or None."""
    name = name.removesuffix(".md")
    if folder is None or not NAME.match(name):
        return None
    path = (folder / f"{name}.md").resolve()
    return path if path.parent == folder.resolve() and path.is_file() else None


def names(folder: Path | None) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.md") if NAME.match(p.stem))


def _inline(text: str) -> str:
    out = e(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def render(markdown: str) -> str:
    """Headings, numbered and bulleted lists (items may continue on the next lines), paragraphs; the rest as text.
    Inline markup is applied to whole paragraphs and items, so a `code` span may wrap."""
    html: list[str] = []
    para: list[str] = []
    items: list[list[str]] = []
    kind = ""

    def flush() -> None:
        if para:
            html.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            html.append(f"<{kind}>" + "".join(f"<li>{_inline(' '.join(i))}</li>" for i in items) + f"</{kind}>")
            items.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        heading = re.match(r"^(#{1,4})\s+(.*)$", line)
        item = re.match(r"^(\d+\.|[-*])\s+(.*)$", line)
        if not line or heading:
            flush()
            if heading:
                level = len(heading.group(1))
                html.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif item:
            this = "ol" if item.group(1)[0].isdigit() else "ul"
            if para or (items and this != kind):
                flush()
            kind = this
            items.append([item.group(2)])
        elif items:  # a list item's continuation line
            items[-1].append(line)
        else:
            para.append(line)
    flush()
    return "".join(html)


def page(path: Path) -> str:
    return layout(f"runbook {path.stem}", f"<article class=\"runbook\">{render(path.read_text('utf-8'))}</article>"
                  f"<p class=\"note\">{e(path.name)}</p>")
