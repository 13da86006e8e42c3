"""``prepare.py`` and ``run_many``: several formats from one read, in processes, in threads or
in byte ranges, writing exactly what the one-format scripts write."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from paths import ROOT, SAMPLES

from reference_impl import pipeline
from reference_impl.cli import format_output
from reference_impl.filters import FilterOptions, record_drop_reason
from reference_impl.formats import ConvertOptions
from reference_impl.pipeline import InternalError, InvalidInput, Output, run_many

SCRIPTS = ROOT / "scripts"


def script(name, *args, cwd):
    return subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def outputs(folder):
    return [format_output("trl", "sft", folder / "sft.jsonl", ConvertOptions()),
            format_output("verl", "grpo", folder / "grpo.parquet", ConvertOptions()),
            format_output("trl", "kto", folder / "kto.jsonl", ConvertOptions()),
            format_output("trl", "dpo", folder / "dpo.jsonl", ConvertOptions())]


def keep_rewarded(record):
    return record_drop_reason(record, FilterOptions(min_reward=0.5))


def big_input(tmp_path, copies=40, bad_lines=()):
    """The samples many times over (task indexes kept apart), with malformed lines at the given places."""
    lines = []
    for copy in range(copies):
        for line in SAMPLES.read_bytes().splitlines(keepends=True):
            record = json.loads(line)
            record["_ng_task_index"] += copy * 1000
            lines.append(json.dumps(record).encode() + b"\n")
    for at in sorted(bad_lines):
        lines.insert(at - 1, b'{"reward": 1.0, "response": \n')
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture
def split_everything(monkeypatch):
    """Make every input "large" and the machine three cores wide, so that SFT and KTO are written in ranges."""
    monkeypatch.setattr(pipeline, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(pipeline, "_cores", lambda: 5)


def test_prepare_writes_what_filter_then_the_prepare_scripts_write(tmp_path):
    done = script("prepare.py", "--input", SAMPLES, "--min_reward", "0.5", "--to", "trl:sft=one/sft.jsonl",
                  "--to", "verl:grpo=one/grpo.parquet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert script("filter_rollouts.py", "--input", SAMPLES, "--output", "kept.jsonl", "--min_reward", "0.5",
                  cwd=tmp_path).returncode == 0
    assert script("prepare_for_trl.py", "--input", "kept.jsonl", "--output", "sft.jsonl", cwd=tmp_path).returncode == 0
    assert script("prepare_for_verl.py", "--input", "kept.jsonl", "--output", "grpo.parquet", "--algorithm", "grpo",
                  cwd=tmp_path).returncode == 0
    assert (tmp_path / "one" / "sft.jsonl").read_bytes() == (tmp_path / "sft.jsonl").read_bytes()
    assert pq.read_table(tmp_path / "one" / "grpo.parquet").equals(pq.read_table(tmp_path / "grpo.parquet"))
    sft = json.loads((tmp_path / "one" / "sft.manifest.json").read_text())
    assert sft["counts"]["read"] == 48 and sft["counts"]["reconciles"]
    assert "reward below 0.5" in sft["counts"]["skipped"]
    assert sft["run"]["filters"] == {"min_reward": 0.5} and sft["run"]["written_with"] == ["one/grpo.parquet"]
    assert "one/sft.jsonl:" in done.stdout and "one/grpo.parquet:" in done.stdout


@pytest.mark.parametrize("parallel", ["processes", "threads"])
def test_processes_threads_and_byte_ranges_write_the_same_files(tmp_path, split_everything, parallel):
    source = big_input(tmp_path)
    (tmp_path / "alone").mkdir()
    (tmp_path / "together").mkdir()
    alone = [run_many([source], [output], drop_reason=keep_rewarded, parallel="threads")[0]
             for output in outputs(tmp_path / "alone")]
    plan = pipeline._plan([source], outputs(tmp_path))
    assert plan[0] == ((3,), None)  # DPO needs whole tasks: it reads everything in a process of its own
    assert [indexes for indexes, _ in plan[1:]] == [(0, 1, 2)] * 5  # the others share five byte ranges
    assert plan[1][1][0] == 0 and plan[-1][1][1] == source.stat().st_size
    assert all(a[1][1] == b[1][0] for a, b in zip(plan[1:], plan[2:]))
    together = run_many([source], outputs(tmp_path / "together"), drop_reason=keep_rewarded, parallel=parallel)
    for one, other in zip(alone, together):
        assert one.tally.as_dict() == other.tally.as_dict() and other.tally.reconciles()
        assert one.output.read_bytes() == other.output.read_bytes() or (
            pq.read_table(one.output).equals(pq.read_table(other.output)))
    assert sorted(p.name for p in (tmp_path / "together").iterdir()) == [
        "dpo.jsonl", "dpo.manifest.json", "grpo.manifest.json", "grpo.parquet", "kto.jsonl", "kto.manifest.json",
        "sft.jsonl", "sft.manifest.json"]
    manifest = json.loads(together[0].manifest.read_text())
    assert manifest["run"].get("processes") == (5 if parallel == "processes" else None)


@pytest.mark.parametrize("parallel", ["processes", "threads"])
def test_strict_run_names_the_first_bad_line_of_the_file_and_writes_nothing(tmp_path, split_everything, parallel):
    source = big_input(tmp_path, bad_lines=(1700, 40))
    with pytest.raises(InvalidInput) as caught:
        run_many([source], outputs(tmp_path / "out"), parallel=parallel)
    assert caught.value.error.line == 40 and str(caught.value).startswith(f"{source}:40: ")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_skip_invalid_lists_every_bad_line_once_in_order(tmp_path, split_everything):
    source = big_input(tmp_path, bad_lines=(1700, 40))
    results = run_many([source], outputs(tmp_path / "out"), skip_invalid=True)
    rejects = [json.loads(line) for line in results[0].rejects.read_text().splitlines()]
    assert [r["line"] for r in rejects] == [40, 1700]
    lines = source.read_bytes().splitlines()
    assert all(not lines[r["line"] - 1].endswith(b"}") for r in rejects)  # the numbers point at the bad lines
    for result in results:
        assert result.tally.rejected == {"not valid JSON": 2} and result.tally.reconciles()


@pytest.mark.parametrize("parallel", ["processes", "threads"])
def test_one_failing_output_leaves_no_output_at_all(tmp_path, split_everything, parallel):
    def exploding(rollouts, tally):
        for i, _ in enumerate(rollouts):
            if i == 30:
                raise RuntimeError("converter bug")
            tally.used += 1
            yield {"i": i}

    source = big_input(tmp_path, copies=4)
    folder = tmp_path / "out"
    broken = Output(folder / "broken.jsonl", exploding)
    with pytest.raises(InternalError, match="RuntimeError: converter bug"):
        run_many([source], outputs(folder) + [broken], parallel=parallel)
    assert not folder.exists() or not list(folder.iterdir())


@pytest.mark.parametrize("to, message", [
    ("trl:sft", "expected TARGET:ALGORITHM=PATH"),
    ("nemo:sft=x.jsonl", "unknown target 'nemo'"),
    ("verl:kto=x.parquet", "verl has no 'kto' format"),
    ("trl:sft=x.parquet", "trl sft is written as .jsonl"),
])
def test_bad_outputs_are_named(tmp_path, to, message):
    done = script("prepare.py", "--input", SAMPLES, "--to", to, cwd=tmp_path)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_same_output_twice_is_refused(tmp_path):
    done = script("prepare.py", "--input", SAMPLES, "--to", "trl:sft=x.jsonl", "--to", "trl:kto=x.jsonl", cwd=tmp_path)
    assert done.returncode == 1 and "two outputs are the same file" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_pipe_is_read_once_for_every_output(tmp_path):
    feed = subprocess.Popen(["cat", str(SAMPLES)], stdout=subprocess.PIPE)
    try:
        done = subprocess.run([sys.executable, str(SCRIPTS / "prepare.py"), "--input", "/dev/stdin",
                               "--to", "trl:sft=sft.jsonl", "--to", "verl:grpo=grpo.parquet"],
                              stdin=feed.stdout, capture_output=True, text=True, cwd=tmp_path)
    finally:
        feed.wait()
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("read 48 records") == 2
    assert len((tmp_path / "sft.jsonl").read_text().splitlines()) == 47
