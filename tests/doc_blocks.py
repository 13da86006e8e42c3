"""Find every code block on the site's pages and say what vouches for it.

A block is one of:

* ``python``: a ```` ```python ```` fence, run by the tests (Sybil, see docs/conftest.py);
* ``bash``: a ```` ```bash ```` fence of ``python scripts/...`` commands, run by the tests;
* ``run``: a ```` ```{run} ```` block: the build runs its commands and shows what they printed
  under them, and the tests run them again and check that the built page shows the same;
* ``included``: a ``literalinclude`` of the package's or the scripts' code (a ``-W`` build
  fails when what it points at moves);
* ``output``: a ```` ```text ```` fence marked ``% output: <what>`` (or an included
  generated file marked so), made by the code at build time;
* ``not-run``: a block marked ``% not-run: <reason>`` (a multi-GPU launch...).

Anything else is a block nobody vouches for, and the test fails on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
MARK = re.compile(r"^%\s*(?P<kind>not-run|output)\s*:\s*(?P<reason>.*\S)?\s*$")
NOT_CODE_DIRECTIVES = {
    "list-table", "toctree", "image", "figure", "note", "tip", "warning", "important", "seealso",
    "admonition", "card", "grid", "grid-item-card", "button-ref", "button-link", "tab-set", "tab-item",
    "dropdown", "csv-table", "table", "math", "div", "raw", "contents", "autodoc2-summary", "rubric",
    "attention", "caution", "danger", "hint", "error", "epigraph", "topic", "card-footer", "eval-rst",
}
RUN_LANGUAGES = {"python": "python", "bash": "bash"}


@dataclass
class Block:
    page: Path
    line: int
    kind: str  # python, bash, run, included, output, not-run, unvouched
    info: str
    reason: str = ""


def _previous_marker(lines: list[str], index: int) -> tuple[str, str] | None:
    j = index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j < 0:
        return None
    match = MARK.match(lines[j].strip())
    if match:
        return match["kind"], (match["reason"] or "")
    return None


def scan_page(page: Path) -> list[Block]:
    """The code blocks of one MyST page, classified."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    open_containers: list[str] = []  # fences of directives we look inside (list-table, card-footer...)
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        if not info and open_containers and fence[0] == open_containers[-1][0] and len(fence) >= len(open_containers[-1]):
            open_containers.pop()
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        marker = _previous_marker(lines, i)
        directive = re.match(r"^\{([\w:-]+)\}\s*(.*)$", info)
        if directive:
            name, argument = directive.group(1), directive.group(2).strip()
            if name in ("literalinclude", "include"):
                generated = "_generated/" in argument
                if generated and not (marker and marker[0] == "output"):
                    blocks.append(Block(page, i + 1, "unvouched", info, "a generated file shown without % output:"))
                else:
                    blocks.append(Block(page, i + 1, "output" if generated else "included", info))
                i = end + 1
                continue
            if name == "run":
                blocks.append(Block(page, i + 1, "run", info))
                i = end + 1
                continue
            if name in ("code-block", "code", "sourcecode"):
                language = argument
            elif name in NOT_CODE_DIRECTIVES:
                open_containers.append(fence)  # directives may hold nested fences: look inside
                i += 1
                continue
            else:
                blocks.append(Block(page, i + 1, "unvouched", info, f"unknown directive {name}"))
                i = end + 1
                continue
        else:
            language = info.split()[0] if info else ""
        if marker and marker[0] == "not-run":
            kind = "not-run" if marker[1] else "unvouched"
            reason = marker[1] or "% not-run: needs a reason"
        elif marker and marker[0] == "output":
            kind, reason = "output", marker[1]
        elif language in RUN_LANGUAGES:
            kind, reason = RUN_LANGUAGES[language], ""
        else:
            kind, reason = "unvouched", f"a {language or 'plain'} block that is neither run, included nor marked"
        blocks.append(Block(page, i + 1, kind, info, reason))
        i = end + 1
    return blocks


def pages(docs: Path) -> list[Path]:
    """The site's MyST pages (not the generated API pages, not build folders)."""
    skip = {"_build", "apidocs", "_generated", "_generate", "_ext", "_static"}
    return sorted(p for p in docs.rglob("*.md") if not skip & set(p.relative_to(docs).parts) and p.name != "CLAUDE.md")
