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


def _bench(module: str = "run"):
    """A module of benchmarks/ (run.py, make_rollouts.py)."""
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module(module)


def _run_each(bench, names, source, tmp_path):
    for name in names:
        (tmp_path / name).mkdir()
        assert bench.FUNCTIONS[name](source, tmp_path / name) == len(source.read_text().splitlines())


def test_prepare_and_the_load_all_way_write_the_same_rows(big, tmp_path):
    bench = _bench()
    names = ("sft_grpo", "sft_grpo_load_all")
    _run_each(bench, names, big, tmp_path)
    sft = {name: [json.loads(line) for line in (tmp_path / name / "sft.jsonl").read_text().splitlines()] for name in names}
    grpo = {name: pq.read_table(tmp_path / name / "grpo.parquet").to_pylist() for name in names}
    assert sft["sft_grpo"] and grpo["sft_grpo"]
    assert sft["sft_grpo"] == sft["sft_grpo_load_all"]
    assert grpo["sft_grpo"] == grpo["sft_grpo_load_all"]


def test_the_plain_bound_writes_as_many_sft_rows_and_pairs_as_prepare(big, tmp_path):
    """The simplest Python that the prepare target is held against does the same work: a row
    for each SFT record, a pair for each task whose rewards differ."""
    bench = _bench()
    _run_each(bench, ("prepare", "plain_all_cores"), big, tmp_path)
    ours = json.loads((tmp_path / "prepare" / "check.json").read_text())
    plain = bench.check("plain_all_cores", tmp_path / "plain_all_cores")["rows"]
    assert plain["sft"] == ours["sft.jsonl"] > 0
    assert plain["dpo"] == ours["dpo.jsonl"] > 0
    assert plain["grpo"] > 0


@pytest.mark.parametrize("kind", ["filter", "stats"])
def test_filter_and_stats_agree_with_their_load_all_ways(big, real_repeated, tmp_path, kind):
    """The ways compared do the same work: the same records kept, the same report numbers."""
    bench = _bench()
    for source in (big, real_repeated):
        work = tmp_path / source.stem
        work.mkdir()
        _run_each(bench, (kind, f"{kind}_load_all"), source, work)
        ours, theirs = bench.check(kind, work / kind), bench.check(f"{kind}_load_all", work / f"{kind}_load_all")
        assert ours == theirs
        assert (ours.get("kept") or ours.get("tasks")) > 0


@pytest.fixture(scope="module")
def real_repeated(tmp_path_factory, real_files):
    path = tmp_path_factory.mktemp("real") / "real.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_rollouts.py"), "--size", "4MB",
                           "--output", str(path), "--repeat", *map(str, real_files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def real_files():
    from paths import REAL_DATA, REAL_FILES

    if not REAL_FILES:
        pytest.skip(f"no real rollouts at {REAL_DATA}")
    return REAL_FILES


def test_repeated_real_records_are_new_tasks_in_each_copy(real_files, real_repeated):
    import orjson
    from paths import real_records

    originals = [record for _, record in real_records()]
    records = [orjson.loads(line) for line in real_repeated.read_bytes().splitlines()]
    copies = len(records) // len(originals)
    assert copies >= 2 and 4_000_000 <= real_repeated.stat().st_size < 4_500_000
    # copy k is the real records, with their task numbers moved by k * COPY_STRIDE (or given one: k * COPY_STRIDE)
    stride = _bench("make_rollouts").COPY_STRIDE
    for k in range(copies):
        for original, record in zip(originals, records[k * len(originals):(k + 1) * len(originals)]):
            expected = dict(original)
            numbers = [key for key in ("_ng_task_index", "task_idx") if isinstance(original.get(key), int)]
            for key in numbers:
                expected[key] = original[key] + k * stride
            if k and not numbers:
                expected["_ng_task_index"] = k * stride
            assert record == expected
    # the copies are different tasks: the prepared GRPO prompts grow with the copies
    from reference_impl.rollouts import task_key

    first = {task_key(r) for r in records[:len(originals)]}
    second = {task_key(r) for r in records[len(originals):2 * len(originals)]}
    assert first and not first & second


def test_tree_memory_counts_the_children_too():
    bench = _bench()

    child = subprocess.Popen([sys.executable, "-c", "import sys, time; b = bytearray(200 << 20); sys.stdout.write('x'); "
                              "sys.stdout.flush(); time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        child.stdout.read(1)
        assert bench.tree_rss(os.getpid()) >= (200 << 20)  # this process, and the child holding 200 MB
    finally:
        child.kill()
        child.wait()


def test_runner_reports_every_approach(big, tmp_path):
    names = ["floor", "floor_all_cores", "prepare", "filter", "filter_load_all", "stats", "stats_load_all", "two_step"]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--input", str(big), "--workdir",
                           str(tmp_path / "w"), "--json", str(tmp_path / "r.json"), "--repeat", "1", "--cores", "1", "2",
                           "--approaches", *names], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [entry] = json.loads((tmp_path / "r.json").read_text())
    assert [(r["approach"], r["cores"]) for r in entry["results"]] == [(n, c) for c in (1, 2) for n in names]
    assert all(r["records_per_second"] > 0 and r["peak_rss_mb"] > 0 for r in entry["results"])
    rows = [r["check"]["rows"] for r in entry["results"] if r["approach"] == "prepare"]
    assert rows[0] == rows[1] and all(rows[0].values())  # SFT, GRPO and DPO rows, the same on 1 and 2 cores
    assert not any((tmp_path / "w").iterdir())  # each approach's files are removed after it
