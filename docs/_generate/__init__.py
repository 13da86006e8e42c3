"""Files the pages show that the code makes from the sample rollouts while the docs build.

Each module in this folder defines ``generate(out: Path, samples: Path) -> None``, which
writes files into ``out`` (``docs/_generated/``): the first rows of a written dataset, a
table, a picture, or the report of a run on an input broken on purpose. Pages show them with
``literalinclude``, ``include`` or ``image``, so every sample on the site is what the code
really made, on the day it was built. (A command a page shows, with what it printed, is a
``{run}`` block instead: see ``docs/_ext/run_directive.py``.) ``conf.py`` calls
{func}`generate_all` before Sphinx reads the pages.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str, *args: str, cwd: Path, expect: int = 0) -> str:
    """Run ``scripts/<script>`` with this Python in ``cwd``; return what it printed.

    A different exit status than ``expect`` fails the docs build, loudly. With a non-zero
    ``expect`` (a page showing a failure), standard error is returned after standard output.
    """
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], cwd=cwd,
                          capture_output=True, text=True)
    if done.returncode != expect:
        raise RuntimeError(f"{script} {' '.join(args)} exited {done.returncode}, not {expect}:\n{done.stdout}\n{done.stderr}")
    return done.stdout + (done.stderr if expect else "")


def abbreviate(value, limit: int = 120):
    """A JSON value with long strings and lists cut, so that a sample row fits on a page; each cut
    says what it left out.

    >>> abbreviate({"text": "abcdef", "items": [1, 2, 3, 4, 5, 6]}, limit=3)
    {'text': 'abc[… 3 more characters]', 'items': [1, 2, 3, 4, '[… 2 more items]']}
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}[… {len(value) - limit} more characters]"
    if isinstance(value, list):
        rest = [f"[… {len(value) - 4} more items]"] if len(value) > 4 else []
        return [abbreviate(v, limit) for v in value[:4]] + rest
    if isinstance(value, dict):
        return {k: abbreviate(v, limit) for k, v in value.items()}
    return value


def sample_json(value, limit: int = 120, indent: int = 2) -> str:
    """A sample row for a page: cut with :func:`abbreviate`, characters written as they are
    (no ``\\u`` escapes)."""
    return json.dumps(abbreviate(value, limit), indent=indent, ensure_ascii=False) + "\n"


def generate_all(out: Path, samples: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.generate(out, samples)
