"""The benchmark's code: the file maker is reproducible and the approaches write the same rows."""

import json
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


def test_ours_and_the_seed_way_write_the_same_rows(big, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import run as bench

    for name in ("ours", "seed"):
        (tmp_path / name).mkdir()
        assert getattr(bench, name)(big, tmp_path / name) == len(big.read_text().splitlines())
    for output in ("sft.jsonl",):
        ours = (tmp_path / "ours" / output).read_text().splitlines()
        seed = (tmp_path / "seed" / output).read_text().splitlines()
        assert [json.loads(line) for line in ours] == [json.loads(line) for line in seed]
    assert pq.read_table(tmp_path / "ours" / "grpo.parquet").to_pylist() == pq.read_table(tmp_path / "seed" / "grpo.parquet").to_pylist()


def test_runner_reports_every_approach(big, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--input", str(big), "--workdir",
                           str(tmp_path / "w"), "--json", str(tmp_path / "r.json"), "--approaches", "ours", "seed", "floor"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [entry] = json.loads((tmp_path / "r.json").read_text())
    assert [r["approach"] for r in entry["results"]] == ["ours", "seed", "floor"]
    assert all(r["records_per_second"] > 0 and r["peak_rss_mb"] > 0 for r in entry["results"])
