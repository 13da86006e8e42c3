"""The GPU training table, from the JSON that benchmarks/gpu_training.py wrote on the GPU machine."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "reference" / "gpu_results.json"


def generate(out: Path, samples: Path) -> None:
    r = json.loads(RESULTS.read_text())
    m = r["model"]
    lines = [
        f"Measured {r['measured']} on one {r['gpu']}: Python {r['python']}, "
        + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
        "",
        f"Model: {m['architecture']}, {m['parameters'] / 1e6:.0f}M parameters, {m['layers']} layers, "
        f"hidden size {m['hidden_size']}, {m['dtype']}.",
        "",
        "| run | rows | per-device batch | steps | tokens per second | peak GPU memory |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    sft, grpo = r["sft"], r["grpo"]
    lines.append(f"| SFT (assistant-only loss, gradient checkpointing) | {sft['rows']} | {sft['batch']} | {sft['steps']} "
                 f"| {sft['tokens_per_second']:,.0f} trained tokens/s (steps {sft['measured_over_steps']}) "
                 f"| {sft['peak_memory_gib']} GiB |")
    lines.append(f"| GRPO ({grpo['num_generations']} generations of up to {grpo['max_completion_length']} tokens) "
                 f"| {grpo['rows']} | {grpo['batch']} | {grpo['steps']} | {grpo['tokens_per_second']:,.0f} generated "
                 f"tokens/s (steps {grpo['measured_over_steps']}) | {grpo['peak_memory_gib']} GiB |")
    (out / "gpu_table.md").write_text("\n".join(lines) + "\n")
