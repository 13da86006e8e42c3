"""rollout_stats.py: the numbers, the pictures, and every real file without a traceback."""

import json
import subprocess
import sys
from collections import defaultdict

import pytest
from paths import ROOT, SAMPLES, real_file_params

from reference_impl.stats import pass_at_k


def stats(tmp_path, *args, source=SAMPLES):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "rollout_stats.py"), "--input", str(source), *args],
                          cwd=tmp_path, capture_output=True, text=True)


def test_report_matches_the_records(tmp_path):
    done = stats(tmp_path, "--report", "report.json", "--plots", "plots")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    records = [json.loads(line) for line in SAMPLES.read_text().splitlines()]
    usable = [r for r in records if not r.get("mask_sample")]
    by_task = defaultdict(list)
    for r in usable:
        by_task[r["_ng_task_index"]].append(r["reward"])
    assert report["tasks"] == len(by_task) and report["counts"]["used"] == len(usable)
    assert report["reward"]["mean"] == pytest.approx(sum(r["reward"] for r in usable) / len(usable))
    expected = sum(pass_at_k(len(v), sum(x >= 1.0 for x in v), 2) for v in by_task.values()) / len(by_task)
    assert report["pass_at_k"]["2"] == pytest.approx(expected)
    assert (tmp_path / "plots" / "reward_histogram.png").stat().st_size > 1000
    assert (tmp_path / "plots" / "pass_rate.png").stat().st_size > 1000
    assert "pass@1" in done.stdout


def test_pass_at_k_is_unbiased():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(5, 5, 3) == 1.0


@pytest.mark.parametrize("path", real_file_params())
def test_every_real_file(tmp_path, path):
    done = stats(tmp_path, "--skip-invalid", "--report", "r.json", source=path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    counts = json.loads((tmp_path / "r.json").read_text())["counts"]
    assert counts["reconciles"]


def test_strict_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(SAMPLES.read_bytes()[:500])  # a truncated first line
    done = stats(tmp_path, "--report", "r.json", source=bad)
    assert done.returncode == 1 and f"{bad}:1: truncated last line" in done.stderr
    assert not (tmp_path / "r.json").exists()
