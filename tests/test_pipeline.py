"""The run loop: atomic outputs, the bad-input policy, the manifest."""

import json

import pytest
from paths import SAMPLES

from reference_impl.formats import get_algorithm
from reference_impl.io import OutputExistsAsInput, sha256_of
from reference_impl.pipeline import InternalError, InvalidInput, run


def converter(target="trl", algorithm="sft"):
    return get_algorithm(target, algorithm).converter()


def broken_copy(tmp_path, bad_line=b"<PLACEHOLDER ROW>\n", at=3):
    lines = SAMPLES.read_bytes().splitlines(keepends=True)
    lines.insert(at - 1, bad_line)
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def test_strict_run_stops_at_the_bad_line_and_writes_nothing(tmp_path):
    source = broken_copy(tmp_path)
    output = tmp_path / "out.jsonl"
    with pytest.raises(InvalidInput) as caught:
        run([source], output, converter())
    assert caught.value.error.line == 3 and str(caught.value).startswith(f"{source}:3: not valid JSON")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl"]  # no output, no temporary file


def test_skip_invalid_writes_the_rest_and_lists_the_rejects(tmp_path):
    source = broken_copy(tmp_path)
    result = run([source], tmp_path / "out.jsonl", converter(), skip_invalid=True)
    assert result.tally.rejected == {"not valid JSON": 1} and result.tally.reconciles()
    [reject] = [json.loads(line) for line in result.rejects.read_text().splitlines()]
    assert reject == {"file": str(source), "line": 3, "reason": reject["reason"]} and reject["reason"].startswith("not valid JSON")
    assert result.tally.rows == len((tmp_path / "out.jsonl").read_text().splitlines()) == 47


def test_manifest_records_counts_and_checksums(tmp_path):
    output = tmp_path / "out.parquet"
    result = run([SAMPLES], output, get_algorithm("verl", "grpo").converter(), description={"target": "verl"})
    manifest = json.loads(result.manifest.read_text())
    assert manifest["inputs"] == [{"path": str(SAMPLES), "sha256": sha256_of(SAMPLES)}]
    assert manifest["output"]["sha256"] == sha256_of(output)
    assert manifest["counts"]["read"] == 48 and manifest["counts"]["reconciles"]
    assert manifest["run"] == {"target": "verl"}


def test_refuses_to_write_over_its_input(tmp_path):
    copy = tmp_path / "rollouts.jsonl"
    copy.write_bytes(SAMPLES.read_bytes())
    with pytest.raises(OutputExistsAsInput):
        run([copy], tmp_path / "." / "rollouts.jsonl", converter())
    assert copy.read_bytes() == SAMPLES.read_bytes()


def test_a_failure_mid_run_leaves_the_old_output_untouched(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text("previous run\n")

    def exploding(rollouts, tally):
        for i, rollout in enumerate(rollouts):
            if i == 5:
                raise RuntimeError("interrupted")
            tally.used += 1
            yield {"i": i}

    with pytest.raises(InternalError) as raised:
        run([SAMPLES], output, exploding)
    assert isinstance(raised.value.error, RuntimeError) and raised.value.where == f"{SAMPLES}:6"
    assert output.read_text() == "previous run\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_parquet_rows_of_another_shape_are_an_error_not_dropped_fields(tmp_path):
    from reference_impl.io import ParquetWriter, SchemaDrift

    writer = ParquetWriter(tmp_path / "x.parquet", batch_rows=1)
    writer.write({"a": {"x": 1}})
    writer.write({"a": {"x": 2}})  # the same shape: fine
    with pytest.raises(SchemaDrift, match=r"rows 3-3 have fields or types the first rows did not \(a: struct<x: int64, y: string>"):
        writer.write({"a": {"x": 3, "y": "tool_calls"}})
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_bug_in_a_converter_is_an_internal_error_naming_the_record(tmp_path, monkeypatch, capsys):
    """Not reported as bad data: the record, the exception's type, exit status 3, nothing written."""
    from reference_impl.cli import INTERNAL_ERROR, prepare_main
    from reference_impl.formats import trl

    def broken(record, options, tally):
        if record.get("_ng_task_index") == 1:
            raise KeyError("role")
        return {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}

    monkeypatch.setattr(trl, "sft_row", broken)
    out = tmp_path / "sft.jsonl"
    status = prepare_main("trl", ["--input", str(SAMPLES), "--output", str(out), "--algorithm", "sft"])
    err = capsys.readouterr().err
    first = next(i for i, line in enumerate(SAMPLES.read_text().splitlines(), 1) if '"_ng_task_index": 1,' in line
                 or '"_ng_task_index":1,' in line)
    assert status == INTERNAL_ERROR and not out.exists()
    assert err.startswith(f"internal error while converting the record at {SAMPLES}:{first}: KeyError: 'role'"), err
    assert "not a problem with your data" in err
