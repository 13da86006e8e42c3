"""Random and broken records: the reader and the scripts never raise, and their counts always reconcile."""

import json
import random
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from paths import SAMPLES

from reference_impl.cli import filter_main, prepare_main, stats_main, validate_main
from reference_impl.filters import FilterOptions, RawLineWriter, filter_converter, record_drop_reason, trajectory_fingerprint
from reference_impl.formats import get_algorithm
from reference_impl.io import open_writer
from reference_impl.pipeline import NothingToWrite, run
from reference_impl.rollouts import Rollout, RolloutError, iter_rollouts, reward_of, task_key
from reference_impl.validate import iter_rows, validate_file

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=8)
roles = st.sampled_from(["user", "assistant", "system", "developer", "tool", None, 3])
items = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["message", "reasoning", "function_call", "function_call_output", "web_search_call", 7]),
    "role": roles, "content": st.one_of(st.text(max_size=10), st.lists(json_values, max_size=2), json_scalars),
    "call_id": st.one_of(st.text(max_size=4), st.none()), "name": st.one_of(st.text(max_size=4), st.integers()),
    "arguments": st.one_of(st.text(max_size=10), json_values), "output": json_values,
    "summary": st.one_of(st.lists(st.fixed_dictionaries({"text": st.text(max_size=5)}), max_size=2), json_scalars)})
records = st.fixed_dictionaries({}, optional={
    "responses_create_params": st.one_of(st.fixed_dictionaries({"input": st.one_of(st.text(max_size=10), st.lists(items, max_size=3))},
                                                               optional={"tools": st.one_of(st.lists(json_values, max_size=2), json_values)}),
                                         json_values),
    "response": st.one_of(st.fixed_dictionaries({"output": st.one_of(st.lists(items, max_size=4), json_values)}), json_values),
    "reward": st.one_of(st.floats(0, 1), json_values), "reward_components": json_values, "expected_answer": json_values,
    "_ng_task_index": st.one_of(st.integers(0, 3), json_values), "mask_sample": json_values, "agent_ref": json_values})
lines = st.one_of(records.map(lambda r: json.dumps(r).encode()), json_values.map(lambda v: json.dumps(v).encode()),
                  st.binary(max_size=20).filter(lambda b: b"\n" not in b))


def write(tmp_path, body: list[bytes]):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n")
    for left in tmp_path.glob("out*"):  # hypothesis reuses tmp_path between examples
        left.unlink()
    return path


def run_or_refused(*args, **kwargs):
    """``run``'s tally; for a run with no row to write, the tally it refused with, once it is
    sure that nothing was written (no output, manifest or rejects file)."""
    try:
        return run(*args, **kwargs).tally
    except NothingToWrite as refused:
        [(_, tally)] = refused.empty
        assert tally.rows == 0 and not list(Path(args[1]).parent.glob("out*"))
        return tally


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.lists(lines, min_size=1, max_size=12))
def test_reader_sorts_every_line(tmp_path, body):
    path = write(tmp_path, body)
    seen = list(iter_rollouts(path))
    assert all(isinstance(item, (Rollout, RolloutError)) for item in seen)
    assert len(seen) == sum(1 for line in body if line.strip())


@SETTINGS
@given(st.lists(lines, min_size=1, max_size=12), st.sampled_from([("trl", "sft"), ("trl", "dpo"), ("trl", "kto"),
                                                                  ("nemo_rl", "grpo"), ("verl", "grpo"), ("verl", "sft"),
                                                                  ("openrlhf", "sft"), ("openrlhf", "ppo")]))
# Found by hypothesis: a boolean where an item's content or reasoning summary belongs.
@example([b'{"responses_create_params": {"input": ""}, "response": {"output": [{"type": "reasoning", '
          b'"summary": true}]}, "reward": 0.0}'], ("trl", "sft"))
@example([b'{"responses_create_params": {"input": ""}, "response": {"output": [{"type": "message", '
          b'"content": false}]}, "reward": 0.0}'], ("trl", "sft"))
def test_every_format_reconciles_on_anything(tmp_path, body, fmt):
    path = write(tmp_path, body)
    algorithm = get_algorithm(*fmt)
    schema = algorithm.parquet_schema() if algorithm.parquet_schema else None
    tally = run_or_refused([path], tmp_path / f"out{algorithm.suffixes[0]}", algorithm.converter(), skip_invalid=True,
                           progress=False, write_rows=lambda p: open_writer(p, schema=schema))
    assert tally.reconciles(), tally.as_dict()


@SETTINGS
@given(st.lists(lines, min_size=1, max_size=10))
def test_scripts_never_raise(tmp_path, body):
    path = write(tmp_path, body)
    out = tmp_path / "out.jsonl"
    for main, args in [(filter_main, ["--min_reward", "0.5", "--top-k", "1", "--dedupe"]),
                       (lambda argv: prepare_main("trl", argv), ["--algorithm", "sft"])]:
        argv = ["--input", str(path), "--output", str(out), *args]
        for left in tmp_path.glob("out*"):  # hypothesis reuses tmp_path between examples
            left.unlink()
        assert main(argv) in (0, 1)  # strict: written, or stopped at a named line
        if main([*argv, "--skip-invalid"]) == 1:  # nothing to write: nothing written
            assert not out.exists() and not out.with_name("out.manifest.json").exists()
            continue
        counts = json.loads(out.with_name("out.manifest.json").read_text())["counts"]
        assert counts["reconciles"] and counts["rows_written"] > 0
        written = out.read_bytes().splitlines(keepends=True)
        if main is filter_main:  # kept lines are input lines, byte for byte
            assert set(written) <= {line + b"\n" for line in body}
        else:  # what prepare writes, validate accepts
            assert len(written) == counts["rows_written"] and validate_file(out, "trl", "sft").problems == []
    report = tmp_path / "r.json"
    report.unlink(missing_ok=True)
    if stats_main(["--input", str(path), "--skip-invalid", "--report", str(report), "--no-progress"]) == 0:
        assert json.loads(report.read_text())["counts"]["reconciles"]
    else:  # no record could be scored: nothing written
        assert not report.exists()


# --- the filter against an in-memory oracle -------------------------------------------------

answers = st.lists(st.fixed_dictionaries({"type": st.just("message"), "role": st.just("assistant"),
                                          "content": st.sampled_from(["4", "5", "four"]),
                                          "id": st.text("abc", max_size=2)}), min_size=1, max_size=2)
group_items = st.one_of(answers, answers, answers, st.just([]))
# mostly trainable records of a few tasks with few reward values: groups, ties and repeats are common
group_records = st.fixed_dictionaries(
    {"responses_create_params": st.fixed_dictionaries({"input": st.sampled_from(["2+2?", "3+3?"])}),
     "response": st.fixed_dictionaries({"output": group_items}),
     "reward": st.sampled_from([0.0, 0.5, 1.0, 1.0]),
     "mask_sample": st.sampled_from([False, False, False, True]),
     "_ng_failure_class": st.sampled_from([None, None, None, "agent_run_error"]),
     "reward_components": st.sampled_from([{"format": 0.0}, {"format": 1.0}, {"format": 1.0}, {}])},
    optional={"_ng_task_index": st.integers(0, 2)})
group_lines = st.one_of(*[group_records.map(lambda r: json.dumps(r).encode())] * 5,
                        st.sampled_from([b"not json", b"[1]", b'{"reward": "high"}', b"\xff\xfe"]))
filter_options = st.builds(
    FilterOptions, min_reward=st.sampled_from([None, 0.5]), max_reward=st.sampled_from([None, 0.5, 1.0]),
    reward_component=st.sampled_from([None, "format"]), keep_masked=st.booleans(), top_k=st.sampled_from([None, 1, 2]),
    drop_uniform_groups=st.booleans(), dedupe=st.booleans(), max_turns=st.sampled_from([None, None, 0, 1]),
    max_chars=st.sampled_from([None, None, 8]))
group_options = st.builds(  # the group filters alone, so that most examples keep something
    FilterOptions, reward_component=st.sampled_from([None, None, "format"]), keep_masked=st.booleans(),
    top_k=st.sampled_from([None, 1, 2, 2]), drop_uniform_groups=st.booleans(), dedupe=st.booleans())


def oracle(path, options):
    """The filter done the obvious way, everything in memory: the lines it keeps, in order."""
    good = [(item.line, item.record) for item in iter_rollouts(path) if isinstance(item, Rollout)]
    survivors = [(line, r) for line, r in good if record_drop_reason(r, options) is None]
    if not options.needs_groups:
        return [line for line, _ in survivors]
    tasks = defaultdict(list)
    for line, record in survivors:
        tasks[task_key(record)].append((line, record))
    kept = []
    for members in tasks.values():
        if options.dedupe:
            seen, unique = set(), []
            for line, record in members:
                if trajectory_fingerprint(record) not in seen:
                    seen.add(trajectory_fingerprint(record))
                    unique.append((line, record))
            members = unique
        rewards = [reward_of(r, options.reward_component) or 0.0 for _, r in members]
        if options.drop_uniform_groups and len(set(rewards)) <= 1:
            continue
        if options.top_k is not None:
            members = sorted(members, key=lambda m: (-(reward_of(m[1], options.reward_component) or 0.0), m[0]))[:options.top_k]
        kept += [line for line, _ in members]
    return sorted(kept)


def filter_like_the_oracle(tmp_path, body, options) -> int:
    path = write(tmp_path, body)
    tally = run_or_refused([path], tmp_path / "out.jsonl", filter_converter(options), skip_invalid=True,
                           progress=False, write_rows=RawLineWriter)
    assert tally.reconciles(), tally.as_dict()
    expected = [body[line - 1] + b"\n" for line in oracle(path, options)]
    if expected:
        assert (tmp_path / "out.jsonl").read_bytes() == b"".join(expected)
    assert tally.used == tally.rows == len(expected)
    return len(expected)


@settings(SETTINGS, max_examples=150)
@given(st.lists(group_lines, min_size=2, max_size=20), group_options)
def test_group_filters_match_the_oracle(tmp_path, body, options):
    kept = filter_like_the_oracle(tmp_path, body, options)
    event(f"kept {'some' if kept else 'none'}")


@SETTINGS
@given(st.lists(group_lines, min_size=1, max_size=20), filter_options)
def test_composed_filters_match_the_oracle(tmp_path, body, options):
    filter_like_the_oracle(tmp_path, body, options)


@SETTINGS
@given(st.lists(lines, min_size=1, max_size=12), st.sampled_from(sorted(
    (t, a) for t, a in [("trl", "sft"), ("trl", "dpo"), ("nemo_rl", "dpo"), ("verl", "grpo"), ("openrlhf", "ppo")])))
def test_validator_never_raises_on_anything(tmp_path, body, fmt):
    path = write(tmp_path, body)
    numbers = [number for number, _, _ in iter_rows(path)]
    assert numbers == [i for i, line in enumerate(body, start=1) if line.strip()], "every line is read or named"
    report = validate_file(path, *fmt)
    assert all(p.startswith(f"{path}:") for p in report.problems + report.duplicates)
    assert validate_main(["--input", str(path), "--target", fmt[0], "--algorithm", fmt[1]]) in (0, 1)


@SETTINGS
@given(st.binary(min_size=0, max_size=3000), st.integers(0, 2**32))
def test_scripts_survive_damaged_bytes(tmp_path, noise, seed):
    """A real sample file cut at a random byte, with random bytes spliced in: no traceback, counts reconcile."""
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))  # hypothesis runs every example in the same tmp_path
    data = bytearray(SAMPLES.read_bytes())
    rng = random.Random(seed)
    cut = rng.randrange(len(data))
    start = rng.randrange(cut + 1)
    damaged = bytes(data[:start]) + noise + bytes(data[start:cut])
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(damaged)
    out = tmp_path / "out.jsonl"
    for left in [*tmp_path.glob("out*"), tmp_path / "r.json"]:  # hypothesis reuses tmp_path between examples
        left.unlink(missing_ok=True)
    if filter_main(["--input", str(path), "--output", str(out), "--top-k", "2", "--dedupe", "--skip-invalid"]) == 0:
        counts = json.loads(out.with_name("out.manifest.json").read_text())["counts"]
        assert counts["reconciles"] and counts["read"] == sum(1 for line in damaged.split(b"\n") if line.strip())
    else:  # nothing kept, nothing written
        assert not out.exists()
    if stats_main(["--input", str(path), "--skip-invalid", "--report", str(tmp_path / "r.json"), "--no-progress"]) == 0:
        assert json.loads((tmp_path / "r.json").read_text())["counts"]["reconciles"]
    else:
        assert not (tmp_path / "r.json").exists()
