"""Outputs shown on the landing page: a custom-mapping row, a validation run, the end-to-end example."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import ROOT, abbreviate, run_script


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        run_script("prepare_custom.py", "--input", "rollouts.jsonl", "--output", "custom.jsonl",
                   "--mapping", str(ROOT / "samples" / "mapping.yaml"), cwd=work)
        first = json.loads((work / "custom.jsonl").read_text().splitlines()[0])
        (out / "custom_first_row.json").write_text(json.dumps(abbreviate(first), indent=2, ensure_ascii=False) + "\n")

        validate = ("--target", "trl", "--algorithm", "sft")
        run_script("prepare_for_trl.py", "--input", "rollouts.jsonl", "--output", "all.jsonl", "--algorithm", "sft", cwd=work)
        duplicates = run_script("validate_training_data.py", "--input", "all.jsonl", *validate, cwd=work, expect=1)
        (out / "validate_duplicates.txt").write_text(
            f"$ python scripts/validate_training_data.py --input all.jsonl {' '.join(validate)}\n{duplicates}")
        run_script("filter_rollouts.py", "--input", "rollouts.jsonl", "--output", "unique.jsonl", "--dedupe", cwd=work)
        run_script("prepare_for_trl.py", "--input", "unique.jsonl", "--output", "training_data.jsonl", "--algorithm", "sft", cwd=work)
        report = run_script("validate_training_data.py", "--input", "training_data.jsonl", *validate, cwd=work)
        (out / "validate_trl_sft.txt").write_text(
            f"$ python scripts/validate_training_data.py --input training_data.jsonl {' '.join(validate)}\n{report}")

        steps = [
            ("filter_rollouts.py", "--input", "rollouts.jsonl", "--output", "filtered.jsonl", "--min_reward", "0.7"),
            ("prepare_for_nemo_rl.py", "--input", "filtered.jsonl", "--output", "training_data.jsonl", "--algorithm", "sft"),
            ("train_nemo_rl.py", "--data_path", "training_data.jsonl", "--config", "nemo_rl_config.yaml", "--algorithm", "sft"),
        ]
        transcript = []
        for script, *args in steps:
            printed = run_script(script, *args, cwd=work).replace(str(work) + "/", "")
            transcript.append(f"$ python scripts/{script} {' '.join(args)}\n{printed}")
        (out / "e2e_output.txt").write_text("\n".join(transcript))
