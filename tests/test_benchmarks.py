"""The benchmark's code: the file maker is reproducible and the approaches write the same rows."""

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from paths import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "big.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_rollouts.py"), "--size", "2MB",
                           "--output", str(path), "--seed", "3"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return path


def test_make_rollouts_is_seeded_and_sized(big, tmp_path):
    again = tmp_path / "again.jsonl"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_rollouts.py"), "--size", "2MB", "--output", str(again),
                    "--seed", "3"], check=True, capture_output=True)
    assert again.read_bytes() == big.read_bytes()
    assert 2_000_000 <= big.stat().st_size < 2_100_000
    records = [json.loads(line) for line in big.read_text().splitlines()]
    assert len({r["_ng_task_index"] for r in records}) < len(records)  # several rollouts per task
    assert any("generation_token_ids" in item for r in records for item in r["response"]["output"])


def test_ours_both_ways_and_the_seed_way_write_the_same_rows(big, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run as bench

    names = ("ours", "ours_3_steps", "seed")
    for name in names:
        (tmp_path / name).mkdir()
        assert bench.FUNCTIONS[name](big, tmp_path / name) == len(big.read_text().splitlines())
    sft = {name: [json.loads(line) for line in (tmp_path / name / "sft.jsonl").read_text().splitlines()] for name in names}
    grpo = {name: pq.read_table(tmp_path / name / "grpo.parquet").to_pylist() for name in names}
    assert sft["ours"] and grpo["ours"]
    assert sft["ours"] == sft["ours_3_steps"] == sft["seed"]
    assert grpo["ours"] == grpo["ours_3_steps"] == grpo["seed"]


def test_tree_memory_counts_the_children_too():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run as bench

    child = subprocess.Popen([sys.executable, "-c", "import sys, time; b = bytearray(200 << 20); sys.stdout.write('x'); "
                              "sys.stdout.flush(); time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        child.stdout.read(1)
        assert bench.tree_rss(os.getpid()) >= (200 << 20)  # this process, and the child holding 200 MB
    finally:
        child.kill()
        child.wait()


def test_runner_reports_every_approach(big, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--input", str(big), "--workdir",
                           str(tmp_path / "w"), "--json", str(tmp_path / "r.json"), "--approaches", "ours", "seed", "floor"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [entry] = json.loads((tmp_path / "r.json").read_text())
    assert [r["approach"] for r in entry["results"]] == ["ours", "seed", "floor"]
    assert all(r["records_per_second"] > 0 and r["peak_rss_mb"] > 0 for r in entry["results"])
