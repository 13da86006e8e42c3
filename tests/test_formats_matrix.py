"""Every real rollout file x every framework and algorithm: output, or a clear file:line message."""

import json
import re

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
    output = out_dir / f"{target}_{algorithm}{suffix}"
    status = prepare_main(target, ["--input", str(source), "--output", str(output), "--algorithm", algorithm, *extra])
    return status, output


@pytest.mark.parametrize("target, algorithm", FORMATS, ids=[f"{t}-{a}" for t, a in FORMATS])
@pytest.mark.parametrize("source", real_file_params() + [pytest.param(SAMPLES, id="samples")])
def test_strict_run_writes_or_names_the_line(source, target, algorithm, tmp_path, capsys):
    status, output = prepare(target, algorithm, source, tmp_path)
    printed = capsys.readouterr()
    if status == 0:
        assert output.exists()
        manifest = json.loads(output.with_name(output.stem + ".manifest.json").read_text())
        assert manifest["counts"]["reconciles"] and manifest["counts"]["rejected"] == {}
    else:
        assert status == 1 and LOCATED.search(printed.err), printed.err
        assert not output.exists(), "a failed strict run must write nothing"


@pytest.mark.parametrize("target, algorithm", FORMATS, ids=[f"{t}-{a}" for t, a in FORMATS])
@pytest.mark.parametrize("source", real_file_params())
def test_skip_invalid_always_writes_and_counts_reconcile(source, target, algorithm, tmp_path, capsys):
    status, output = prepare(target, algorithm, source, tmp_path, "--skip-invalid")
    assert status == 0, capsys.readouterr().err
    counts = json.loads(output.with_name(output.stem + ".manifest.json").read_text())["counts"]
    lines = sum(1 for line in source.read_bytes().splitlines() if line.strip())
    assert counts["read"] == lines and counts["reconciles"]
    rejects = output.with_name(output.stem + ".rejects.jsonl")
    rejected = sum(counts["rejected"].values())
    assert (rejects.exists() and len(rejects.read_text().splitlines()) == rejected) or rejected == 0
    rows = pq.read_metadata(output).num_rows if output.suffix == ".parquet" else len(output.read_text().splitlines())
    assert rows == counts["rows_written"]


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
