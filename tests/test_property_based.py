"""Random and broken records: the reader and the scripts never raise, and their counts always reconcile."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference_impl.cli import filter_main, prepare_main, stats_main
from reference_impl.formats import get_algorithm
from reference_impl.io import open_writer
from reference_impl.pipeline import run
from reference_impl.rollouts import Rollout, RolloutError, iter_rollouts

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
    return path


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
def test_every_format_reconciles_on_anything(tmp_path, body, fmt):
    path = write(tmp_path, body)
    algorithm = get_algorithm(*fmt)
    schema = algorithm.parquet_schema() if algorithm.parquet_schema else None
    result = run([path], tmp_path / f"out{algorithm.suffixes[0]}", algorithm.converter(), skip_invalid=True,
                 progress=False, write_rows=lambda p: open_writer(p, schema=schema))
    assert result.tally.reconciles(), result.tally.as_dict()


@SETTINGS
@given(st.lists(lines, min_size=1, max_size=10))
def test_scripts_never_raise(tmp_path, body):
    path = write(tmp_path, body)
    out = tmp_path / "out.jsonl"
    for main, args in [(filter_main, ["--min_reward", "0.5", "--top-k", "1", "--dedupe"]),
                       (lambda argv: prepare_main("trl", argv), ["--algorithm", "sft"])]:
        argv = ["--input", str(path), "--output", str(out), *args]
        assert main(argv) in (0, 1)  # strict: written, or stopped at a named line
        assert main([*argv, "--skip-invalid"]) == 0
        counts = json.loads(out.with_name("out.manifest.json").read_text())["counts"]
        assert counts["reconciles"]
    assert stats_main(["--input", str(path), "--skip-invalid", "--report", str(tmp_path / "r.json"), "--no-progress"]) == 0
