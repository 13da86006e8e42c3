"""Run the commands a page shows, the way a reader would: shared by the docs build and the doc tests.

A page's commands run in order in one fresh folder that holds ``rollouts.jsonl`` (the shipped
sample rollouts) and links to the project's ``scripts`` and ``samples``: a reader's clone of
the project after the quick start's first step. ``python`` is this interpreter, and the
project's package is importable.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PLACEHOLDER = "/path/to/project"


@dataclass(frozen=True)
class Command:
    """One command of a block: as the page writes it (``shown``) and as it runs (``line``)."""

    shown: str
    line: str


def split_commands(source: str) -> list[Command]:
    """The commands of a shell block, each with its continuation lines; comments and blanks dropped.

    >>> [c.line for c in split_commands("# prepare\\npython scripts/a.py \\\\\\n  --input x\\n\\npython scripts/b.py")]
    ['python scripts/a.py --input x', 'python scripts/b.py']
    >>> split_commands("python scripts/a.py \\\\\\n  --input x")[0].shown
    'python scripts/a.py \\\\\\n  --input x'
    """
    found, pending = [], []
    for raw in source.splitlines():
        if not pending and (not raw.strip() or raw.strip().startswith("#")):
            continue
        pending.append(raw.rstrip())
        if not raw.rstrip().endswith("\\"):
            shown = "\n".join(pending)
            found.append(Command(shown, re.sub(r"\s*\\\n\s*", " ", shown).strip()))
            pending = []
    if pending:
        shown = "\n".join(pending)
        found.append(Command(shown, re.sub(r"\s*\\\n\s*", " ", shown).strip()))
    return found


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


def make_workdir() -> Path:
    """A fresh folder laid out like the reader's project folder after the quick start's first step."""
    workdir = Path(tempfile.mkdtemp(prefix="docs-"))
    shutil.copy(ROOT / "samples" / "rollouts.jsonl", workdir / "rollouts.jsonl")
    (workdir / "scripts").symlink_to(ROOT / "scripts")
    (workdir / "samples").symlink_to(ROOT / "samples")
    return workdir


def run_command(command: Command, workdir: Path, returncode: int = 0) -> str:
    """Run one ``python scripts/...`` command in ``workdir``; return what a terminal would show.

    Standard output and standard error are read together, as a terminal interleaves them, with
    ``workdir`` dropped from paths and the project's folder written as ``/path/to/project``.
    An exit status other than ``returncode``, or an ``--output`` the command did not write,
    raises ``AssertionError``.
    """
    argv = shlex.split(command.line)
    if argv[0] not in ("python", "python3") or len(argv) < 2 or not argv[1].startswith("scripts/"):
        raise AssertionError(f"cannot run {command.line!r}: a page runs only `python scripts/...` commands")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    done = subprocess.run([sys.executable, *argv[1:]], cwd=workdir, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    printed = done.stdout.replace(str(workdir) + "/", "").replace(str(workdir), ".")
    printed = printed.replace(str(ROOT), PROJECT_PLACEHOLDER)
    if done.returncode != returncode:
        raise AssertionError(f"{command.line} exited {done.returncode}, not {returncode}:\n{printed}")
    if returncode == 0:
        for path in outputs_named(argv):
            if not (workdir / path).exists():
                raise AssertionError(f"{command.line} did not write {path}")
    return printed


def transcript(command: Command, printed: str) -> str:
    """A command as the page writes it, after a ``$`` prompt, then what it printed.

    >>> print(transcript(Command("python scripts/a.py \\\\\\n  --input x", "python scripts/a.py --input x"), "ok\\n"))
    $ python scripts/a.py \\
      --input x
    ok
    """
    return f"$ {command.shown}\n{printed}".rstrip("\n")


def shown_file(workdir: Path, path: str) -> str:
    """A file the page's commands wrote, as a page shows it (folder names as in ``run_command``)."""
    text = (workdir / path).read_text(encoding="utf-8")
    return text.replace(str(workdir) + "/", "").replace(str(ROOT), PROJECT_PLACEHOLDER).rstrip("\n")
