"""The VeRL, OpenRLHF and TRL guides: a sample row of each format (the commands are {run} blocks on the pages)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from . import run_script, sample_json

FORMATS = {
    "verl": [("grpo", ".parquet"), ("sft", ".parquet")],
    "openrlhf": [("sft", ".jsonl"), ("dpo", ".jsonl"), ("grpo", ".jsonl")],
    "trl": [("sft", ".jsonl"), ("dpo", ".jsonl"), ("kto", ".jsonl"), ("grpo", ".jsonl")],
}


def first_row(path: Path, prefer: str) -> dict:
    rows = (pq.read_table(path).to_pylist() if path.suffix == ".parquet"
            else [json.loads(line) for line in path.read_text().splitlines()])
    return next((r for r in rows if prefer in json.dumps(r)), rows[0])


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        run_script("filter_rollouts.py", "--input", "rollouts.jsonl", "--output", "unique.jsonl", "--dedupe", cwd=work)
        for target, formats in FORMATS.items():
            for algorithm, suffix in formats:
                data = f"{target}_{algorithm}{suffix}"
                run_script(f"prepare_for_{target}.py", "--input", "unique.jsonl", "--output", data,
                           "--algorithm", algorithm, cwd=work)
                row = first_row(work / data, "tool_call" if algorithm == "sft" else "boxed")
                (out / f"{target}_{algorithm}_row.json").write_text(sample_json(row, 140))
