"""The token-exact page's outputs: the prepare report, a row and its segments decoded, the drift table."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import ROOT, abbreviate, run_script


def generate(out: Path, samples: Path) -> None:
    from reference_impl.token_samples import sample_tokenizer
    from reference_impl.tokens import TokenSequence, segments

    tokens = samples.with_name("token_rollouts.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(tokens, work / "token_rollouts.jsonl")
        args = ("--input", "token_rollouts.jsonl", "--output", "sft_tokens.jsonl", "--algorithm", "sft-tokens")
        printed = run_script("prepare_for_trl.py", *args, cwd=work)
        (out / "tokens_prepare.txt").write_text(f"$ python scripts/prepare_for_trl.py {' '.join(args)}\n{printed}")
        row = json.loads((work / "sft_tokens.jsonl").read_text().splitlines()[0])
        args = ("--input", "samples/token_rollouts.jsonl")
        printed = run_script("measure_token_drift.py", *args, cwd=ROOT)
        (out / "tokens_drift.md").write_text(printed)
    (out / "tokens_row.json").write_text(json.dumps(abbreviate(row, 60)) + "\n")
    tokenizer = sample_tokenizer(samples)
    sequence = TokenSequence(row["input_ids"], row["assistant_masks"], row["generation_log_probs"], 0)
    lines = []
    for mask, ids, _ in segments(sequence):
        label = "generated, mask 1" if mask else "came between, mask 0"
        lines.append(f"--- {len(ids)} tokens, {label} ---\n{tokenizer.decode(ids)}")
    (out / "tokens_row_segments.txt").write_text("\n".join(lines) + "\n")
