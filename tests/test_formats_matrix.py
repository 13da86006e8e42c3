"""Every real rollout file x every framework and algorithm: output, or a clear file:line message."""

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from paths import REAL_DATA, REAL_FILES, SAMPLES, real_file_params

from reference_impl.cli import prepare_main
from reference_impl.formats import TARGETS
from reference_impl.rollouts import Rollout, iter_rollouts, trajectory_items

FORMATS = [(t, a) for t in ("trl", "nemo_rl", "verl", "openrlhf") for a in TARGETS[t]]
LOCATED = re.compile(r"^error: .+\.jsonl:\d+: .+", re.M)


def prepare(target, algorithm, source, out_dir, *extra):
    suffix = TARGETS[target][algorithm].suffixes[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"out{suffix}"
    status = prepare_main(target, ["--input", str(source), "--output", str(output), "--algorithm", algorithm, *extra])
    return status, output


PINNED = json.loads((Path(__file__).parent / "fixtures" / "real_outcomes.json").read_text())
"""What each script does with each real file, strict and with --skip-invalid (tests/fixtures/pin_real_outcomes.py)."""


def outcome(status, output, err, source):
    if status == 0:
        manifest = json.loads(output.with_name(output.stem + ".manifest.json").read_text())
        assert manifest["counts"]["reconciles"]
        rows = pq.read_metadata(output).num_rows if output.suffix == ".parquet" else len(output.read_text().splitlines())
        assert rows == manifest["counts"]["rows_written"]
        return {"status": 0, "rows": rows}
    assert "Traceback" not in err and not output.exists(), "a failed run must write nothing"
    first = next(line for line in err.splitlines() if line.startswith("error: "))
    return {"status": status, "error": first.replace(str(source.parent) + "/", "").replace(str(output.parent) + "/", "")}


@pytest.mark.parametrize("target, algorithm", FORMATS, ids=[f"{t}-{a}" for t, a in FORMATS])
@pytest.mark.parametrize("source", real_file_params())
def test_each_real_file_gives_its_pinned_outcome(source, target, algorithm, tmp_path, capsys):
    """Rows written, or the error line, exactly as pinned: strict and with --skip-invalid."""
    pinned = PINNED[f"{source.stem} {target}:{algorithm}"]
    for mode, extra in (("strict", ()), ("skip_invalid", ("--skip-invalid",))):
        status, output = prepare(target, algorithm, source, tmp_path / mode, *extra)
        assert outcome(status, output, capsys.readouterr().err, source) == pinned[mode], mode


def test_the_pinned_outcomes_cover_every_real_file_and_format():
    assert {key.split()[0] for key in PINNED} == {path.stem for path in REAL_FILES} or not REAL_FILES
    assert {key.split()[1] for key in PINNED} == {f"{t}:{a}" for t, a in FORMATS}


@pytest.mark.parametrize("target, algorithm", FORMATS, ids=[f"{t}-{a}" for t, a in FORMATS])
def test_the_samples_give_rows_for_every_format(target, algorithm, tmp_path, capsys):
    status, output = prepare(target, algorithm, SAMPLES, tmp_path)
    assert status == 0, capsys.readouterr().err
    assert outcome(status, output, "", SAMPLES)["rows"] > 0


@pytest.mark.parametrize("source", real_file_params())
def test_strict_runs_stop_at_the_first_malformed_line(source, tmp_path, capsys):
    malformed = [item for item in iter_rollouts(source) if not isinstance(item, Rollout)]
    status, output = prepare("trl", "sft", source, tmp_path)
    err = capsys.readouterr().err
    if malformed:
        assert status == 1 and LOCATED.search(err) and f"{source.name}:{malformed[0].line}:" in err
        assert not output.exists()


def tool_trajectories(path):
    for item in iter_rollouts(path):
        if isinstance(item, Rollout) and not item.record.get("mask_sample"):
            calls = [i for i in trajectory_items(item.record) if i.get("type") == "function_call"]
            if calls:
                outputs = [i for i in trajectory_items(item.record) if i.get("type") == "function_call_output"]
                yield calls, outputs


def calls_in(messages):
    found = []
    for m in messages:
        for c in m.get("tool_calls") or []:
            arguments = c["function"]["arguments"]
            found.append((c["id"], c["function"]["name"], json.loads(arguments) if isinstance(arguments, str) else arguments))
    return found


SFT_SOURCES = [SAMPLES] + [REAL_DATA / n for n in ("example_multi_step.jsonl", "workplace_assistant.jsonl") if REAL_FILES]


@pytest.mark.parametrize("source", SFT_SOURCES, ids=lambda p: p.stem)
@pytest.mark.parametrize("target", ["trl", "nemo_rl", "verl", "openrlhf"])
def test_sft_keeps_every_call_argument_and_result_in_order(source, target, tmp_path):
    status, output = prepare(target, "sft", source, tmp_path)
    assert status == 0
    if output.suffix == ".parquet":
        rows = pq.read_table(output).to_pylist()
    else:
        rows = [json.loads(line) for line in output.read_text().splitlines()]
    expected = list(tool_trajectories(source))
    written = [row for row in rows if calls_in(row["messages"])]
    assert len(written) == len(expected) > 0
    for row, (calls, outputs) in zip(written, expected):
        messages = row["messages"]
        assert calls_in(messages) == [(c["call_id"], c["name"], json.loads(c["arguments"])) for c in calls]
        results = [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]
        answered = {o["call_id"] for o in outputs}
        assert results == [(o["call_id"], o["output"]) for o in outputs][: len(results)]
        assert all(r[0] in answered for r in results)
        assert messages[-1]["role"] == "assistant"
