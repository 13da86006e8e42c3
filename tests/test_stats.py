"""rollout_stats.py: the numbers against an independent computation, the pictures, the manifest, bad input."""

import hashlib
import json
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from itertools import combinations

import pytest
from paths import ROOT, SAMPLES

from reference_impl.rollouts import task_key
from reference_impl.filters import count_turns
from reference_impl.samples import write_sample_rollouts
from reference_impl.stats import pass_at_k

RECORDS = [json.loads(line) for line in SAMPLES.read_text().splitlines()]
USABLE = [r for r in RECORDS if not r.get("mask_sample")]


def stats(tmp_path, *args, source=SAMPLES):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "rollout_stats.py"), "--input", str(source), *args],
                          cwd=tmp_path, capture_output=True, text=True)


def brute_force_pass_at_k(rewards, k, threshold):
    """The share of all k-subsets of a task's rollouts with at least one pass: pass@k by its definition."""
    subsets = list(combinations(rewards, k))
    return sum(any(r >= threshold for r in s) for s in subsets) / len(subsets)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stats")
    done = stats(folder, "--report", "report.json", "--plots", "plots", "--per-task")
    assert done.returncode == 0, done.stderr
    return folder, done, json.loads((folder / "report.json").read_text())


def test_counts_and_rewards(report):
    _, _, r = report
    by_task = defaultdict(list)
    for record in USABLE:
        by_task[record["_ng_task_index"]].append(record["reward"])
    rewards = sorted(x["reward"] for x in USABLE)
    assert r["records"] == len(RECORDS) and r["rollouts"] == len(USABLE) and r["tasks"] == len(by_task)
    assert r["counts"]["skipped"] == {"masked sample": len(RECORDS) - len(USABLE)} and r["counts"]["reconciles"]
    assert r["rollouts_per_task"]["histogram"] == {str(n): c for n, c in Counter(map(len, by_task.values())).items()}
    assert (r["reward"]["mean"], r["reward"]["min"], r["reward"]["max"]) == pytest.approx(
        (statistics.mean(rewards), rewards[0], rewards[-1]))
    quartiles = statistics.quantiles(rewards, n=4, method="inclusive")
    deciles = statistics.quantiles(rewards, n=10, method="inclusive")
    assert [r["reward"][p] for p in ("p25", "p50", "p75", "p10", "p90")] == pytest.approx(quartiles + [deciles[0], deciles[-1]])
    assert r["pass_rate"] == pytest.approx(sum(x >= 1.0 for x in rewards) / len(rewards))
    assert r["tasks_with_uniform_rewards"] == sum(1 for v in by_task.values() if len(set(v)) == 1)


def test_pass_at_k_matches_its_definition(report):
    _, _, r = report
    by_task = defaultdict(list)
    for record in USABLE:
        by_task[task_key(record)].append(record["reward"])
    for task, rewards in by_task.items():
        for k in range(1, len(rewards) + 1):
            assert r["per_task"][task]["pass_at_k"][str(k)] == pytest.approx(brute_force_pass_at_k(rewards, k, 1.0))
    for k in range(1, max(map(len, by_task.values())) + 1):
        scores = [brute_force_pass_at_k(v, k, 1.0) for v in by_task.values() if len(v) >= k]
        assert r["pass_at_k"][str(k)] == {"mean": pytest.approx(sum(scores) / len(scores)), "tasks": len(scores)}


def test_turns_and_tool_calls(report):
    _, _, r = report
    calls = Counter(sum(1 for item in x["response"]["output"] if item["type"] == "function_call") for x in USABLE)
    turns = Counter(count_turns(x) for x in USABLE)
    assert r["tool_calls"]["histogram"] == {str(k): calls[k] for k in sorted(calls)}
    assert r["turns"]["histogram"] == {str(k): turns[k] for k in sorted(turns)}
    assert r["tool_calls"]["max"] == max(calls) and r["turns"]["mean"] == pytest.approx(
        sum(k * n for k, n in turns.items()) / len(USABLE))
    assert r["turns"]["median"] == statistics.median(count_turns(x) for x in USABLE)


def test_table_pictures_and_manifest(report):
    folder, done, r = report
    for line in ("records           48 read: 47 scored, 1 skipped, 0 rejected", "pass threshold    reward >= 1",
                 "skipped           1: masked sample"):
        assert line in done.stdout
    assert "task-0" in done.stdout and "pass@" in done.stdout
    for name in ("reward_histogram.png", "pass_rate.png"):
        data = (folder / "plots" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    manifest = json.loads((folder / "report.manifest.json").read_text())
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(SAMPLES.read_bytes()).hexdigest()
    assert manifest["output"]["sha256"] == hashlib.sha256((folder / "report.json").read_bytes()).hexdigest()
    assert {p["path"] for p in manifest["plots"]} == {"plots/reward_histogram.png", "plots/pass_rate.png"}
    assert manifest["counts"] == r["counts"]
    assert not [p for p in folder.rglob("*.tmp")], "temporary files left behind"


def test_threshold_svg_and_many_tasks(tmp_path):
    many = tmp_path / "many.jsonl"
    write_sample_rollouts(many, tasks_per_kind=15, rollouts_per_task=3, seed=2)
    done = stats(tmp_path, "--pass-threshold", "0.5", "--plots", "svg", "--plot-format", "svg", "--report", "r.json",
                 source=many)
    assert done.returncode == 0, done.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    records = [json.loads(line) for line in many.read_text().splitlines()]
    rewards = [x["reward"] for x in records if not x.get("mask_sample")]
    assert r["tasks"] == 60 and r["pass_threshold"] == 0.5
    assert r["pass_rate"] == pytest.approx(sum(x >= 0.5 for x in rewards) / len(rewards))
    svg = (tmp_path / "svg" / "pass_rate.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "60 tasks" in svg  # a histogram past 40 tasks


def test_reward_component(tmp_path):
    done = stats(tmp_path, "--reward-component", "correctness", "--report", "r.json")
    assert done.returncode == 0, done.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    with_component = [x for x in USABLE if "correctness" in (x.get("reward_components") or {})]
    assert r["rollouts"] == len(with_component) > 0
    assert r["counts"]["skipped"]["no reward component 'correctness'"] == len(USABLE) - len(with_component)


def test_pass_at_k_bounds():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 5, 3) == 1.0 and pass_at_k(5, 0, 5) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_strict_names_every_bad_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    lines = SAMPLES.read_bytes().splitlines(keepends=True)
    bad.write_bytes(lines[0] + b"{oops\n" + lines[1] + b'"a string"\n' + lines[2][:300])
    done = stats(tmp_path, "--report", "r.json", "--plots", "p", source=bad)
    assert done.returncode == 1
    assert f"error: {bad}:2: not valid JSON" in done.stderr and f"error: {bad}:4: a JSON string, not an object" in done.stderr
    assert f"error: {bad}:5: truncated last line" in done.stderr and "no report was written" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl"]


def test_skip_invalid_with_and_without_a_report(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(SAMPLES.read_bytes() + b"{oops\n")
    done = stats(tmp_path, "--skip-invalid", "--report", "r.json", source=bad)
    assert done.returncode == 0, done.stderr
    rejects = [json.loads(line) for line in (tmp_path / "r.rejects.jsonl").read_text().splitlines()]
    assert [(x["line"], x["reason"].split(" (")[0]) for x in rejects] == [(49, "not valid JSON")]
    counts = json.loads((tmp_path / "r.json").read_text())["counts"]
    assert counts["read"] == 49 and counts["rejected"] == {"not valid JSON": 1} and counts["reconciles"]
    done = stats(tmp_path, "--skip-invalid", source=bad)
    assert done.returncode == 0 and f"rejected: {bad}:49: not valid JSON" in done.stderr


def test_refuses_to_write_over_its_input(tmp_path):
    copy = tmp_path / "rollouts.jsonl"
    copy.write_bytes(SAMPLES.read_bytes())
    done = stats(tmp_path, "--report", "rollouts.jsonl", source=copy)
    assert done.returncode == 1 and "it is an input file" in done.stderr and copy.read_bytes() == SAMPLES.read_bytes()


def test_files_of_one_name_in_two_folders_keep_every_task(tmp_path):
    """Two runs' math.jsonl share their task keys: the report names each task by its folder
    too, and keeps both (one label for both would keep one, silently)."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "math.jsonl").write_text(SAMPLES.read_text())
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "rollout_stats.py"), "--input",
                           str(tmp_path / "a" / "math.jsonl"), str(tmp_path / "b" / "math.jsonl"), "--report", "r.json"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    one_file = len({task_key(r) for r in USABLE})
    assert report["tasks"] == len(report["per_task"]) == 2 * one_file
    assert sum(t["rollouts"] for t in report["per_task"].values()) == 2 * len(USABLE)
    assert {label.split(": ")[0] for label in report["per_task"]} == {str(tmp_path / "a" / "math"),
                                                                     str(tmp_path / "b" / "math")}
