"""``prepare.py`` and ``run_many``: several outputs from one read, in one process or in workers
over byte ranges (started by fork or spawn), writing exactly what one pass writes."""

import json
import random
import subprocess
import sys
from functools import partial

import pyarrow.parquet as pq
import pytest
from paths import ROOT, SAMPLES

from reference_impl.cli import format_output
from reference_impl.filters import FilterOptions, RawLineWriter, filter_step, record_drop_reason
from reference_impl.formats import ConvertOptions
from reference_impl.io import AtomicWriter
from reference_impl.pipeline import (
    InternalError, InvalidInput, NothingToWrite, Output, execute, line_aligned_spans, run_many)
from reference_impl.stats import StatsStep
from reference_impl.step import Step

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
    """The samples many times over, shuffled, with malformed lines at the given places.

    Every third copy keeps the task numbers of the first, so that tasks and repeated
    trajectories are scattered over the whole file (and over every byte range)."""
    lines = []
    for copy in range(copies):
        for line in SAMPLES.read_bytes().splitlines(keepends=True):
            record = json.loads(line)
            record["_ng_task_index"] += (copy % 3) * 1000
            lines.append(json.dumps(record).encode() + b"\n")
    random.Random(0).shuffle(lines)
    for at in sorted(bad_lines):
        lines.insert(at - 1, b'{"reward": 1.0, "response": \n')
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def every_output(folder):
    """Every shape of output: rows per record (JSON Lines, parquet), per task (numbered, in both),
    preference pairs, and the record and group filters."""
    return outputs(folder) + [
        format_output("verl", "grpo", folder / "grpo.jsonl", ConvertOptions()),
        format_output("openrlhf", "rm", folder / "rm.parquet", ConvertOptions()),
        format_output("verl", "sft", folder / "verl_sft.parquet", ConvertOptions()),
        Output(folder / "kept.jsonl", partial(filter_step, FilterOptions(min_reward=0.5)), RawLineWriter),
        Output(folder / "top.jsonl", partial(filter_step, FilterOptions(top_k=2, dedupe=True)), RawLineWriter),
        Output(folder / "varied.jsonl", partial(filter_step, FilterOptions(drop_uniform_groups=True)), RawLineWriter),
    ]


def same_files(one, other):
    for a, b in zip(one, other):
        assert a.tally.as_dict() == b.tally.as_dict() and b.tally.reconciles(), a.output
        if a.output.suffix == ".parquet":
            assert pq.read_table(a.output).equals(pq.read_table(b.output)), a.output
        else:
            assert a.output.read_bytes() == b.output.read_bytes(), a.output


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory):
    """Every output written by one process: what the workers must write too."""
    folder = tmp_path_factory.mktemp("one")
    source = big_input(folder, bad_lines=(1700, 40))
    results = run_many([source], every_output(folder / "out"), skip_invalid=True, workers=1)
    assert "processes" not in json.loads(results[0].manifest.read_text())["run"]
    assert all(r.tally.rows > 0 for r in results)
    return source, results


@pytest.mark.parametrize("workers, start_method", [(2, "fork"), (5, "fork"), (2, "spawn"), (5, "spawn")])
def test_outputs_do_not_depend_on_the_workers_nor_how_they_start(one_pass, tmp_path, workers, start_method):
    source, alone = one_pass
    spans = line_aligned_spans(source, workers)
    assert len(spans) == workers and spans[0][0] == 0 and spans[-1][1] == source.stat().st_size
    together = run_many([source], every_output(tmp_path), skip_invalid=True, workers=workers,
                        start_method=start_method)
    same_files(alone, together)
    assert together[0].rejects.read_bytes() == alone[0].rejects.read_bytes()
    assert json.loads(together[0].manifest.read_text())["run"]["processes"] == workers
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith("manifest.json")) == sorted(
        [r.output.name for r in together] + ["sft.rejects.jsonl"])  # no part left behind


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_statistics_do_not_depend_on_the_workers(one_pass, workers):
    source, _ = one_pass
    make = [partial(StatsStep, 1.0, None)]
    shared, [step] = execute([source], make, [None], on_reject=lambda error: None, workers=workers)
    step.tally.merge(shared)
    shared_one, [one] = execute([source], make, [None], on_reject=lambda error: None)
    one.tally.merge(shared_one)
    report = step.stats.as_dict()
    assert report == one.stats.as_dict() and report["counts"]["read"] == 1922 and report["tasks"] > 0


def test_the_record_filter_runs_on_the_whole_file_in_ranges(tmp_path):
    source = big_input(tmp_path, copies=4)
    [one] = run_many([source], [Output(tmp_path / "a.jsonl", partial(filter_step, FilterOptions(min_reward=0.5)),
                                       RawLineWriter)], drop_reason=keep_rewarded, workers=1)
    [five] = run_many([source], [Output(tmp_path / "b.jsonl", partial(filter_step, FilterOptions(min_reward=0.5)),
                                        RawLineWriter)], drop_reason=keep_rewarded, workers=5)
    kept = [line for line in source.read_bytes().splitlines(keepends=True) if keep_rewarded(json.loads(line)) is None]
    assert one.output.read_bytes() == five.output.read_bytes() == b"".join(kept)


@pytest.mark.parametrize("workers", [1, 5])
def test_strict_run_names_the_first_bad_line_of_the_file_and_writes_nothing(tmp_path, workers):
    source = big_input(tmp_path, bad_lines=(1700, 40))
    with pytest.raises(InvalidInput) as caught:
        run_many([source], outputs(tmp_path / "out"), workers=workers)
    assert caught.value.error.line == 40 and str(caught.value).startswith(f"{source}:40: ")
    assert not (tmp_path / "out").exists()  # not even the folder made for the outputs


def test_skip_invalid_lists_every_bad_line_once_in_order(tmp_path):
    source = big_input(tmp_path, bad_lines=(1700, 40))
    results = run_many([source], outputs(tmp_path / "out"), skip_invalid=True, workers=5)
    rejects = [json.loads(line) for line in results[0].rejects.read_text().splitlines()]
    assert [r["line"] for r in rejects] == [40, 1700]
    lines = source.read_bytes().splitlines()
    assert all(not lines[r["line"] - 1].endswith(b"}") for r in rejects)  # the numbers point at the bad lines
    for result in results:
        assert result.tally.rejected == {"not valid JSON": 2} and result.tally.reconciles()


class Exploding(Step):
    """A step with a bug: it fails on the 30th record it sees."""

    def __init__(self):
        self.seen = 0

    def push(self, rollout):
        self.seen += 1
        if self.seen == 30:
            raise RuntimeError("step bug")
        self.tally.used += 1
        self.emit({"line": rollout.line})


@pytest.mark.parametrize("workers", [1, 5])
def test_one_failing_output_leaves_no_output_at_all(tmp_path, workers):
    source = big_input(tmp_path, copies=4)
    folder = tmp_path / "out"
    broken = Output(folder / "broken.jsonl", Exploding)
    with pytest.raises(InternalError, match="RuntimeError: step bug") as raised:
        run_many([source], outputs(folder) + [broken], workers=workers)
    assert raised.value.where.startswith(f"{source}:")
    assert not folder.exists()  # not even the folder made for the outputs


@pytest.mark.parametrize("workers", [1, 5])
def test_an_output_without_rows_is_refused_and_nothing_is_ever_put_in_place(tmp_path, monkeypatch, workers):
    source = big_input(tmp_path, copies=4, bad_lines=(40,))
    folder = tmp_path / "out"
    nothing = Output(folder / "none.jsonl", partial(filter_step, FilterOptions(min_reward=2.0)), RawLineWriter)
    committed = []
    monkeypatch.setattr(AtomicWriter, "commit", lambda writer: committed.append(writer.path))
    with pytest.raises(NothingToWrite) as refused:
        run_many([source], outputs(folder) + [nothing], skip_invalid=True, workers=workers)
    [(path, tally)] = refused.value.empty
    assert path == folder / "none.jsonl" and refused.value.outputs == 5
    assert tally.rows == 0 and tally.rejected == {"not valid JSON": 1} and tally.reconciles()
    assert tally.read == 4 * 48 + 1 and tally.used == 0 and max(tally.skipped, key=tally.skipped.get).startswith("reward")
    assert committed == []  # not the other outputs, nor a manifest or the rejects file
    assert not folder.exists()  # not even the folder made for the outputs


def test_prepare_says_which_output_has_nothing_to_write_and_writes_none(tmp_path):
    firsts = {}
    for line in SAMPLES.read_bytes().splitlines(keepends=True):
        firsts.setdefault(json.loads(line)["_ng_task_index"], line)  # one rollout per task: no preference pair
    (tmp_path / "one_each.jsonl").write_bytes(b"".join(firsts.values()) + b'{"reward": \n')
    done = script("prepare.py", "--input", "one_each.jsonl", "--skip-invalid", "--to", "trl:sft=out/sft.jsonl",
                  "--to", "trl:dpo=out/dpo.jsonl", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: nothing to write to out/dpo.jsonl: preference pairs need several rollouts" in done.stderr
    assert "out/sft.jsonl" not in done.stderr and done.stderr.endswith("error: no output was written\n")
    assert not (tmp_path / "out").exists()  # not even the folder made for the outputs


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


def test_a_filter_that_cannot_be_sent_to_workers_runs_in_one_process(tmp_path):
    """A loaded tokenizer (here a local function) cannot be pickled: the run reads the input itself."""
    source = big_input(tmp_path, copies=4)
    options = FilterOptions(max_tokens=80, count_tokens=lambda record: len(str(record)) // 30)
    [result] = run_many([source], [Output(tmp_path / "k.jsonl", partial(filter_step, options), RawLineWriter)],
                        workers=5)
    assert "processes" not in json.loads(result.manifest.read_text())["run"]
    assert result.tally.used > 0 and result.tally.skipped["more than 80 tokens"] > 0


@pytest.mark.parametrize("script, args", [
    ("prepare.py", ["--to", "trl:sft=sft.jsonl", "--to", "trl:dpo=dpo.jsonl"]),
    ("filter_rollouts.py", ["--output", "sft.jsonl", "--min-reward", "0.5"]),
    ("rollout_stats.py", ["--report", "sft.json"]),
])
def test_an_input_piped_in_is_read_once(tmp_path, script, args):
    """``--input <(zcat rollouts.jsonl.gz)``: a pipe cannot be read twice, so it gets no checksum
    (nothing reads it again to make one) and the outputs are those of the file itself."""
    outputs = {}
    for how, given in (("file", str(SAMPLES)), ("pipe", f"<(cat {SAMPLES})")):
        work = tmp_path / how
        work.mkdir()
        command = " ".join([sys.executable, str(SCRIPTS / script), "--input", given, *args, "--no-progress"])
        done = subprocess.run(["bash", "-c", command], cwd=work, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        [manifest] = work.glob("sft.manifest.json")
        [source] = json.loads(manifest.read_text())["inputs"]
        assert (source["sha256"] is None) == (how == "pipe")
        outputs[how] = sorted((p.name, p.read_bytes()) for p in work.iterdir() if "manifest" not in p.name)
    assert outputs["pipe"] == outputs["file"] and outputs["file"]
