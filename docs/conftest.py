"""Run the code blocks of the site's pages (Sybil).

Each page runs in order, in one namespace, in a fresh folder that holds ``rollouts.jsonl``
(the shipped sample rollouts) and links to the repository's ``scripts`` and ``samples``, as a
reader who cloned the project would (``docs/_ext/page_commands.py``, shared with the build).

* ``python`` fences run as Python;
* ``bash`` fences run their ``python scripts/...`` commands, which must succeed and write
  every ``--output`` they name;
* ``{run}`` blocks run the same way, and what each command printed here must be what the
  built page shows under it (the build ran the same command text: ``run_directive.py``).

A block under ``% not-run: <reason>`` is not run (tests/doc_blocks.py checks that the reason
is there).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
from pathlib import Path

from sybil import Region, Sybil
from sybil.parsers.myst import CodeBlockParser
from sybil.parsers.myst.lexers import DirectiveLexer

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

from page_commands import make_workdir, run_command, shown_file, split_commands, transcript  # noqa: E402

MARK = re.compile(r"^%\s*not-run\s*:")
BUILT_BLOCK = r'<div class="{kind}[^"]*"><div class="highlight"><pre>(.*?)</pre>'


def _not_run(example) -> bool:
    before = example.document.text[: example.start].rstrip().splitlines()
    return bool(before) and bool(MARK.match(before[-1].strip()))


def setup(namespace: dict) -> None:
    workdir = make_workdir()
    namespace["__workdir__"] = workdir
    namespace["__cwd__"] = os.getcwd()
    os.chdir(workdir)


def teardown(namespace: dict) -> None:
    os.chdir(namespace["__cwd__"])
    shutil.rmtree(namespace["__workdir__"], ignore_errors=True)


def evaluate_bash(example) -> None:
    if _not_run(example):
        return
    for command in split_commands(example.parsed):
        try:
            run_command(command, example.namespace["__workdir__"])
        except AssertionError as error:
            raise AssertionError(f"line {example.line}: {error}; if it cannot run here, mark the block "
                                 f"'% not-run: <reason>'") from None


def built_blocks(page: Path, kind: str) -> list[str]:
    """The ``{run}`` transcripts (``run-transcript``) or shown files (``run-file``) of a page, as
    the built site shows them (text, tags removed)."""
    built = SITE / page.relative_to(ROOT / "docs").with_suffix(".html")
    if not built.exists():
        raise AssertionError(f"{built} is missing: build the site first (make docs; make test does)")
    return [html.unescape(re.sub(r"<[^>]+>", "", block)).rstrip("\n")
            for block in re.findall(BUILT_BLOCK.format(kind=kind), built.read_text(encoding="utf-8"), re.S)]


def evaluate_run(example) -> None:
    options = example.region.lexemes.get("options", {})
    returncode = int(options.get("returncode", 0))
    commands = split_commands(example.parsed)
    parts = [transcript(c, run_command(c, example.namespace["__workdir__"], returncode if i == len(commands) - 1 else 0))
             for i, c in enumerate(commands)]
    ran = "\n\n".join(parts)
    shown = built_blocks(Path(example.path), "run-transcript")
    if ran not in shown:
        raise AssertionError(f"line {example.line}: the built page does not show what this block prints now "
                             f"(rebuild the site?); ran:\n{ran}\n\nthe page shows:\n" + "\n---\n".join(shown))
    if "show" in options:
        wrote = shown_file(example.namespace["__workdir__"], options["show"])
        # A launcher's config stamp is the sha256 of the file as written, absolute paths of its folder
        # included: it differs from one folder to the next, so it is compared as a digest, not by value.
        stamp = re.compile(r"sha256 of the lines below: [0-9a-f]{64}")
        if stamp.sub("sha256 …", wrote) not in [stamp.sub("sha256 …", b) for b in built_blocks(Path(example.path), "run-file")]:
            raise AssertionError(f"line {example.line}: the built page does not show the {options['show']} "
                                 f"that this block writes now (rebuild the site?):\n{wrote}")


class RunBlockParser:
    """The ``{run}`` directive's blocks (see docs/_ext/run_directive.py)."""

    def __init__(self) -> None:
        self.lexer = DirectiveLexer(directive="run")

    def __call__(self, document) -> list[Region]:
        regions = []
        for region in self.lexer(document):
            region.parsed = region.lexemes["source"]
            region.evaluator = evaluate_run
            regions.append(region)
        return regions


def evaluate_python(example) -> None:
    if _not_run(example):
        return
    source = "\n" * (example.line - 1) + example.parsed  # tracebacks point at the page's lines
    exec(compile(source, str(example.path), "exec"), example.namespace)


pytest_collect_file = Sybil(
    parsers=[
        CodeBlockParser(language="python", evaluator=evaluate_python),
        CodeBlockParser(language="bash", evaluator=evaluate_bash),
        RunBlockParser(),
    ],
    patterns=["*.md"],
    setup=setup,
    teardown=teardown,
    excludes=["apidocs/*", "_generated/*", "_build/*", "CLAUDE.md"],
).pytest()
