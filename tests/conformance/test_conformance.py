"""VeRL 0.9.1 and OpenRLHF 0.11.2 load what our scripts write, with their own dataset classes.

The proof of the formats is the consumers: each framework's data class, installed in an
environment of its own (tests/conformance/setup_envs.sh), reads files prepared from the
sample rollouts and from every real rollout file, and what it makes of them is checked:
row counts, prompts, ground truths and labels as written, every tool call and result in
order in the rendered text, and a loss mask over the assistant turns only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from paths import REAL_FILES, ROOT, SAMPLES  # tests/conftest.py

from reference_impl.cli import prepare_main

pytestmark = pytest.mark.slow
ENVS = ROOT / ".conformance"
HERE = Path(__file__).parent
CUSTOM_CLS = ROOT / "reference_impl" / "formats" / "verl_sft_dataset.py"
SOURCES = [SAMPLES, *REAL_FILES]


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    from reference_impl.train.tiny_model import build_tokenizer, rollout_texts

    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(rollout_texts([SAMPLES])).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """Every source prepared for every VeRL and OpenRLHF format; {(target, algorithm): [(source, output, rows)]}."""
    folder = tmp_path_factory.mktemp("prepared")
    made = {}
    for target, algorithm, suffix in [("verl", "grpo", ".parquet"), ("verl", "sft", ".parquet"),
                                      ("openrlhf", "sft", ".jsonl"), ("openrlhf", "dpo", ".jsonl"),
                                      ("openrlhf", "grpo", ".jsonl")]:
        for source in SOURCES:
            output = folder / f"{source.stem}.{target}.{algorithm}{suffix}"
            status = prepare_main(target, ["--input", str(source), "--output", str(output), "--algorithm", algorithm,
                                           "--skip-invalid", "--no-progress"])
            if status == 1 and not output.exists():  # no row to write (said so); nothing for the loader
                continue
            assert status == 0
            rows = json.loads(output.with_name(output.stem + ".manifest.json").read_text())["counts"]["rows_written"]
            made.setdefault((target, algorithm), []).append((source, output, rows))
    return made


def run_checker(command: list[str], env_extra: dict | None = None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env_extra or {})}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=HERE)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def verl(kind, paths, tokenizer_dir):
    return run_checker([str(ENVS / "verl" / "bin" / "python"), str(HERE / "check_verl.py"), str(tokenizer_dir),
                        str(CUSTOM_CLS), kind, *map(str, paths)])


def openrlhf(kind, paths, tokenizer_dir):
    return run_checker([sys.executable, str(HERE / "check_openrlhf.py"), str(tokenizer_dir), kind, *map(str, paths)],
                       {"PYTHONPATH": str(ENVS / "openrlhf")})


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_calls(messages: list[dict]) -> list[str]:
    """The text each tool call renders to, in order (arguments as the template writes them)."""
    rendered = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            arguments = call["function"]["arguments"]
            arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
            rendered.append(f'{{"name": "{call["function"]["name"]}", "arguments": {json.dumps(arguments, ensure_ascii=False)}}}')
    return rendered


def assert_trained_on_assistant_turns_only(messages: list[dict], item: dict):
    position = 0
    for call in expected_calls(messages):
        found = item["trained"].find(call, position)
        assert found >= 0, f"tool call {call} not trained, in order"
        position = found + len(call)
    for message in messages:
        if message["role"] == "tool" and message["content"]:
            assert message["content"] in item["text"], "a tool result is missing from the rendered text"
        if message["role"] == "user" and len(message["content"]) > 20:
            assert message["content"] not in item["trained"], "a user turn is in the loss"
        if message["role"] == "assistant" and message.get("content"):
            assert message["content"].strip() in item["trained"], "an assistant turn is not in the loss"


def test_verl_rlhf_dataset_reads_our_prompts(envs, tokenizer_dir, prepared):
    made = prepared[("verl", "grpo")]
    result = verl("rl", [output for _, output, _ in made], tokenizer_dir)
    for source, output, rows in made:
        seen = result[str(output)]
        ours = read_rows(output)
        assert seen["rows"] == rows == len(ours)
        assert seen["raw_prompts"] == [row["prompt"] for row in ours]
        assert seen["ground_truths"] == [row["reward_model"]["ground_truth"] for row in ours]
        assert seen["indexes"] == [row["extra_info"]["index"] for row in ours] and len(set(seen["indexes"])) == rows


def test_verl_multiturn_sft_dataset_masks_the_assistant_turns(envs, tokenizer_dir, prepared):
    made = prepared[("verl", "sft")]
    result = verl("sft", [output for _, output, _ in made], tokenizer_dir)
    checked_calls = 0
    for source, output, rows in made:
        seen = result[str(output)]
        assert seen["rows"] == rows
        for row, item in zip(read_rows(output), seen["items"]):
            messages = [{k: v for k, v in m.items() if v is not None} for m in row["messages"]]
            assert_trained_on_assistant_turns_only(messages, item)
            checked_calls += len(expected_calls(messages))
            if source == SAMPLES:
                assert "null" not in item["text"], "parquet null-filling reached the template"
    assert checked_calls > 20


def test_openrlhf_sft_dataset_multiturn(envs, tokenizer_dir, prepared):
    made = prepared[("openrlhf", "sft")]
    result = openrlhf("sft", [output for _, output, _ in made], tokenizer_dir)
    for source, output, rows in made:
        seen = result[str(output)]
        assert seen["rows"] == rows
        for row, item in zip(read_rows(output), seen["items"]):
            assert_trained_on_assistant_turns_only(row["messages"], item)
            if source == SAMPLES:
                assert "null" not in item["text"]


@pytest.mark.parametrize("kind", ["dpo", "rm"])
def test_openrlhf_reward_dataset_pairs(envs, tokenizer_dir, prepared, kind):
    made = prepared[("openrlhf", "dpo")]
    result = openrlhf(kind, [output for _, output, _ in made], tokenizer_dir)
    for source, output, rows in made:
        seen = result[str(output)]
        assert seen["rows"] == rows
        assert all(p.endswith("<|im_start|>assistant\n") for p in seen["prompts"])
        assert all(c != r for c, r in zip(seen["chosen"], seen["rejected"]))
        if kind == "rm":  # the reward-model loss reads the margin
            assert seen["extras"] == [row["margin"] for row in read_rows(output)]
        else:  # DPO keeps the prompt's length to mask it
            assert all(extra > 0 for extra in seen["extras"])


def test_openrlhf_prompt_dataset_labels(envs, tokenizer_dir, prepared):
    made = prepared[("openrlhf", "grpo")]
    result = openrlhf("prompt", [output for _, output, _ in made], tokenizer_dir)
    for source, output, rows in made:
        seen = result[str(output)]
        ours = read_rows(output)
        assert seen["rows"] == rows
        assert seen["labels"] == [row["label"] for row in ours]
        assert seen["datasources"] == [row["datasource"] for row in ours]
        assert all(p.endswith("<|im_start|>assistant\n") for p in seen["prompts"])
