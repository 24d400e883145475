"""#32 item 1: every relative link in README.md and docs/ resolves (file and, for a markdown page, its #anchor), and
every test the docs name (`tests/....py::test_name`, or `::test_name` after such a reference) exists."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
HTML_SRC = re.compile(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.I)
TEST_REF = re.compile(r"(tests/[\w./-]+?\.py)?::(test_\w+)")
TEST_FILE = re.compile(r"(?<![\w/.-])(tests/[\w/-]+\.py)\b")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)  # http:, https:, mailto:, ... and protocol-relative


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code spans (a link inside code is not a link)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.replace("`", "").strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    out: set[str] = set()
    seen: dict[str, int] = {}
    for m in re.finditer(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", FENCE.sub("", page.read_text()), re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out | set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", page.read_text()))


def link_targets(text: str) -> list[str]:
    body = prose(text)
    return [t for t in LINK.findall(body) + REF_DEF.findall(body) + HTML_SRC.findall(body) if t]


def broken_links(page: Path) -> list[str]:
    """Relative link targets of a page that do not resolve: a missing file, or a missing heading in a .md target."""
    bad = []
    for target in link_targets(page.read_text()):
        if EXTERNAL.match(target):
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment.lower() not in anchors(dest):
            bad.append(f"{target} (no heading #{fragment} in {dest.name})")
    return bad


def defined_tests(path: Path) -> set[str]:
    return set(re.findall(r"^\s*(?:async\s+)?def\s+(test_\w+)\s*\(", path.read_text(), re.M))


def missing_tests(text: str, root: Path = ROOT) -> list[str]:
    """`tests/x.py::test_y` references (and `::test_z` after one, meaning the same file) whose file or test
    function does not exist; also bare `tests/x.py` paths whose file does not exist."""
    bad, current = [], None
    for m in TEST_REF.finditer(text):
        current = m.group(1) or current
        if current is None:
            bad.append(f"::{m.group(2)} (no file named before it)")
            continue
        path = root / current
        if not path.is_file():
            bad.append(f"{current} (no such file)")
        elif m.group(2) not in defined_tests(path):
            bad.append(f"{current}::{m.group(2)}")
    bad += [f"{f} (no such file)" for f in TEST_FILE.findall(text) if not (root / f).is_file()]
    return sorted(set(bad))


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert not broken_links(page), broken_links(page)


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_test_exists(page):
    assert not missing_tests(page.read_text()), missing_tests(page.read_text())


def test_the_docs_pages_of_issue_32_exist_and_the_readme_links_each():
    readme = link_targets((ROOT / "README.md").read_text())
    for name in ("architecture", "models", "detection", "performance", "operations", "guarantees"):
        assert (ROOT / "docs" / f"{name}.md").is_file(), name
        assert any(t.split("#")[0] == f"docs/{name}.md" for t in readme), f"README does not link docs/{name}.md"


def test_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_the_checkers_catch_a_broken_link_anchor_and_test_name(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_here():\n    pass\n")
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## The `x` section: done\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/other.md) [ok](docs/other.md#the-x-section-done) [ok](#top) [web](https://example.com/nope)\n"
        "![missing image](docs/images/nope.png) [missing](docs/nope.md#x) [bad anchor](docs/other.md#nope)\n"
        "`[in code](docs/nope-in-code.md)`\n\n```\n[in a fence](docs/nope-in-fence.md)\n```\n# Top\n")
    assert broken_links(page) == ["docs/images/nope.png (no such file)", "docs/nope.md#x (no such file)",
                                  "docs/other.md#nope (no heading #nope in other.md)"]
    text = ("`tests/test_a.py::test_here`, `::test_gone`; `tests/test_b.py::test_x`; `tests/test_a.py` and "
            "`tests/test_c.py`")
    assert missing_tests(text, tmp_path) == ["tests/test_a.py::test_gone", "tests/test_b.py (no such file)",
                                             "tests/test_c.py (no such file)"]
