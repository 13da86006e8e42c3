"""filter_rollouts.py: each filter, composed, with counts that reconcile and the records as they were."""

import json
import subprocess
import sys
from collections import defaultdict

import pytest
from paths import ROOT, SAMPLES, real_file_params

from reference_impl.rollouts import reward_of, task_key


def run_filter(tmp_path, *args, source=SAMPLES):
    output = tmp_path / "out.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "filter_rollouts.py"), "--input", str(source),
                           "--output", str(output), *args], capture_output=True, text=True)
    return done, output


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def manifest(output):
    return json.loads(output.with_name(output.stem + ".manifest.json").read_text())["counts"]


def test_min_reward_as_the_seed_shows(tmp_path):
    done, output = run_filter(tmp_path, "--min_reward", "0.7")
    assert done.returncode == 0, done.stderr
    kept = records(output)
    assert kept and all(r["reward"] >= 0.7 and not r.get("mask_sample") for r in kept)
    source = {json.dumps(r, sort_keys=True) for r in records(SAMPLES)}
    assert all(json.dumps(r, sort_keys=True) in source for r in kept), "records must keep their shape"
    counts = manifest(output)
    assert counts["reconciles"] and counts["skipped"]["reward below 0.7"] == sum(
        1 for r in records(SAMPLES) if r["reward"] < 0.7 and not r.get("mask_sample"))


def test_top_k_and_uniform_groups_compose(tmp_path):
    done, output = run_filter(tmp_path, "--top-k", "1", "--drop-uniform-groups")
    assert done.returncode == 0, done.stderr
    kept = records(output)
    by_task = defaultdict(list)
    for r in records(SAMPLES):
        if not r.get("mask_sample"):
            by_task[task_key(r)].append(r["reward"])
    varying = {t for t, rewards in by_task.items() if len(set(rewards)) > 1}
    assert {task_key(r) for r in kept} == varying
    assert all(r["reward"] == max(by_task[task_key(r)]) for r in kept) and len(kept) == len(varying)
    assert manifest(output)["reconciles"]


def test_reward_component_and_max_reward(tmp_path):
    done, output = run_filter(tmp_path, "--reward-component", "correctness", "--max_reward", "0.0")
    kept = records(output)
    assert kept and all(reward_of(r, "correctness") == 0.0 for r in kept)
    assert manifest(output)["skipped"]["no reward component 'correctness'"] > 0


def test_dedupe_and_length_limits(tmp_path):
    done, output = run_filter(tmp_path, "--dedupe", "--max-turns", "2", "--max-chars", "400")
    counts = manifest(output)
    assert counts["reconciles"] and counts["skipped"]["duplicate trajectory"] > 0
    assert counts["skipped"]["more than 2 turns"] > 0


def test_bad_line_is_named_and_nothing_written(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(SAMPLES.read_bytes() + b'{"responses_create_params": {"input": "x"}, "reward": [1]}\n')
    done, output = run_filter(tmp_path, "--min_reward", "0.7", source=source)
    assert done.returncode == 1 and f"{source}:49: reward is an array, expected a number" in done.stderr
    assert not output.exists()


@pytest.mark.parametrize("path", real_file_params())
def test_every_real_file_filters_without_a_traceback(tmp_path, path):
    done, output = run_filter(tmp_path, "--min_reward", "0.5", "--top-k", "1", "--dedupe", "--skip-invalid", source=path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    counts = manifest(output)
    assert counts["reconciles"] and counts["read"] == sum(1 for line in path.read_bytes().splitlines() if line.strip())
