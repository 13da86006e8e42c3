"""The quick start's printed report."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import run_script


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        args = ("--input", "rollouts.jsonl", "--output", "sft.jsonl", "--algorithm", "sft")
        printed = run_script("prepare_for_trl.py", *args, cwd=work)
        (out / "quickstart_trl_sft.txt").write_text(f"$ python scripts/prepare_for_trl.py {' '.join(args)}\n{printed}")
