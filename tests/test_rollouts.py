"""Reading rollout files: every real wart becomes a record or a file:line error."""

import gzip
import json

import pytest
from paths import REAL_DATA, REAL_FILES, SAMPLES, real_file_params

from reference_impl.rollouts import (
    NOT_A_ROLLOUT, Rollout, RolloutError, iter_rollouts, prompt_input, record_problem, skip_reason, task_index, task_key, trajectory_items,
)


def read(path):
    items = list(iter_rollouts(path))
    return [i for i in items if isinstance(i, Rollout)], [i for i in items if isinstance(i, RolloutError)]


def test_samples_read_cleanly():
    records, errors = read(SAMPLES)
    assert len(records) == 48 and not errors
    assert {skip_reason(r.record) for r in records} == {None, "masked sample"}
    assert len({task_key(r.record) for r in records}) == 12


def test_gzip_reads_the_same(tmp_path):
    packed = tmp_path / "rollouts.jsonl.gz"
    packed.write_bytes(gzip.compress(SAMPLES.read_bytes()))
    assert [r.record for r in read(packed)[0]] == [r.record for r in read(SAMPLES)[0]]


@pytest.mark.parametrize("path", real_file_params())
def test_every_real_line_is_a_record_or_a_located_error(path):
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    records, errors = read(path)
    assert len(records) + len(errors) == len(lines)
    for error in errors:
        assert error.path == str(path) and 1 <= error.line <= len(lines) and error.reason
        assert str(error).startswith(f"{path}:{error.line}: ")
    for record in records:
        assert record_problem(record.record) is None


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_the_known_warts_are_reported_as_the_readme_says():
    records, errors = read(REAL_DATA / "jailbreak_detection.jsonl")
    assert not records and [e.line for e in errors] == [1, 2, 3, 4, 5]
    assert all(e.reason.startswith("not valid JSON") for e in errors)
    records, errors = read(REAL_DATA / "aviary_gsm8k.jsonl")  # cumulative step lists, task_idx: a trajectory
    assert not errors and len(records) == 5
    for rollout in records:
        prompt, output = prompt_input(rollout.record), trajectory_items(rollout.record)
        assert [item["role"] for item in prompt] == ["user"] and prompt[0]["content"].strip()
        assert output and all(isinstance(item, dict) and item.get("role") != "user" for item in output)
        assert task_index(rollout.record) == rollout.record["task_idx"]
    records, _ = read(REAL_DATA / "genrm_compare.jsonl")
    assert {skip_reason(r.record) for r in records} == {"no response"}
    records, _ = read(REAL_DATA / "hermes_math.jsonl")
    assert any("generation_token_ids" in item for r in records for item in trajectory_items(r.record))


def test_a_row_that_no_model_call_made_is_skipped_as_not_a_rollout(tmp_path):
    path = tmp_path / "judge.jsonl"
    path.write_text(json.dumps({"policy_response": "A", "answer_judgment": "correct"}) + "\n")
    [record], errors = read(path)
    assert not errors and skip_reason(record.record) == NOT_A_ROLLOUT


def test_a_truncated_gz_names_the_line_where_it_breaks(tmp_path):
    whole = gzip.compress(b"".join(json.dumps({"responses_create_params": {"input": f"q{i}"}}).encode() + b"\n"
                                   for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    records, errors = read(path)
    [error] = errors
    assert error.reason.startswith("the compressed file ends early") and error.line == len(records) + 1
    assert 0 < len(records) < 2000 and [r.line for r in records] == list(range(1, len(records) + 1))


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"\xff\xfe{}\n", "not valid UTF-8"),
        (b"[1, 2]\n", "a JSON array, not an object"),
        (b'{"responses_create_params": {"input": "q"}, "reward": NaN}\n', "not valid JSON"),
        # No NaN or infinity gets past the parser, anywhere in a record: the writers' row
        # check relies on it (FormatStep.passes leaves out the walk for them).
        (b'{"responses_create_params": {"input": "q"}, "x": [{"y": -Infinity}]}\n', "not valid JSON"),
        (b'{"responses_create_params": {"input": "q"}, "x": {"y": 1e400}}\n', "not valid JSON"),
        (b'{"responses_create_params": {"input": "q"}, "reward": true}\n', "reward is a boolean, expected a number"),
        (b'{"responses_create_params": {"input": 3}}\n', "responses_create_params.input is a number, expected a string or an array"),
        (b'{"responses_create_params": {"input": "q"}, "_ng_task_index": "7"}\n', "_ng_task_index is a string, expected an integer"),
        (b'{"reward": 1.0, "response": {"output": []}}\n', "missing responses_create_params"),
        (b'{"responses_create_params": {"input": "q"}, "response": {"output": "x"}}\n', "response.output is a string, expected an array"),
    ],
)
def test_malformed_lines_name_what_is_wrong(tmp_path, line, reason):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps({"responses_create_params": {"input": "ok"}}).encode() + b"\n" + line)
    records, errors = read(path)
    assert len(records) == 1 and len(errors) == 1
    assert errors[0].line == 2 and errors[0].reason.startswith(reason), errors[0].reason


def test_a_truncated_last_line_says_so(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_bytes(SAMPLES.read_bytes().splitlines(keepends=True)[0] + b'{"responses_create_params": {"inp')
    _, errors = read(path)
    assert errors[0].line == 2 and errors[0].reason.startswith("truncated last line")


def test_seed_shape_with_top_level_output_is_read():
    record = {"responses_create_params": {"input": "2+2?"}, "output": [{"type": "message", "role": "assistant", "content": "4"}], "reward": 1.0}
    assert record_problem(record) is None and skip_reason(record) is None
    assert trajectory_items(record)[0]["content"] == "4"


@pytest.mark.parametrize("span", [None, "second half"])
def test_each_rollout_knows_where_its_line_starts(tmp_path, span):
    data = SAMPLES.read_bytes().replace(b"\n", b"\n\n", 3)  # blank lines move the lines after them
    source = tmp_path / "rollouts.jsonl"
    source.write_bytes(data)
    if span is not None:
        span = (data.index(b"\n", len(data) // 2) + 1, len(data))
    records = [r for r in iter_rollouts(source, span=span) if isinstance(r, Rollout)]
    assert len(records) == (48 if span is None else 48 - data[:span[0]].count(b"{\"responses_create_params\""))
    for rollout in records:
        assert data[rollout.offset:rollout.offset + len(rollout.raw)] == rollout.raw
        assert data[:rollout.offset].count(b"\n") == rollout.line - 1


def test_a_compressed_file_has_no_offsets(tmp_path):
    packed = tmp_path / "rollouts.jsonl.gz"
    packed.write_bytes(gzip.compress(SAMPLES.read_bytes()))
    assert {r.offset for r in read(packed)[0]} == {None}


def test_a_pipe_has_no_offsets(tmp_path):
    import os
    import threading

    pipe = tmp_path / "rollouts.jsonl"
    os.mkfifo(pipe)
    writer = threading.Thread(target=pipe.write_bytes, args=(SAMPLES.read_bytes(),))
    writer.start()
    records = read(pipe)[0]
    writer.join()
    assert len(records) == 48 and {r.offset for r in records} == {None}  # a pipe cannot be read again


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_lines_before_a_range_are_counted_alike_mapped_or_read():
    """A worker numbers its range's lines from the count of the lines before it: the mapped count
    and the one that reads the bytes agree at every line start, in the middle of a line, and at
    the end of every real file."""
    import mmap

    from reference_impl.rollouts import _lines_before, _lines_counted

    checked = 0
    for path in REAL_FILES:
        data = path.read_bytes()
        starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 10]
        with open(path, "rb") as handle:
            for offset in sorted(set(starts + [s + 3 for s in starts] + [len(data)])):
                offset = min(offset, len(data))
                expected = data[:offset].count(b"\n")
                assert _lines_before(handle, offset) == _lines_counted(handle, offset) == expected
                # in the smallest windows, many lines straddle two of them
                assert _lines_before(handle, offset, window=mmap.ALLOCATIONGRANULARITY) == expected
                checked += 1
    assert checked > 100
