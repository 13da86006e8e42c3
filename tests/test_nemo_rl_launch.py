"""NeMo RL: the configs we write, merged onto NeMo RL's own example configs, are what its loaders need."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reference_impl.launch.nemo_rl import (
    RECIPES, batch_problems, build_config, check_config, check_data, merge_with_override,
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
    batch = [] if algorithm == "sft" else ["--batch-size", "8"]  # the samples give 10 pairs and 12 prompts
    done = run("train_nemo_rl.py", "--data_path", "data.jsonl", "--config", "cfg.yaml", "--algorithm", algorithm,
               "--gym_config", "resources_servers/math_with_judge/configs/math_with_judge.yaml",
               "--nemo_rl_dir", str(tmp_path / "no-nemo-rl"), *batch, cwd=tmp_path)
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
    assert ("data.jsonl:1: messages: the conversation does not end with an assistant turn (OpenAIFormatDataset "
            "trains on them and asserts that the last is the assistant's)") in done.stderr
    assert not (tmp_path / "cfg.yaml").exists()


USER, ANSWER = {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}


@pytest.mark.parametrize("algorithm, row, expected", [
    ("sft", {"messages": []}, "messages: no messages (OpenAIFormatDataset"),
    ("sft", {"messages": [USER]}, "messages: the conversation does not end with an assistant turn"),
    ("dpo", {"context": "q", "completions": []}, "context: expected a list of messages, got str"),
    ("dpo", {"context": [USER], "completions": [{"rank": 0, "completion": [ANSWER]}]},
     "PreferenceDataset needs exactly two completions, this row has 1"),
    ("dpo", {"context": [USER], "completions": [{"rank": 0, "completion": [ANSWER]},
                                                {"rank": 0, "completion": [{**ANSWER, "content": "b"}]}]},
     "the two completions have the same rank (a tie) (PreferenceDataset prefers the lower rank of two; a tie raises "
     "NotImplementedError)"),
    ("grpo", {"responses_create_params": "q", "agent_ref": {"name": "a"}}, "responses_create_params: expected an object"),
    ("grpo", {"responses_create_params": {}, "agent_ref": {"name": "a"}}, "missing responses_create_params.input"),
    ("grpo", {"responses_create_params": {"input": "q"}, "agent_ref": {}},
     "missing agent_ref.name (run_rollouts reads agent_ref.name to find the agent)"),
])
def test_check_data_names_what_nemo_rl_would_refuse(tmp_path, algorithm, row, expected):
    import json

    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(row) + "\n{not json\n")
    [first, second] = check_data(path, algorithm)
    assert first.startswith(f"{path}:1: {expected}"), first
    assert second == f"{path}:2: not valid JSON"


def prepare(tmp_path, algorithm, *inputs, extra=()):
    done = run("prepare_for_nemo_rl.py", "--input", *(inputs or [str(SAMPLES)]), "--output", f"{algorithm}.jsonl",
               "--algorithm", algorithm, *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return f"{algorithm}.jsonl"


def launch(tmp_path, data, algorithm, *extra):
    return run("train_nemo_rl.py", "--data_path", data, "--config", "cfg.yaml", "--algorithm", algorithm,
               "--nemo_rl_dir", str(tmp_path / "no-nemo-rl"), *extra, cwd=tmp_path)


def test_fewer_rows_than_a_batch_is_refused_with_the_fix(tmp_path):
    data = prepare(tmp_path, "dpo")
    done = launch(tmp_path, data, "dpo")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "dpo.jsonl has 10 rows, fewer than policy.train_global_batch_size = 128" in done.stderr
    assert "Pass --batch-size 10 or less" in done.stderr
    assert not (tmp_path / "cfg.yaml").exists()
    done = launch(tmp_path, data, "dpo", "--batch-size", "10")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load((tmp_path / "cfg.yaml").read_text())["policy"]["train_global_batch_size"] == 10


def test_batch_checks_read_the_examples_parallel_layout():
    dpo = merge_with_override(example("dpo"), {"policy": {"train_global_batch_size": 12}})
    assert batch_problems(dpo, "dpo", rows=100, gpus=8) == [
        "policy.train_global_batch_size = 12 must be a multiple of 16 (data-parallel size 8 times "
        "policy.train_micro_batch_size 2; DPO asserts no partial training batch): pass --batch-size 16"]
    assert batch_problems(dpo, "dpo", rows=10, gpus=8)[0].endswith(
        "A step needs a multiple of 16 rows (data-parallel size 8 times policy.train_micro_batch_size 2; DPO asserts "
        "no partial training batch): prepare more, or use fewer GPUs")
    assert batch_problems(merge_with_override(example("dpo"), {"policy": {"train_global_batch_size": 16}}),
                          "dpo", rows=100, gpus=8) == []
    grpo = merge_with_override(example("grpo"), {"grpo": {"num_prompts_per_step": 8}})
    assert batch_problems(grpo, "grpo", rows=8, gpus=8) == []
    assert "fewer than grpo.num_prompts_per_step = 64" in batch_problems(example("grpo"), "grpo", rows=12, gpus=8)[0]


def test_an_empty_file_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "dpo.jsonl").write_bytes(b"")
    done = launch(tmp_path, "dpo.jsonl", "dpo")
    assert done.returncode == 1
    assert "dpo.jsonl has no rows, nothing to train on: a preference pair needs a task with two rollouts" in done.stderr
    assert not (tmp_path / "cfg.yaml").exists()


def test_a_config_the_user_edited_is_never_overwritten(tmp_path):
    data = prepare(tmp_path, "sft")
    assert launch(tmp_path, data, "sft").returncode == 0
    assert launch(tmp_path, data, "sft", "--model", "other/model").returncode == 0, "its own, unedited file: replaced"
    config = tmp_path / "cfg.yaml"
    assert yaml.safe_load(config.read_text())["policy"]["model_name"] == "other/model"
    edited = config.read_text().replace("max_total_sequence_length: 4096", "max_total_sequence_length: 8192")
    config.write_text(edited)
    done = launch(tmp_path, data, "sft")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cfg.yaml exists and it was edited after train_nemo_rl.py wrote it: not overwriting it" in done.stderr
    assert "uv run python examples/run_sft.py --config" in done.stderr and "add --overwrite" in done.stderr
    assert config.read_text() == edited
    (tmp_path / "mine.yaml").write_text("policy: {}\n")
    done = run("train_nemo_rl.py", "--data_path", data, "--config", "mine.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "mine.yaml exists and train_nemo_rl.py did not write it" in done.stderr
    assert launch(tmp_path, data, "sft", "--overwrite").returncode == 0
    assert "8192" not in config.read_text()


GYM_CONFIGS = {
    "responses_api_models/vllm_model/configs/vllm_model_for_training.yaml": {"policy_model": {"responses_api_models": {}}},
    "resources_servers/calc/configs/calc.yaml": {
        "calc": {"resources_servers": {"calc": {}}},
        "calculator_simple_agent": {"responses_api_agents": {"simple_agent": {}}}},
    "resources_servers/weather/configs/weather.yaml": {
        "weather": {"resources_servers": {"weather": {}}},
        "weather_simple_agent": {"responses_api_agents": {"simple_agent": {}}},
        "config_paths": ["resources_servers/guess/configs/guess.yaml"]},
    "resources_servers/guess/configs/guess.yaml": {"guess_number_agent": {"responses_api_agents": {"simple_agent": {}}}},
    "resources_servers/math/configs/math.yaml": {"math_simple_agent": {"responses_api_agents": {"simple_agent": {}}}},
}


@pytest.fixture
def gym_dir(tmp_path):
    """A NeMo Gym checkout's layout with configs of its shape: an agent is a top-level entry with responses_api_agents."""
    root = tmp_path / "Gym"
    for path, config in GYM_CONFIGS.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(yaml.safe_dump(config))
    return root


def test_grpo_on_a_mix_checks_the_gym_configs_serve_every_agent(tmp_path, gym_dir):
    data = prepare(tmp_path, "grpo")  # the samples: four environments, each with its agent_ref
    done = launch(tmp_path, data, "grpo", "--batch-size", "8", "--gym-dir", str(gym_dir),
                  "--gym-config", "resources_servers/calc/configs/calc.yaml",
                  "--gym-config", "resources_servers/weather/configs/weather.yaml")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "grpo.jsonl names agents that no Gym config given serves" in done.stderr
    assert "math_simple_agent (3 rows): --gym-config resources_servers/math/configs/math.yaml" in done.stderr
    assert "guess_number_agent" not in done.stderr, "served through weather.yaml's own config_paths"
    done = launch(tmp_path, data, "grpo", "--batch-size", "8", "--gym-dir", str(gym_dir),
                  *(f"--gym-config={p}" for p in GYM_CONFIGS if p.startswith("resources_servers/")))
    assert done.returncode == 0, done.stderr
    assert ("rows for 4 agents, each served by the Gym configs: calculator_simple_agent (3), guess_number_agent (3), "
            "math_simple_agent (3), weather_simple_agent (3)") in done.stdout


@pytest.mark.skipif(not (REAL := ROOT.parent / "shared" / "data" / "nemo_gym_rollouts").is_dir(), reason="no real rollouts")
def test_grpo_on_real_files_of_several_environments_names_each_agent(tmp_path, gym_dir):
    inputs = [str(REAL / f"{name}.jsonl") for name in (
        "hermes_math", "image_tools", "wordle", "tau2", "example_multi_turn_gymnasium")]  # files whose records name their agent
    data = prepare(tmp_path, "grpo", *inputs)
    agents = {}
    for line in (tmp_path / data).read_text().splitlines():
        name = yaml.safe_load(line)["agent_ref"]["name"]
        agents[name] = agents.get(name, 0) + 1
    assert len(agents) >= 2, agents
    done = launch(tmp_path, data, "grpo", "--batch-size", "2", "--gym-dir", str(gym_dir),
                  "--gym-config", "resources_servers/calc/configs/calc.yaml")
    assert done.returncode == 1
    for name, count in agents.items():
        assert f"{name} ({count} rows): no config here defines it" in done.stderr
    done = launch(tmp_path, data, "grpo", "--batch-size", "2", "--gym-config", "resources_servers/calc/configs/calc.yaml")
    # no Gym checkout here: the agents are listed, not checked
    assert done.returncode == 0, done.stderr
    assert f"rows for {len(agents)} agents: " in done.stdout and "not checked against the Gym configs" in done.stdout
