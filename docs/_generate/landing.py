"""The first row of the custom mapping's output, shown on the training-integration page."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import ROOT, run_script, sample_json


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        run_script("prepare_custom.py", "--input", "rollouts.jsonl", "--output", "custom.jsonl",
                   "--mapping", str(ROOT / "samples" / "mapping.yaml"), cwd=work)
        first = json.loads((work / "custom.jsonl").read_text().splitlines()[0])
        (out / "custom_first_row.json").write_text(sample_json(first))
