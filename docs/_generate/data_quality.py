"""The data-quality page: filter reports, the quality table and its two pictures."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import run_script


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        for name, args in {
            "filter_min_reward": ("--output", "filtered.jsonl", "--min_reward", "0.7"),
            "filter_groups": ("--output", "informative.jsonl", "--drop_uniform_groups", "--top_k", "2", "--dedupe"),
        }.items():
            printed = run_script("filter_rollouts.py", "--input", "rollouts.jsonl", *args, cwd=work)
            (out / f"{name}.txt").write_text(f"$ python scripts/filter_rollouts.py --input rollouts.jsonl {' '.join(args)}\n{printed}")
        printed = run_script("rollout_stats.py", "--input", "rollouts.jsonl", "--report", "report.json",
                             "--plots", str(out), cwd=work)
        (out / "stats_report.txt").write_text(printed)
