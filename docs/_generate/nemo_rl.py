"""NeMo RL pages: a sample row of each format (the commands and configs are {run} blocks on the pages)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import run_script, sample_json


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        for algorithm in ("sft", "dpo", "grpo"):
            data = f"{algorithm}.jsonl"
            run_script("prepare_for_nemo_rl.py", "--input", "rollouts.jsonl", "--output", data,
                       "--algorithm", algorithm, cwd=work)
            rows = (work / data).read_text().splitlines()
            pick = next((r for r in rows if "tool_calls" in r or "function_call" in r), rows[0])
            (out / f"nemo_rl_{algorithm}_row.json").write_text(sample_json(json.loads(pick), 160))
