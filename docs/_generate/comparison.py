"""The table of which parts of a rollout each format keeps, read from the rows the scripts write."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import run_script

FORMATS = [("trl", "sft"), ("trl", "dpo"), ("trl", "kto"), ("trl", "grpo"), ("nemo_rl", "sft"), ("nemo_rl", "dpo"),
           ("nemo_rl", "grpo"), ("verl", "sft"), ("verl", "grpo"), ("openrlhf", "sft"), ("openrlhf", "dpo"),
           ("openrlhf", "grpo")]
PARTS = ["prompt", "assistant turns", "tool calls", "tool schemas", "reasoning", "reward / preference", "ground truth"]


def parts_kept(row_text: str, row: dict) -> set[str]:
    """Which parts of a rollout a written row carries, judged from its content."""
    kept = set()
    if '"role": "user"' in row_text or '"role":"user"' in row_text or "responses_create_params" in row:
        kept.add("prompt")
    if '"assistant"' in row_text and any(k in row for k in ("messages", "chosen", "completion", "completions")):
        kept.add("assistant turns")
    if '"tool_calls": [{' in row_text:
        kept.add("tool calls")
    if row.get("tools") not in (None, [], "[]") or "<tools>" in row_text or (row.get("responses_create_params") or {}).get("tools"):
        kept.add("tool schemas")
    if "reasoning_content" in row_text:
        kept.add("reasoning")
    if any(k in row for k in ("chosen", "completions", "label")) and not isinstance(row.get("label"), str):
        kept.add("reward / preference")
    if any(k in row for k in ("expected_answer", "reward_model")) or isinstance(row.get("label"), str):
        kept.add("ground truth")
    return kept


def coverage_table(coverage: dict[str, set[str]]) -> str:
    """A row per format, a column per part of a rollout: kept or not."""
    lines = ["| format | " + " | ".join(PARTS) + " |", "| --- | " + " | ".join(":---:" for _ in PARTS) + " |"]
    for name, kept in coverage.items():
        lines.append(f"| {name} | " + " | ".join("✓" if part in kept else "–" for part in PARTS) + " |")
    return "\n".join(lines) + "\n"


def generate(out: Path, samples: Path) -> None:
    import pyarrow.parquet as pq

    coverage = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        for target, algorithm in FORMATS:
            output = work / f"{target}_{algorithm}{'.parquet' if target == 'verl' else '.jsonl'}"
            run_script(f"prepare_for_{target}.py", "--input", "rollouts.jsonl", "--output", output.name,
                       "--algorithm", algorithm, cwd=work)
            rows = pq.read_table(output).to_pylist() if output.suffix == ".parquet" else [
                json.loads(line) for line in output.read_text().splitlines()]
            kept = set()
            for row in rows:
                kept |= parts_kept(json.dumps(row, ensure_ascii=False), row)
            coverage[f"{target} {algorithm}"] = kept
    (out / "format_coverage.md").write_text(coverage_table(coverage))
