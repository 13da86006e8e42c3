"""Run the code blocks of the site's pages (Sybil).

Each page runs in order, in one namespace, in a fresh folder that holds ``rollouts.jsonl``
(the shipped sample rollouts) and links to the repository's ``scripts`` and ``samples``, as a
reader who cloned the project would. ``python`` fences run as Python; ``bash`` fences run
their ``python scripts/...`` commands, which must succeed and write every ``--output``
they name. A block under ``% not-run: <reason>`` is not run (tests/doc_blocks.py checks
that the reason is there).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sybil import Sybil
from sybil.parsers.myst import CodeBlockParser

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"^%\s*not-run\s*:")


def _not_run(example) -> bool:
    before = example.document.text[: example.start].rstrip().splitlines()
    return bool(before) and bool(MARK.match(before[-1].strip()))


def setup(namespace: dict) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="docs-"))
    shutil.copy(ROOT / "samples" / "rollouts.jsonl", workdir / "rollouts.jsonl")
    (workdir / "scripts").symlink_to(ROOT / "scripts")
    (workdir / "samples").symlink_to(ROOT / "samples")
    namespace["__workdir__"] = workdir
    namespace["__cwd__"] = os.getcwd()
    os.chdir(workdir)


def teardown(namespace: dict) -> None:
    os.chdir(namespace["__cwd__"])
    shutil.rmtree(namespace["__workdir__"], ignore_errors=True)


def commands(source: str) -> list[str]:
    """The commands of a bash block: continuations joined, comments and blank lines dropped.

    >>> commands("# prepare\\npython scripts/a.py \\\\\\n  --input x\\n\\npython scripts/b.py")
    ['python scripts/a.py --input x', 'python scripts/b.py']
    """
    joined = re.sub(r"\s*\\\n\s*", " ", source)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def outputs_named(argv: list[str]) -> list[str]:
    """The files a command says it writes (``--output X``, ``--report X``).

    >>> outputs_named(["python", "x.py", "--output", "a.jsonl", "--report=r.json"])
    ['a.jsonl', 'r.json']
    """
    found = []
    for i, arg in enumerate(argv):
        for option in ("--output", "--report"):
            if arg == option and i + 1 < len(argv):
                found.append(argv[i + 1])
            elif arg.startswith(option + "="):
                found.append(arg.split("=", 1)[1])
    return found


def evaluate_bash(example) -> None:
    if _not_run(example):
        return
    workdir = example.namespace["__workdir__"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    for command in commands(example.parsed):
        argv = shlex.split(command)
        if argv[0] not in ("python", "python3") or len(argv) < 2 or not argv[1].startswith("scripts/"):
            raise AssertionError(f"line {example.line}: cannot run {command!r} here; mark the block '% not-run: <reason>'")
        done = subprocess.run([sys.executable, *argv[1:]], cwd=workdir, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise AssertionError(f"{command} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        for path in outputs_named(argv):
            if not (workdir / path).exists():
                raise AssertionError(f"{command} did not write {path}")


def evaluate_python(example) -> None:
    if _not_run(example):
        return
    source = "\n" * (example.line - 1) + example.parsed  # tracebacks point at the page's lines
    exec(compile(source, str(example.path), "exec"), example.namespace)


pytest_collect_file = Sybil(
    parsers=[
        CodeBlockParser(language="python", evaluator=evaluate_python),
        CodeBlockParser(language="bash", evaluator=evaluate_bash),
    ],
    patterns=["*.md"],
    setup=setup,
    teardown=teardown,
    excludes=["apidocs/*", "_generated/*", "_build/*", "CLAUDE.md"],
).pytest()
