"""validate_training_data.py: what every writer produces passes; each seeded corruption is caught at its line.

The row specifications live beside the writers (``Algorithm.row_specs``); the drift tests
below run every writer and check that its rows have exactly the declared fields.
"""

import json
import re
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from paths import REAL_FILES, ROOT, SAMPLES

from reference_impl.cli import filter_main, prepare_main, validate_main
from reference_impl.formats import TARGETS
from reference_impl.validate import SPECS, validate_file

FORMATS = [(t, a) for t in ("trl", "nemo_rl", "verl", "openrlhf") for a in TARGETS[t]]
IDS = [f"{t}-{a}" for t, a in FORMATS]


def prepare(target, algorithm, source, output, *extra, allow_empty=False):
    """The prepared file; ``None`` when (and only when allowed) the input gave no row, so nothing was written."""
    status = prepare_main(target, ["--input", str(source), "--output", str(output), "--algorithm", algorithm,
                                   "--skip-invalid", *extra])
    if status == 1 and allow_empty and not output.exists():
        return None
    assert status == 0
    return output


def validate(*args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "validate_training_data.py"), *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def unique_samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unique")
    assert filter_main(["--input", str(SAMPLES), "--output", str(folder / "unique.jsonl"), "--dedupe"]) == 0
    return folder / "unique.jsonl"


def test_every_writer_declares_its_rows():
    assert set(SPECS) == set(FORMATS)
    assert all(SPECS[f] is TARGETS[f[0]][f[1]].row_specs for f in FORMATS), "SPECS must be read from the writers"


def field_paths(value, prefix=""):
    """Every dotted field path of a row, down through objects (not into lists)."""
    for key, inner in value.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(inner, dict):
            yield from field_paths(inner, path + ".")


def rows_of(path):
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines()]


SHAPES = [(t, a, i) for t, a in FORMATS for i in range(len(TARGETS[t][a].row_specs))]


@pytest.mark.parametrize("target, algorithm, shape", SHAPES, ids=[f"{t}-{a}-{i}" for t, a, i in SHAPES])
def test_writer_rows_have_exactly_the_declared_fields(target, algorithm, shape, tmp_path):
    """No drift: every field a writer writes is declared, and every declared field is written."""
    spec = TARGETS[target][algorithm].row_specs[shape]
    extra = ["--prompt-completion"] if (target, algorithm, shape) == ("trl", "sft", 1) else []
    written = set()
    for i, source in enumerate([SAMPLES, *REAL_FILES]):
        suffix = TARGETS[target][algorithm].suffixes[0]
        output = prepare(target, algorithm, source, tmp_path / f"{i}{suffix}", *extra, allow_empty=source != SAMPLES)
        for row in rows_of(output) if output else ():
            fields = set(field_paths(row))
            top = {f for f in fields if "." not in f}
            if not spec.open:
                assert top <= {f.split(".")[0] for f in spec.fields}, f"undeclared fields {top - set(spec.fields)}"
            assert set(spec.required) <= fields
            written |= fields
    assert set(spec.fields) <= written, f"declared but never written: {set(spec.fields) - written}"
    schema = TARGETS[target][algorithm].parquet_schema
    if schema is not None:
        assert set(schema().names) == {f for f in spec.fields if "." not in f}


@pytest.mark.parametrize("target, algorithm", FORMATS, ids=IDS)
def test_every_output_on_the_samples_validates(target, algorithm, unique_samples, tmp_path):
    """Every prepare script's output on samples/rollouts.jsonl has no problem. Its only
    duplicate rows come from rollouts that said the same thing, which --dedupe drops (it also
    drops those that differ only in their call ids, hence at most)."""
    suffix = TARGETS[target][algorithm].suffixes[0]
    output = prepare(target, algorithm, SAMPLES, tmp_path / f"all{suffix}")
    report = validate_file(output, target, algorithm)
    assert report.rows > 0 and report.problems == [] and report.loadable
    done = validate("--input", output, "--target", target, "--algorithm", algorithm)  # duplicates are allowed
    assert done.returncode == 0 and f"valid {target} {algorithm} data" in done.stdout, done.stderr

    deduped = prepare(target, algorithm, unique_samples, tmp_path / f"unique{suffix}")
    assert validate_file(deduped, target, algorithm).clean
    done = validate("--input", deduped, "--target", target, "--algorithm", algorithm)
    assert done.returncode == 0, done.stderr
    if report.duplicate_count:
        repeated = json.loads((unique_samples.with_name("unique.manifest.json")).read_text())["counts"]["skipped"]
        assert report.duplicate_count <= repeated["duplicate trajectory"]
        assert validate("--input", output, "--target", target, "--algorithm", algorithm,
                        "--no-duplicates").returncode == 1


def first(predicate):
    return lambda rows: next(i for i, r in enumerate(rows) if predicate(r))


def has_tool_call(row):
    return any(m.get("tool_calls") for m in row.get("messages", []))


def tool_message(row):
    return next(m for m in row["messages"] if m["role"] == "tool")


def drop_tool_result(row):
    index = next(i for i, m in enumerate(row["messages"]) if m["role"] == "tool")
    del row["messages"][index]


def call_of(row):
    return next(m for m in row["messages"] if m.get("tool_calls"))["tool_calls"][0]


THIRD = lambda rows: 2  # noqa: E731

CORRUPTIONS = [
    ("trl", "sft", THIRD, lambda r: r["messages"].pop(), "the conversation does not end with an assistant turn"),
    ("trl", "sft", THIRD, lambda r: r.update(tools="[not json"), "tools: not valid JSON"),
    ("trl", "sft", first(has_tool_call), lambda r: tool_message(r).update(tool_call_id="nope"),
     "tool result for call 'nope', which the assistant turn before it did not make"),
    ("trl", "sft", first(has_tool_call), lambda r: tool_message(r).pop("tool_call_id"), "a tool result without tool_call_id"),
    ("trl", "sft", first(has_tool_call), drop_tool_result, "has no result before this turn"),
    ("trl", "sft", first(has_tool_call), lambda r: call_of(r)["function"].update(arguments="{bad"), "are not valid JSON"),
    ("trl", "sft", first(has_tool_call), lambda r: call_of(r)["function"].pop("name"), "a tool call without a function name"),
    ("trl", "sft", THIRD, lambda r: next(m for m in r["messages"] if m["role"] == "user").update(content=" "),
     "an empty user turn"),
    ("trl", "sft", THIRD, lambda r: r["messages"][-1].update(role="bot"), "has role 'bot'"),
    ("trl", "sft", THIRD, lambda r: r["messages"][-1].update(content="", tool_calls=None), "an empty assistant turn"),
    ("trl", "dpo", THIRD, lambda r: r.update(rejected=r["chosen"]), "chosen and rejected are the same"),
    ("trl", "kto", THIRD, lambda r: r.update(label="true"), "label: expected true or false"),
    ("trl", "kto", THIRD, lambda r: r.update(completion=[{"role": "user", "content": "x"}]), "starts with a 'user' turn"),
    ("trl", "grpo", THIRD, lambda r: r.update(prompt=[]), "prompt: no messages"),
    ("nemo_rl", "sft", THIRD, lambda r: r["messages"][0].update(content=[{"type": "text"}]), "content is list"),
    ("nemo_rl", "dpo", THIRD, lambda r: r["completions"][1].update(rank=0), "the two completions have the same rank"),
    ("nemo_rl", "dpo", THIRD, lambda r: r["completions"].append(r["completions"][0]), "exactly two completions, this row has 3"),
    ("nemo_rl", "dpo", THIRD, lambda r: r["completions"][1].update(completion=r["completions"][0]["completion"]),
     "the two completions are the same"),
    ("nemo_rl", "grpo", THIRD, lambda r: r.pop("agent_ref"), "missing agent_ref"),
    ("nemo_rl", "grpo", THIRD, lambda r: r["responses_create_params"].update(input=""), "expected a non-empty string or list"),
    ("verl", "grpo", THIRD, lambda r: r["reward_model"].update(ground_truth=""), "reward_model.ground_truth: an empty string"),
    ("verl", "grpo", THIRD, lambda r: r["extra_info"].update(index="2"), "extra_info.index: expected an integer"),
    ("verl", "grpo", THIRD, lambda r: r["extra_info"].update(index=0), "extra_info.index 0 repeats line 1"),
    ("openrlhf", "dpo", THIRD, lambda r: r.update(margin=-1.0), "margin -1.0 is negative"),
    ("openrlhf", "dpo", THIRD, lambda r: r.update(margin=float("nan")), "margin: expected a finite number, got nan"),
    ("openrlhf", "rm", THIRD, lambda r: r.update(chosen=r["rejected"]), "chosen and rejected are the same"),
    ("openrlhf", "ppo", THIRD, lambda r: r.update(label=""), "label: an empty string"),
    ("openrlhf", "grpo", THIRD, lambda r: r.update(label=7), "label: expected a string, got int"),
    ("openrlhf", "sft", THIRD, lambda r: r.update(conversation=r.pop("messages")), "missing messages"),
]


@pytest.mark.parametrize("target, algorithm, pick, change, message", CORRUPTIONS,
                         ids=[f"{c[0]}-{c[1]}-{c[4][:32]}" for c in CORRUPTIONS])
def test_seeded_corruption_is_caught_at_its_line(target, algorithm, pick, change, message, unique_samples, tmp_path):
    clean = prepare(target, algorithm, unique_samples, tmp_path / "clean.jsonl")
    rows = [json.loads(line) for line in clean.read_text().splitlines()]
    index = pick(rows)
    change(rows[index])
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(json.dumps(r) + "\n" for r in rows))  # json.dumps writes NaN as NaN, as Python users do
    done = validate("--input", broken, "--target", target, "--algorithm", algorithm)
    assert done.returncode == 1
    located = [line for line in done.stderr.splitlines() if re.match(rf"{re.escape(str(broken))}:\d+: ", line)]
    assert located and all(line.startswith(f"{broken}:{index + 1}: ") for line in located), done.stderr
    assert any(message in line for line in located), done.stderr


def test_broken_jsonl_lines_are_named(unique_samples, tmp_path):
    clean = prepare("trl", "sft", unique_samples, tmp_path / "clean.jsonl")
    lines = clean.read_bytes().splitlines(keepends=True)[:4]
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(lines[0] + b"not json\n" + b'["a list"]\n' + b'{"messages": "\xff"}\n' + b"\n" + lines[1]
                       + lines[2][:40])
    report = validate_file(broken, "trl", "sft")
    assert [p.split(": ", 1)[1].split(" (")[0] for p in report.problems] == [
        "not valid JSON", "a JSON array, not an object", "not valid UTF-8", "truncated last line, not valid JSON"]
    assert [int(p.split(":")[1]) for p in report.problems] == [2, 3, 4, 7]


def test_parquet_nan_duplicates_and_repeated_index_are_caught(unique_samples, tmp_path):
    clean = prepare("verl", "grpo", unique_samples, tmp_path / "p.parquet")
    rows = pq.read_table(clean).to_pylist()
    rows.append(rows[0])
    rows[1]["extra_info"]["index"] = rows[2]["extra_info"]["index"]
    broken = tmp_path / "broken.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(clean)), broken)
    report = validate_file(broken, "verl", "grpo")
    assert report.duplicates == [f"{broken}:{len(rows)}: duplicate of line 1"]
    assert report.problems == [f"{broken}:3: extra_info.index 2 repeats line 2",
                               f"{broken}:{len(rows)}: extra_info.index 0 repeats line 1"]


def test_nan_and_infinity_in_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    good = {"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": [{"role": "assistant", "content": "b"}], "margin": 1.0}
    pq.write_table(pa.Table.from_pylist([good, {**good, "margin": float("nan")}, {**good, "margin": float("inf")}]), path)
    assert validate_file(path, "openrlhf", "dpo").problems == [f"{path}:2: margin: expected a finite number, got nan",
                                                               f"{path}:3: margin: expected a finite number, got inf"]


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_text('{"messages": []}\n')
    done = validate("--input", path, "--target", "verl", "--algorithm", "sft")
    assert done.returncode == 1 and f"{path}: not a parquet file" in done.stderr and "Traceback" not in done.stderr


def test_empty_file_and_unknown_algorithm(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert validate_file(path, "trl", "sft").problems == [f"{path}: no rows"]
    done = validate("--input", path, "--target", "verl", "--algorithm", "kto")
    assert done.returncode == 2 and "verl has no 'kto' format; it has: grpo, ppo, sft" in done.stderr


def test_report_json(unique_samples, tmp_path):
    clean = prepare("nemo_rl", "sft", unique_samples, tmp_path / "sft.jsonl")
    assert validate_main(["--input", str(clean), "--target", "nemo_rl", "--algorithm", "sft",
                          "--report", str(tmp_path / "v.json")]) == 0
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["valid"] and report["files"][0]["rows"] == len(clean.read_text().splitlines())
    assert len(report["files"][0]["sha256"]) == 64
    assert validate_main(["--input", str(clean), "--target", "nemo_rl", "--algorithm", "sft", "--report", str(clean)]) == 1
