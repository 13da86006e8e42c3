"""TRL 1.16 accepts what prepare_for_trl.py writes: each trainer runs on it (tiny offline model, CPU).

This is the proof that the TRL formats are right: not our schema, TRL's own trainers.
"""

import math

import pytest
from paths import SAMPLES

from reference_impl.cli import filter_main, prepare_main

pytestmark = pytest.mark.slow
trl = pytest.importorskip("trl")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from reference_impl.train.tiny_model import make_tiny_model

    return str(make_tiny_model(tmp_path_factory.mktemp("tiny"), [SAMPLES]))


@pytest.fixture(scope="module")
def unique(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "unique.jsonl"
    assert filter_main(["--input", str(SAMPLES), "--output", str(path), "--dedupe"]) == 0
    return path


def dataset(unique, tmp_path, algorithm):
    from datasets import load_dataset

    output = tmp_path / f"{algorithm}.jsonl"
    assert prepare_main("trl", ["--input", str(unique), "--output", str(output), "--algorithm", algorithm]) == 0
    return load_dataset("json", data_files=str(output), split="train")


def common(tmp_path):
    return dict(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2, use_cpu=True,
                report_to=[], save_strategy="no", logging_steps=1, bf16=False, gradient_checkpointing=False)


def assert_trained(result, trainer):
    assert result.global_step == 2
    assert math.isfinite(result.training_loss)
    assert any("loss" in entry for entry in trainer.state.log_history)


def test_sft_with_tools_and_assistant_only_loss(tiny, unique, tmp_path):
    from trl import SFTConfig, SFTTrainer

    data = dataset(unique, tmp_path, "sft")
    assert any(row["tools"] for row in data) and any(m.get("tool_calls") for row in data for m in row["messages"])
    trainer = SFTTrainer(model=tiny, train_dataset=data,
                         args=SFTConfig(**common(tmp_path), assistant_only_loss=True, max_length=2048))
    assert len(trainer.train_dataset) == len(data), "TRL dropped rows (fully truncated?)"
    assert_trained(trainer.train(), trainer)


def test_dpo(tiny, unique, tmp_path):
    from trl import DPOConfig, DPOTrainer

    data = dataset(unique, tmp_path, "dpo")
    trainer = DPOTrainer(model=tiny, train_dataset=data, args=DPOConfig(**common(tmp_path), max_length=2048))
    assert_trained(trainer.train(), trainer)


def test_kto(tiny, unique, tmp_path):
    from trl import KTOConfig, KTOTrainer

    data = dataset(unique, tmp_path, "kto")
    assert set(data["label"]) == {True, False}
    trainer = KTOTrainer(model=tiny, train_dataset=data, args=KTOConfig(**common(tmp_path), max_length=2048))
    assert_trained(trainer.train(), trainer)


def test_grpo_with_the_math_verifier(tiny, unique, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    from reference_impl.rewards import trl_math_reward

    data = dataset(unique, tmp_path, "grpo")
    assert "expected_answer" in data.column_names
    seen = []

    def reward(completions, expected_answer, **kwargs):
        seen.extend(expected_answer)
        return trl_math_reward(completions, expected_answer=expected_answer)

    reward.__name__ = "math_reward"
    trainer = GRPOTrainer(model=tiny, reward_funcs=[reward], train_dataset=data,
                          args=GRPOConfig(**common(tmp_path), num_generations=2, max_completion_length=8))
    assert_trained(trainer.train(), trainer)
    assert seen, "the reward function never received the expected_answer column"
