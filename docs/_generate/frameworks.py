"""The VeRL, OpenRLHF and TRL guides: a sample row of each format, what the scripts printed, the launch commands."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from . import ROOT, abbreviate, run_script

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
                args = ("--input", "unique.jsonl", "--output", data, "--algorithm", algorithm)
                printed = run_script(f"prepare_for_{target}.py", *args, cwd=work)
                (out / f"{target}_{algorithm}_prepare.txt").write_text(
                    f"$ python scripts/prepare_for_{target}.py {' '.join(args)}\n{printed}")
                row = first_row(work / data, "tool_call" if algorithm == "sft" else "boxed")
                (out / f"{target}_{algorithm}_row.json").write_text(json.dumps(abbreviate(row, 140), indent=2) + "\n")
                if target in ("verl", "openrlhf"):
                    launch = (f"train_{target}.py", "--data_path", data, "--algorithm", algorithm)
                    printed = run_script(*launch, cwd=work).replace(str(work) + "/", "").replace(str(ROOT), "/path/to/project")
                    (out / f"{target}_{algorithm}_launch.txt").write_text(f"$ python scripts/{' '.join(launch)}\n{printed}")
