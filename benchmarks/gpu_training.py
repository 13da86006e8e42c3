#!/usr/bin/env python3
"""Training throughput on a GPU: TRL SFT and GRPO on prepared sample data, with a small
real-architecture model (Qwen2.5-0.5B's shape, random init) in bf16.

Writes a JSON file of tokens per second and peak GPU memory, with the machine and versions,
for the site's GPU page. Needs a CUDA GPU; nothing is downloaded (the tokenizer is trained on
the sample rollouts, the model is initialised from a config).

    python benchmarks/gpu_training.py --output gpu_results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QWEN25_05B = dict(hidden_size=896, layers=24, heads=14, kv_heads=2)


def build_model_folder(folder: Path, samples: Path) -> Path:
    from reference_impl.train.tiny_model import build_model, build_tokenizer, rollout_texts

    tokenizer = build_tokenizer(rollout_texts([samples]), vocab_size=4096)
    model = build_model(tokenizer, **QWEN25_05B)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def prepare(samples: Path, work: Path, algorithm: str) -> Path:
    from reference_impl.cli import prepare_main

    output = work / f"{algorithm}.jsonl"
    assert prepare_main("trl", ["--input", str(samples), "--output", str(output), "--algorithm", algorithm,
                                "--no-progress"]) == 0
    return output


WARMUP_STEPS = 3


def measure(trainer, tokens_so_far) -> dict:
    """Train, timing every step; the rate is over the steps after the first few (compilation, caches)."""
    import torch
    from transformers import TrainerCallback

    marks = []

    class StepClock(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # after the step's metrics are logged
            if logs and "loss" in logs:
                torch.cuda.synchronize()
                marks.append((time.perf_counter(), tokens_so_far()))

    trainer.add_callback(StepClock())
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    (t0, n0), (t1, n1) = marks[WARMUP_STEPS - 1], marks[-1]
    return {"steps": result.global_step, "seconds": round(seconds, 2), "tokens": marks[-1][1],
            "tokens_per_second": round((n1 - n0) / (t1 - t0), 1),
            "measured_over_steps": f"{WARMUP_STEPS + 1}-{result.global_step}", "loss": result.training_loss,
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def run_sft(model_dir: Path, data: Path, work: Path, steps: int, batch: int) -> dict:
    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    dataset = load_dataset("json", data_files=str(data), split="train")
    args = SFTConfig(output_dir=str(work / "sft"), max_steps=steps, per_device_train_batch_size=batch, bf16=True,
                     assistant_only_loss=True, max_length=4096, gradient_checkpointing=True, report_to=[],
                     save_strategy="no", logging_steps=1, learning_rate=1e-4)
    trainer = SFTTrainer(model=str(model_dir), args=args, train_dataset=dataset)
    seen = {"tokens": 0}
    original = trainer.compute_loss

    def counting(model, inputs, *a, **k):
        mask = inputs.get("attention_mask")
        seen["tokens"] += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        return original(model, inputs, *a, **k)

    trainer.compute_loss = counting
    return {"rows": len(dataset), "batch": batch, **measure(trainer, lambda: seen["tokens"])}


def run_grpo(model_dir: Path, data: Path, work: Path, steps: int, batch: int, generations: int, length: int) -> dict:
    from datasets import load_dataset
    from trl import GRPOConfig, GRPOTrainer

    from reference_impl.rewards import trl_math_reward

    dataset = load_dataset("json", data_files=str(data), split="train")
    args = GRPOConfig(output_dir=str(work / "grpo"), max_steps=steps, per_device_train_batch_size=batch, bf16=True,
                      num_generations=generations, max_completion_length=length, report_to=[], save_strategy="no",
                      logging_steps=1, gradient_checkpointing=True)
    trainer = GRPOTrainer(model=str(model_dir), reward_funcs=[trl_math_reward], args=args, train_dataset=dataset)

    def completion_tokens():
        return round(sum(h["completions/mean_length"] * batch for h in trainer.state.log_history
                         if "completions/mean_length" in h))

    result = measure(trainer, completion_tokens)
    result["note"] = "generated completion tokens per second (transformers generation, no vLLM)"
    return {"rows": len(dataset), "batch": batch, "num_generations": generations, "max_completion_length": length, **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--sft-steps", type=int, default=60)
    parser.add_argument("--grpo-steps", type=int, default=8)
    args = parser.parse_args()
    import datasets
    import torch
    import transformers
    import trl

    from reference_impl.samples import write_sample_rollouts

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        samples = work / "rollouts.jsonl"
        write_sample_rollouts(samples, tasks_per_kind=16, rollouts_per_task=8, seed=1)
        model_dir = build_model_folder(work / "model", samples)
        parameters = sum(p.numel() for p in transformers.AutoModelForCausalLM.from_pretrained(model_dir).parameters())
        sft = run_sft(model_dir, prepare(samples, work, "sft"), work, args.sft_steps, batch=8)
        grpo = run_grpo(model_dir, prepare(samples, work, "grpo"), work, args.grpo_steps, batch=8, generations=8, length=128)
    result = {
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "gpu": torch.cuda.get_device_name(0), "python": platform.python_version(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                     "datasets": datasets.__version__},
        "model": {"architecture": "Qwen2ForCausalLM (Qwen2.5-0.5B shape, random init)", **QWEN25_05B,
                  "parameters": parameters, "dtype": "bfloat16"},
        "sft": sft, "grpo": grpo,
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
