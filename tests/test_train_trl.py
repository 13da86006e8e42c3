"""train_trl.py: a config of the seed's shape trains, saves a checkpoint that reloads and generates;
a wrong key is named before any model is loaded."""

import subprocess
import sys

import pytest
import yaml
from paths import ROOT, SAMPLES

from reference_impl.train.trl import check_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("trl")
    for args in (["make_tiny_model.py", "--output", "tiny-model", "--data", str(SAMPLES)],
                 ["prepare_for_trl.py", "--input", str(SAMPLES), "--output", "sft.jsonl", "--algorithm", "sft"],
                 ["prepare_for_trl.py", "--input", str(SAMPLES), "--output", "grpo.jsonl", "--algorithm", "grpo"]):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / args[0]), *args[1:]], cwd=work, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    (work / "samples").symlink_to(ROOT / "samples")
    return work


def train(workdir, config):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "train_trl.py"), "--config", config],
                          cwd=workdir, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("algorithm", ["sft", "grpo"])
def test_shipped_config_trains_and_the_checkpoint_generates(workdir, algorithm):
    done = train(workdir, f"samples/configs/trl_{algorithm}.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained 2 steps" in done.stdout
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = workdir / "checkpoints" / algorithm
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 * 3?"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


def write(workdir, name, config):
    (workdir / name).write_text(yaml.safe_dump(config))
    return name


GOOD = {"data": {"train_path": "sft.jsonl"}, "model": {"name": "./tiny-model"},
        "training": {"algorithm": "sft", "max_steps": 1}}


@pytest.mark.parametrize("change, message", [
    (lambda c: c["training"].update(max_step=3), "training.max_step: SFTConfig has no such field (did you mean max_steps"),
    (lambda c: c["training"].update(learning_rate="fast"), "training.learning_rate must be float, not 'fast'"),
    (lambda c: c["training"].update(algorithm="ppo"), "training.algorithm is 'ppo': use one of sft, dpo, kto, grpo"),
    (lambda c: c["data"].update(train_path="missing.jsonl"), "data.train_path: missing.jsonl does not exist"),
    (lambda c: c["model"].update(name="./no-such-model"), "model.name: no folder ./no-such-model"),
    (lambda c: c["training"].update(algorithm="grpo"), "training.reward_funcs: GRPO needs at least one"),
])
def test_a_wrong_key_or_value_is_named(workdir, change, message):
    config = yaml.safe_load(yaml.safe_dump(GOOD))
    change(config)
    assert any(message in p for p in check_config(config, workdir)), check_config(config, workdir)
    done = train(workdir, write(workdir, "bad.yaml", config))
    assert done.returncode == 1 and message in done.stderr
    assert "Loading" not in done.stderr and not (workdir / "checkpoints" / "bad").exists()
