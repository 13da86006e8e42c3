"""train_trl.py: every shipped config (SFT, DPO, KTO, GRPO) trains the tiny model for its 2 steps, from the samples
and from data prepared from real NeMo Gym rollouts; its checkpoint reloads and generates. A wrong key, a missing,
empty or wrongly shaped data file is named before any model is loaded; an unexpected failure is an internal error."""

import subprocess
import sys
import warnings

import orjson
import pytest
import yaml
from paths import REAL_DATA, REAL_FILES, ROOT, SAMPLES

from reference_impl.train.trl import ALGORITHMS, check_config, trainer_arguments

ALL = list(ALGORITHMS)
TRAIN_ENV = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
# Our own defaults must not use a name transformers deprecates: make such a warning, raised where TrainingArguments
# checks its arguments, fail the run (TRL 1.16's own calls of deprecated transformers API are TRL's, not ours).
OUR_DEPRECATIONS = ["-W", "error::FutureWarning:transformers.training_args",
                    "-W", "error::DeprecationWarning:transformers.training_args"]

# The real files hold one rollout per task (5 tasks per environment), so none gives a preference pair on its own.
# math_with_judge and hermes_math are two collections over the same five problems, with the same prompts, by two
# agents with different results. Stripped of what tells the collections apart (hermes' agent_ref and task numbers),
# they are what `+num_repeats=2` gives: two real rollouts per task, whose rewards differ on two of the five.
REAL_SFT = ["math_with_judge", "mcqa", "example_single_tool_call", "workplace_assistant"]
REAL_KTO = ["math_with_judge", "hermes_math", "mcqa"]
REAL_GRPO = ["math_with_judge", "hermes_math", "mcqa"]
COLLECTION_FIELDS = ("agent_ref", "_ng_task_index", "_ng_rollout_index")

pytestmark = pytest.mark.slow


def script(*args, cwd, python_flags=()):
    return subprocess.run([sys.executable, *python_flags, str(ROOT / "scripts" / args[0]), *map(str, args[1:])],
                          cwd=cwd, capture_output=True, text=True, env=TRAIN_ENV if args[0] == "train_trl.py" else None)


def prepared(work, inputs, algorithm):
    done = script("prepare_for_trl.py", "--input", *inputs, "--output", f"{algorithm}.jsonl", "--algorithm", algorithm,
                  cwd=work)
    assert done.returncode == 0, done.stderr
    return [orjson.loads(line) for line in (work / f"{algorithm}.jsonl").read_bytes().splitlines()]


def new_workdir(tmp_path_factory, name, tokenizer_data):
    work = tmp_path_factory.mktemp(name)
    done = script("make_tiny_model.py", "--output", "tiny-model", "--data", *tokenizer_data, cwd=work)
    assert done.returncode == 0, done.stderr
    (work / "samples").symlink_to(ROOT / "samples")  # the shipped configs name paths relative to their own folder
    return work


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = new_workdir(tmp_path_factory, "trl", [SAMPLES])
    for algorithm in ALL:
        assert prepared(work, [SAMPLES], algorithm)
    return work


def real(name):
    return REAL_DATA / f"{name}.jsonl"


@pytest.fixture(scope="module")
def realdir(tmp_path_factory):
    if not REAL_FILES:
        pytest.skip(f"no real rollouts at {REAL_DATA}")
    names = sorted(set(REAL_SFT + REAL_KTO + REAL_GRPO))
    work = new_workdir(tmp_path_factory, "trl-real", [real(n) for n in names])
    collected = []
    for name in ("math_with_judge", "hermes_math"):
        for line in real(name).read_bytes().splitlines():
            record = orjson.loads(line)
            collected.append({k: v for k, v in record.items() if k not in COLLECTION_FIELDS})
    (work / "two_collections.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in collected))
    rows = {
        "sft": prepared(work, [real(n) for n in REAL_SFT], "sft"),
        "dpo": prepared(work, ["two_collections.jsonl"], "dpo"),
        "kto": prepared(work, [real(n) for n in REAL_KTO], "kto"),
        "grpo": prepared(work, [real(n) for n in REAL_GRPO], "grpo"),
    }
    return work, rows


def assert_trains_and_generates(work, algorithm):
    done = script("train_trl.py", "--config", f"samples/configs/trl_{algorithm}.yaml", cwd=work,
                  python_flags=OUR_DEPRECATIONS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained 2 steps" in done.stdout
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = work / "checkpoints" / algorithm
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 * 3?"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)
    out = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


@pytest.mark.parametrize("algorithm", ALL)
def test_shipped_config_trains_on_the_samples(workdir, algorithm):
    assert_trains_and_generates(workdir, algorithm)


@pytest.mark.parametrize("algorithm", ALL)
def test_shipped_config_trains_on_data_prepared_from_real_rollouts(realdir, algorithm):
    work, rows = realdir
    if algorithm == "sft":
        assert any(r["tools"] for r in rows["sft"]) and len(rows["sft"]) >= 15
    if algorithm == "dpo":
        # the two tasks whose two real rollouts differ in reward, each paired within its own prompt
        assert len(rows["dpo"]) == 2
        for row in rows["dpo"]:
            assert row["prompt"][-1]["role"] == "user" and row["chosen"] != row["rejected"]
    if algorithm == "kto":
        assert {r["label"] for r in rows["kto"]} == {True, False}
    if algorithm == "grpo":
        assert len(rows["grpo"]) >= 10 and all(r.get("expected_answer") for r in rows["grpo"])
    assert_trains_and_generates(work, algorithm)


def write(workdir, name, config):
    (workdir / name).write_text(yaml.safe_dump(config))
    return name


GOOD = {"data": {"train_path": "sft.jsonl"}, "model": {"name": "./tiny-model"},
        "training": {"algorithm": "sft", "max_steps": 1}}


def bad_data(workdir):
    (workdir / "empty.jsonl").write_bytes(b"")
    (workdir / "sub").mkdir(exist_ok=True)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["training"].update(max_step=3), "training.max_step: SFTConfig has no such field (did you mean max_steps"),
    (lambda c: c["training"].update(learning_rate="fast"), "training.learning_rate must be float, not 'fast'"),
    (lambda c: c["training"].update(algorithm="ppo"), "training.algorithm is 'ppo': use one of sft, dpo, kto, grpo"),
    (lambda c: c["data"].update(train_path="missing.jsonl"), "data.train_path: missing.jsonl does not exist (looked for /"),
    (lambda c: c["model"].update(name="./no-such-model"), "model.name: no folder ./no-such-model (looked for /"),
    (lambda c: c["data"].update(eval_path="nope.jsonl"), "data.eval_path: nope.jsonl does not exist (looked for /"),
    (lambda c: c["data"].update(eval_path="dpo.jsonl"), "dpo.jsonl: no row has messages, which trl sft reads"),
    (lambda c: c["training"].update(algorithm="grpo"), "training.reward_funcs: GRPO needs at least one"),
    # data checks, before any model loads
    (lambda c: c["data"].update(train_path="empty.jsonl") or c["training"].update(algorithm="dpo"),
     "empty.jsonl has no rows, nothing to train on: a preference pair needs a task with two rollouts"),
    (lambda c: c["training"].update(algorithm="dpo"),
     "no row has chosen, prompt, rejected, which trl dpo reads (the first row has messages, tools)"),
    (lambda c: c["data"].update(train_path="sft.jsonl") or c["training"].update(
        algorithm="grpo", reward_funcs=["reference_impl.rewards.trl_math_reward"]), "no row has prompt"),
    (lambda c: c["data"].update(train_path="grpo.jsonl") or c["training"].update(
        algorithm="grpo", reward_funcs=["reference_impl.rewards.trl_math_reward"], num_generations=3),
     "TRL's GRPOConfig rejects these settings: generation_batch_size (2) must be divisible by num_generations (3)"),
    (lambda c: c["data"].update(train_path="grpo.jsonl") or c["training"].update(
        algorithm="grpo", reward_funcs=["reference_impl.rewards.trl_math_reward"], num_generations=2,
        per_device_train_batch_size=32),  # TRL would report "trained 0 steps"
     "a GRPO generation takes generation_batch_size 32 / num_generations 2 = 16 prompts"),
])
def test_a_wrong_key_value_or_data_file_is_named_before_loading(workdir, change, message):
    bad_data(workdir)
    config = yaml.safe_load(yaml.safe_dump(GOOD))
    change(config)
    done = script("train_trl.py", "--config", write(workdir, "bad.yaml", config), cwd=workdir)
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Loading" not in done.stderr
    assert not (workdir / "checkpoints" / "bad").exists()


def test_paths_are_resolved_from_the_config_folder_and_shown(workdir):
    (workdir / "sub").mkdir(exist_ok=True)
    config = yaml.safe_load(yaml.safe_dump(GOOD))
    config["data"]["train_path"] = "sft.jsonl"  # beside the config in sub/, where there is none
    done = script("train_trl.py", "--config", write(workdir, "sub/c.yaml", config), cwd=workdir)
    assert done.returncode == 1
    assert f"looked for {workdir / 'sub' / 'sft.jsonl'}; paths are relative to the config file's folder" in done.stderr
    assert any("looked for" in p for p in check_config(config, workdir / "sub"))


def test_grpo_without_any_ground_truth_is_refused(workdir):
    rows = [orjson.loads(line) for line in (workdir / "grpo.jsonl").read_bytes().splitlines()]
    (workdir / "no_truth.jsonl").write_bytes(b"".join(orjson.dumps({"prompt": r["prompt"]}) + b"\n" for r in rows))
    config = {"data": {"train_path": "no_truth.jsonl"}, "model": {"name": "./tiny-model"},
              "training": {"algorithm": "grpo", "reward_funcs": ["reference_impl.rewards.trl_math_reward"]}}
    done = script("train_trl.py", "--config", write(workdir, "nogt.yaml", config), cwd=workdir)
    assert done.returncode == 1
    assert "has a ground truth (expected_answer, expected_action, expected_output" in done.stderr
    assert "every reward would be None" in done.stderr


def test_an_unexpected_failure_is_an_internal_error_not_a_data_problem(workdir):
    (workdir / "broken_reward.py").write_text("def reward(completions, **kwargs):\n    raise KeyError('oops')\n")
    config = {"data": {"train_path": "grpo.jsonl"}, "model": {"name": "./tiny-model"},
              "training": {"algorithm": "grpo", "reward_funcs": ["broken_reward.reward"], "max_steps": 1,
                           "max_completion_length": 4}}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_trl.py"), "--config",
                           write(workdir, "broken.yaml", config)], cwd=workdir, capture_output=True, text=True,
                          env={**TRAIN_ENV, "PYTHONPATH": f"{workdir}:{ROOT}"})
    assert done.returncode == 3
    assert "internal error: KeyError: 'oops'" in done.stderr and "not a finding about your data" in done.stderr
    assert "error: data" not in done.stderr


@pytest.mark.parametrize("algorithm", ALL)
@pytest.mark.parametrize("on_gpu", [False, True])
def test_our_defaults_raise_no_deprecation_warning(algorithm, on_gpu):
    import trl

    arguments = trainer_arguments({"algorithm": algorithm}, on_gpu=on_gpu, bf16_ok=False)
    arguments.update(use_cpu=True, output_dir="unused")  # a CPU machine cannot build GPU arguments otherwise
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        getattr(trl, ALGORITHMS[algorithm][0])(**arguments)
    deprecations = [str(w.message) for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert deprecations == []


def test_the_users_own_deprecated_setting_still_decides():
    arguments = trainer_arguments({"algorithm": "sft", "gradient_checkpointing": True}, on_gpu=False, bf16_ok=False)
    assert "activation_checkpointing" not in arguments and arguments["gradient_checkpointing"] is True
