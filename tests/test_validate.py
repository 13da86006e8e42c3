"""validate_training_data.py: what the writers produce passes; each seeded corruption is caught at its line."""

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from paths import ROOT, SAMPLES

from reference_impl.cli import prepare_main
from reference_impl.formats import TARGETS
from reference_impl.validate import SPECS, validate_file

FORMATS = [(t, a) for t in ("trl", "nemo_rl", "verl", "openrlhf") for a in TARGETS[t]]


@pytest.fixture(scope="module")
def unique_samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unique")
    from reference_impl.cli import filter_main

    assert filter_main(["--input", str(SAMPLES), "--output", str(folder / "unique.jsonl"), "--dedupe"]) == 0
    return folder / "unique.jsonl"


def test_every_writer_has_a_specification():
    assert set(FORMATS) == set(SPECS)


@pytest.mark.parametrize("target, algorithm", FORMATS, ids=[f"{t}-{a}" for t, a in FORMATS])
def test_what_the_writers_produce_is_valid(target, algorithm, unique_samples, tmp_path):
    output = tmp_path / f"data{TARGETS[target][algorithm].suffixes[0]}"
    assert prepare_main(target, ["--input", str(unique_samples), "--output", str(output), "--algorithm", algorithm]) == 0
    report = validate_file(output, target, algorithm)
    assert report.clean, report.problems[:5]
    assert report.rows > 0


def corrupt(rows, index, change):
    rows = [json.loads(json.dumps(r)) for r in rows]
    change(rows[index])
    return rows


CORRUPTIONS = [
    ("trl", "sft", lambda r: r["messages"].pop(), "the conversation does not end with an assistant turn"),
    ("trl", "sft", lambda r: r.update(tools="[not json"), "tools: not valid JSON"),
    ("trl", "dpo", lambda r: r.update(rejected=r["chosen"]), "chosen and rejected are the same"),
    ("trl", "kto", lambda r: r.update(label="true"), "label: expected true or false"),
    ("nemo_rl", "dpo", lambda r: r["completions"][1].update(rank=0), "the two completions have the same rank"),
    ("nemo_rl", "grpo", lambda r: r.pop("agent_ref"), "missing agent_ref.name"),
    ("openrlhf", "dpo", lambda r: r.update(margin=-1.0), "margin -1.0 is negative"),
    ("openrlhf", "ppo", lambda r: r.update(label=""), "label: an empty string"),
    ("trl", "sft", lambda r: r["messages"].insert(1, {"role": "tool", "tool_call_id": "nope", "content": "x"}),
     "tool result for call 'nope', which no earlier assistant turn made"),
]


@pytest.mark.parametrize("target, algorithm, change, message", CORRUPTIONS, ids=[c[3][:30] for c in CORRUPTIONS])
def test_seeded_corruption_is_caught_at_its_line(target, algorithm, change, message, unique_samples, tmp_path):
    clean = tmp_path / "clean.jsonl"
    assert prepare_main(target, ["--input", str(unique_samples), "--output", str(clean), "--algorithm", algorithm]) == 0
    rows = [json.loads(line) for line in clean.read_text().splitlines()]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(json.dumps(r) for r in corrupt(rows, 2, change)) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_training_data.py"), "--input", str(broken),
                           "--target", target, "--algorithm", algorithm], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{broken}:3: " in done.stderr and message in done.stderr, done.stderr


def test_parquet_nan_duplicates_and_repeated_index_are_caught(unique_samples, tmp_path):
    clean = tmp_path / "p.parquet"
    assert prepare_main("verl", ["--input", str(unique_samples), "--output", str(clean), "--algorithm", "grpo"]) == 0
    rows = pq.read_table(clean).to_pylist()
    rows.append(rows[0])
    rows[1]["extra_info"]["index"] = rows[2]["extra_info"]["index"]
    broken = tmp_path / "broken.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(clean)), broken)
    problems = validate_file(broken, "verl", "grpo").problems
    assert f"{broken}:{len(rows)}: duplicate of line 1" in validate_file(broken, "verl", "grpo").duplicates
    assert any(p.startswith(f"{broken}:3: extra_info.index") for p in problems)


def test_nan_in_a_number_field(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": [{"role": "user", "content": "q"}], "chosen": "a", "rejected": "b",
                                          "margin": float("nan")}]), path)
    assert validate_file(path, "openrlhf", "dpo").problems == [f"{path}:1: margin: expected a finite number, got nan",
                                                               f"{path}:1: margin is nan"]
