"""The table of rows each format gets from the sample rollouts (datasets/index)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import run_script

SCRIPTS = {"trl": "prepare_for_trl.py", "nemo_rl": "prepare_for_nemo_rl.py",
           "verl": "prepare_for_verl.py", "openrlhf": "prepare_for_openrlhf.py"}


def generate(out: Path, samples: Path) -> None:
    from reference_impl.formats import TARGETS

    lines = ["| framework | algorithm | rows | records used | skipped (reasons) |", "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        for target, script in SCRIPTS.items():
            for name, algorithm in TARGETS[target].items():
                output = f"{target}_{name}{algorithm.suffixes[0]}"
                run_script(script, "--input", "rollouts.jsonl", "--output", output, "--algorithm", name, cwd=work)
                counts = json.loads((work / output.rsplit(".", 1)[0]).with_suffix(".manifest.json").read_text())["counts"]
                reasons = "; ".join(f"{n} {r}" for r, n in counts["skipped"].items()) or "none"
                lines.append(f"| {target} | {name} | {counts['rows_written']} | {counts['used']} | {reasons} |")
    (out / "prepare_counts.md").write_text("\n".join(lines) + "\n")
