"""NeMo RL: the configs we write, merged onto NeMo RL's own example configs, are what its loaders need."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reference_impl.launch.nemo_rl import (
    RECIPES, build_config, check_config, check_data, merge_with_override,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "fixtures" / "nemo_rl"  # copied from NVIDIA-NeMo/RL 7ea279a (v0.7.0 data code)
SAMPLES = ROOT / "samples" / "rollouts.jsonl"


def example(algorithm: str) -> dict:
    return yaml.safe_load((EXAMPLES / Path(RECIPES[algorithm].example_config).name).read_text())


def ours(algorithm: str, tmp_path: Path) -> dict:
    config = build_config(algorithm, tmp_path / "train.jsonl", "Qwen/Qwen2.5-0.5B-Instruct",
                          gym_config_paths=("resources_servers/math_with_judge/configs/math_with_judge.yaml",))
    return {k: v for k, v in config.items() if k != "defaults"}


@pytest.mark.parametrize("algorithm", sorted(RECIPES))
def test_merged_config_passes_the_checks(algorithm, tmp_path):
    merged = merge_with_override(example(algorithm), ours(algorithm, tmp_path))
    assert check_config(merged, algorithm) == []
    assert merged["data"]["train"]["dataset_name"] == RECIPES[algorithm].dataset_name
    assert merged["data"]["train"]["data_path"].endswith("train.jsonl")


@pytest.mark.parametrize("algorithm", sorted(RECIPES))
def test_data_section_keeps_every_key_of_the_example(algorithm, tmp_path):
    base = example(algorithm)["data"]
    merged = merge_with_override(example(algorithm), ours(algorithm, tmp_path))["data"]
    missing = {k for k in base if k not in ("train", "validation", "default")} - set(merged)
    assert not missing, f"the replaced data section lost {missing}"


def test_the_example_alone_fails_the_checks():
    problems = check_config(example("sft"), "sft")
    assert "data.train.dataset_name is squad, expected openai_format" in problems
    assert any("SQuAD template" in p for p in problems)


def test_a_nested_override_is_flagged(tmp_path):
    config = ours("sft", tmp_path)
    config["data"] = {"train": {"_override_": True, **config["data"]["train"]}}
    merged = merge_with_override(example("sft"), config)
    assert "data.train: _override_ is honoured only on top-level sections" in check_config(merged, "sft")


def test_grpo_needs_the_training_model_server(tmp_path):
    merged = merge_with_override(example("grpo"), ours("grpo", tmp_path))
    merged["env"]["nemo_gym"]["config_paths"] = ["resources_servers/x/configs/x.yaml"]
    assert any("vllm_model_for_training" in p for p in check_config(merged, "grpo"))


def run(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / args[0]), *args[1:]], cwd=cwd,
                          capture_output=True, text=True)


@pytest.mark.parametrize("algorithm", ["sft", "dpo", "grpo"])
def test_train_nemo_rl_script_on_prepared_samples(algorithm, tmp_path):
    prepared = run("prepare_for_nemo_rl.py", "--input", str(SAMPLES), "--output", "data.jsonl",
                   "--algorithm", algorithm, cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    assert check_data(tmp_path / "data.jsonl", algorithm) == []
    done = run("train_nemo_rl.py", "--data_path", "data.jsonl", "--config", "cfg.yaml", "--algorithm", algorithm,
               "--gym_config", "resources_servers/math_with_judge/configs/math_with_judge.yaml",
               "--nemo_rl_dir", str(tmp_path / "no-nemo-rl"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "not launched: no NeMo RL checkout" in done.stdout
    written = yaml.safe_load((tmp_path / "cfg.yaml").read_text())
    merged = merge_with_override(example(algorithm), {k: v for k, v in written.items() if k != "defaults"})
    assert check_config(merged, algorithm) == []
    assert f"examples/{'nemo_gym/run_grpo_nemo_gym' if algorithm == 'grpo' else 'run_' + algorithm}.py" in done.stdout


def test_train_nemo_rl_names_the_bad_line(tmp_path):
    (tmp_path / "data.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    done = run("train_nemo_rl.py", "--data_path", "data.jsonl", "--config", "cfg.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "data.jsonl:1: the last message is not the assistant's" in done.stderr
    assert not (tmp_path / "cfg.yaml").exists()
