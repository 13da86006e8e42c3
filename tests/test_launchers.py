"""train_verl.py and train_openrlhf.py: the prepared file and the batch are checked before the command is printed,
each refusal says the fix, nothing is written, and an unexpected exception is an internal error, not a data problem;
train_trl.py without its packages names the install command."""

import subprocess
import sys

import pytest
from paths import ROOT, SAMPLES

from reference_impl.formats import TARGETS
from reference_impl.launch import common, openrlhf, verl

SUFFIX = {"verl": ".parquet", "openrlhf": ".jsonl"}
CASES = [("verl", algorithm) for algorithm in verl.LAUNCHED] + [("openrlhf", algorithm) for algorithm in TARGETS["openrlhf"]]


def run(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / args[0]), *map(str, args[1:])], cwd=cwd,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    work = tmp_path_factory.mktemp("launch")
    for target, algorithm in CASES:
        done = run(f"prepare_for_{target}.py", "--input", SAMPLES, "--output", f"{target}_{algorithm}{SUFFIX[target]}",
                   "--algorithm", algorithm, cwd=work)
        assert done.returncode == 0, done.stderr
    return work


def files(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


@pytest.mark.parametrize("target, algorithm", CASES)
def test_too_few_rows_for_the_default_batch_is_refused_with_the_fix_that_then_works(prepared, target, algorithm):
    data = f"{target}_{algorithm}{SUFFIX[target]}"
    before = files(prepared)
    done = run(f"train_{target}.py", "--data_path", data, "--algorithm", algorithm, cwd=prepared)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: {data} has " in done.stderr and "rows, fewer than" in done.stderr
    suggested = done.stderr.split("Pass --batch-size ", 1)[1].split(" ", 1)[0]
    done = run(f"train_{target}.py", "--data_path", data, "--algorithm", algorithm, "--batch-size", suggested,
               cwd=prepared)
    assert done.returncode == 0, done.stderr
    assert "not launched:" in done.stdout and "rows of valid" in done.stdout
    key = {"verl": f"data.train_batch_size={suggested}",
           "openrlhf": f"--{'rollout' if algorithm in ('ppo', 'grpo') else 'train'}.batch_size {suggested} "}[target]
    assert key in done.stdout
    assert files(prepared) == before, "a launcher writes no file"


@pytest.mark.parametrize("target", ["verl", "openrlhf"])
def test_a_file_with_no_rows_or_the_wrong_columns_is_named(prepared, target):
    (prepared / "empty.jsonl").write_bytes(b"")
    done = run(f"train_{target}.py", "--data_path", "empty.jsonl", "--algorithm", "dpo" if target == "openrlhf" else "sft",
               cwd=prepared)
    assert done.returncode == 1 and "empty.jsonl has no rows, nothing to train on" in done.stderr
    wrong = f"{target}_sft{SUFFIX[target]}"
    algorithm = "grpo"
    done = run(f"train_{target}.py", "--data_path", wrong, "--algorithm", algorithm, cwd=prepared)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{wrong}: no row has" in done.stderr and f"prepare_for_{target}.py --algorithm {algorithm} writes them" in done.stderr


@pytest.mark.parametrize("module", [verl, openrlhf])
def test_an_unexpected_exception_is_an_internal_error(prepared, module, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(common, "check_prepared", broken)
    monkeypatch.chdir(prepared)
    assert module.main(["--data_path", "x", "--dry_run"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "not a finding about your data" in err


def test_verl_mini_batch_and_openrlhf_micro_batches_fit_the_gpus():
    command = verl.rl_command("/t.parquet", "/v.parquet", "m", batch_size=8, rollout_n=5, gpus=8)
    assert "actor_rollout_ref.actor.ppo_mini_batch_size=8" in command  # 2 or 4 prompts x 5 would not split over 8
    assert verl.batch_problems("p", 100, "grpo", 12, rollout_n=5, gpus=8)
    assert verl.batch_problems("p", 100, "grpo", 16, rollout_n=5, gpus=8) == []
    command = openrlhf.command_for("ppo", "/d.jsonl", "m", batch_size=8, gpus=8)
    assert command[command.index("--train.micro_batch_size") + 1] == "1"
    assert command[command.index("--rollout.micro_batch_size") + 1] == "1"  # 8 samples // 1 >= 8 GPUs, as asserted
    assert openrlhf.batch_problems("d", 100, "sft", 12, gpus=8) == [
        "--train.batch_size = 12 must be a multiple of 8 (an equal share for each of the 8 GPUs): pass --batch-size 8"]


def test_train_trl_without_its_packages_gives_the_install_command(tmp_path, monkeypatch, capsys):
    import importlib.util

    from reference_impl.train import trl as train_trl

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("trl", "accelerate")
                        else real_find_spec(name, *a))
    (tmp_path / "c.yaml").write_text("data: {train_path: x.jsonl}\nmodel: {name: m}\ntraining: {algorithm: sft}\n")
    assert train_trl.main(["--config", str(tmp_path / "c.yaml")]) == 1
    err = capsys.readouterr().err
    assert "error: train_trl.py needs trl, accelerate, not installed here: pip install -e '.[train]'" in err
    assert "Traceback" not in err
