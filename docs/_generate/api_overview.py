"""The API reference's overview: every module of the package, its one-line purpose (the first
line of its docstring) and the guide's pages that show or name it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from . import ROOT

DOCS = ROOT / "docs"
PACKAGE = ROOT / "reference_impl"


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name, packages first within their folder."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py"), key=lambda p: (p.parent.relative_to(PACKAGE).parts, p.name != "__init__.py", p.name)):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if path.name == "__init__.py" else parts)] = path
    return found


def purpose(path: Path) -> str:
    """The first line of a module's docstring, in MyST's spelling of inline code."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    return re.sub(r"``([^`]+)``", r"`\1`", first)


def guide_pages() -> dict[str, tuple[str, str]]:
    """The guide's pages: docname -> (title, text)."""
    skip = {"_build", "apidocs", "_generated", "_generate", "_ext", "_static"}
    pages = {}
    for page in sorted(DOCS.rglob("*.md")):
        if skip & set(page.relative_to(DOCS).parts) or page.name == "CLAUDE.md":
            continue
        text = page.read_text(encoding="utf-8")
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), page.stem)
        pages[page.relative_to(DOCS).with_suffix("").as_posix()] = (title, text)
    return pages


def _imported(tree: ast.AST, package: str) -> set[str]:
    """The package's modules that ``from ... import`` statements in ``tree`` name."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                found.add(f"{base}.{node.module}")
            elif node.module.startswith("reference_impl"):
                found.add(node.module)
    return found


def script_modules() -> dict[str, set[str]]:
    """Each script's modules: those it imports, and those that its own command-line module
    (``reference_impl.commands.<script>``) imports (not what all of them share)."""
    found = {}
    for script in sorted((ROOT / "scripts").glob("*.py")):
        used = _imported(ast.parse(script.read_text(encoding="utf-8")), "reference_impl")
        for name in [m for m in used if m.startswith("reference_impl.commands.")]:
            path = PACKAGE / (name.removeprefix("reference_impl.").replace(".", "/") + ".py")
            used |= _imported(ast.parse(path.read_text(encoding="utf-8")), name.rpartition(".")[0])
        found[script.name] = used - {"reference_impl.commands.common"}
    return found


def used_on(name: str, path: Path, pages: dict[str, tuple[str, str]], scripts: dict[str, set[str]]) -> list[str]:
    """The pages that include the module's code, name the module, or run a script built on it
    (every script goes through ``commands``: it counts only where it is named)."""
    file_ref = path.relative_to(ROOT).as_posix()
    name_ref = re.compile(rf"{re.escape(name)}(?![\w.])")
    runs = [script for script, used in scripts.items()
            if name in used and not (name == "reference_impl.cli" or name.startswith("reference_impl.commands"))]
    return [doc for doc, (_, text) in pages.items()
            if doc != "reference/api" and (file_ref in text or name_ref.search(text)
                                           or any(f"scripts/{script}" in text for script in runs))]


def overview(pages: dict[str, tuple[str, str]]) -> str:
    lines = ["| module | what it does | shown on |", "| --- | --- | --- |"]
    scripts = script_modules()
    for name, path in modules().items():
        if name == "reference_impl":
            continue  # the package itself: every page
        short = name.removeprefix("reference_impl.")
        where = ", ".join(f"{{doc}}`{pages[doc][0]} </{doc}>`" for doc in used_on(name, path, pages, scripts)) or "–"
        lines.append(f"| {{py:mod}}`{short} <{name}>` | {purpose(path)} | {where} |")
    return "\n".join(lines) + "\n"


def generate(out: Path, samples: Path) -> None:
    (out / "api_overview.md").write_text(overview(guide_pages()))
