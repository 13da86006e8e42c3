"""The rewards read the fields real environments write, in one order, and never raise on a row they cannot score."""

import importlib.util

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import REAL_DATA, REAL_FILES, ROOT, real_records

from reference_impl import rewards
from reference_impl.rewards import (
    GROUND_TRUTH_FIELDS, compute_score, expected_action, find_ground_truth, reward_func, tool_call_reward,
    trl_math_reward, trl_tool_call_reward,
)

needs_real = pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")


def final_text(record: dict) -> str:
    """The last assistant message's text of a rollout."""
    text = ""
    for item in (record.get("response") or {}).get("output") or []:
        if isinstance(item, dict) and item.get("type") == "message" and item.get("role") == "assistant":
            text = "".join(part.get("text") or "" for part in item.get("content") or [] if isinstance(part, dict))
    return text


def test_the_lookup_order_is_the_documented_one():
    assert GROUND_TRUTH_FIELDS == ("expected_answer", "expected_action", "expected_output", "answer", "ground_truth",
                                   "verifier_metadata", "target", "solution", "label")
    assert find_ground_truth({"label": "safe", "answer": "Yes"}) == "Yes"
    assert find_ground_truth({"expected_answer": "", "solution": "v = 10"}) == "v = 10"


@pytest.mark.parametrize("written, calls", [
    # single_step_tool_use_with_argument_comparison: arguments as a JSON string
    ({"type": "function_call", "name": "authenticate_user", "arguments": '{"user_id": "S901"}'},
     [{"name": "authenticate_user", "arguments": {"user_id": "S901"}}]),
    # image_tools: no type, arguments as an object
    ({"name": "image_crop_tool", "arguments": {"bbox_2d": [23, 162, 262, 635], "img_idx": 0}},
     [{"name": "image_crop_tool", "arguments": {"bbox_2d": [23, 162, 262, 635], "img_idx": 0}}]),
    # terminal_multi_harness: a batch of calls
    ({"type": "function_call_batch", "calls": [{"type": "function_call", "name": "a", "arguments": "{}"},
                                                {"type": "function_call", "name": "b", "arguments": '{"x": 1}'}]},
     [{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": 1}}]),
])
def test_expected_action_reads_each_shape_environments_write(written, calls):
    assert expected_action(written) == {"calls": calls}
    assert expected_action(orjson.dumps(written).decode()) == {"calls": calls}, "a prepared column holds JSON text"
    made = [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": c["name"], "arguments": orjson.dumps(c["arguments"]).decode()}}
        for c in calls]}]
    assert tool_call_reward(made, written) == 1.0
    assert tool_call_reward([{"role": "assistant", "content": "I cannot."}], written) == 0.0


def test_an_expected_message_is_met_by_text_and_missed_by_a_call():
    expected = {"type": "message", "content": "I need the Event ID first."}
    assert tool_call_reward([{"role": "assistant", "content": "Which event?"}], expected) == 1.0
    assert tool_call_reward('<tool_call>{"name": "f", "arguments": {}}</tool_call>', expected) == 0.0


@pytest.mark.parametrize("value", [None, "", "42", [[3, 2], [7, 8]], {"expected_city": "Paris"}, "[not json",
                                   {"type": "reasoning"}, [{"no_name": 1}], 7])
def test_what_is_not_an_action_reads_as_none(value):
    assert expected_action(value) is None


def test_trl_rewards_take_any_mix_of_columns_and_never_raise():
    completions = [[{"role": "assistant", "content": "so \\boxed{4}"}]] * 4
    columns = {"expected_answer": ["4", None, None, None],
               "expected_action": [None, '{"type": "function_call", "name": "f", "arguments": "{}"}', None, None],
               "verifier_metadata": [None, None, '{"expected_city": "Paris"}', None],
               "trainer_state": object(), "log_metric": print}
    assert trl_math_reward(completions, **columns) == [1.0, None, None, None]
    assert trl_tool_call_reward(completions, **columns) == [None, 0.0, None, None]
    assert trl_math_reward(completions) == [None] * 4, "no ground-truth column at all: not applicable"
    assert trl_tool_call_reward(completions, prompts=[[]] * 4) == [None] * 4


@needs_real
def test_every_real_record_gets_a_number_or_none_without_raising():
    records = real_records()
    completions = [[{"role": "assistant", "content": final_text(r)}] for _, r in records]
    columns = {name: [r.get(name) for _, r in records] for name in GROUND_TRUTH_FIELDS}
    columns = {name: values for name, values in columns.items() if any(v is not None for v in values)}
    math = trl_math_reward(completions, **columns)
    tools = trl_tool_call_reward(completions, **columns)
    assert len(math) == len(tools) == len(records)
    for (env, record), m, t in zip(records, math, tools):
        truth = find_ground_truth(record)
        if truth is None:
            assert m is None and t is None, env
        elif env == "image_tools":
            assert m is None and t is not None, "expected_action is a tool action, not an answer"
        else:
            assert t is None and m in (0.0, 1.0), env
        score = compute_score(f"nemo_gym/{env}", final_text(record), truth)
        assert isinstance(score, float) and 0.0 <= score <= 1.0
    envs_scored = {env for (env, _), m in zip(records, math) if m is not None}
    assert {"math_with_judge", "hermes_math", "mcqa"} <= envs_scored


@needs_real
@pytest.mark.parametrize("env", ["math_with_judge", "hermes_math", "mcqa"])
def test_the_math_reward_agrees_with_the_stored_reward_where_the_answer_is_spelled_alike(env):
    """Where NeMo Gym's verifier passed a rollout whose boxed answer is the expected one up to
    spelling (``\\(\\sqrt{2}\\)`` against ``\\sqrt{2}``), ours passes it too; ours never passes a failed one."""
    for name, record in real_records():
        if name != env:
            continue
        ours = compute_score(env, final_text(record), find_ground_truth(record))
        if ours == 1.0:
            assert record["reward"] == 1.0
    agreeing = [compute_score(env, final_text(r), find_ground_truth(r)) == r["reward"] for n, r in real_records() if n == env]
    assert sum(agreeing) >= 3, agreeing


@needs_real
def test_image_tools_expected_action_scores_the_call_it_names():
    for name, record in real_records():
        if name != "image_tools":
            continue
        action = record["expected_action"]
        call = {"name": action["name"], "arguments": action["arguments"]}
        made = f"<tool_call>{orjson.dumps(call).decode()}</tool_call>"
        other = f"<tool_call>{orjson.dumps({**call, 'name': 'another_tool'}).decode()}</tool_call>"
        column = {"expected_action": [orjson.dumps(action).decode()] * 2}
        assert trl_tool_call_reward([made, other], **column) == [1.0, 0.0]


def test_openrlhf_and_verl_shapes_score_missing_labels_zero():
    out = reward_func(["<p>\\boxed{4}", "<p>\\boxed{4}"], ["<p>", "<p>"], ["4", None])
    assert out["rewards"].tolist() == [1.0, 0.0]
    assert compute_score("x", None, "4") == 0.0
    assert compute_score("x", "\\boxed{4}", {"expected_city": "Paris"}) == 0.0


def test_rewards_load_standalone_by_file_path():
    spec = importlib.util.spec_from_file_location("rewards_by_path", ROOT / "reference_impl" / "rewards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.GROUND_TRUTH_FIELDS == rewards.GROUND_TRUTH_FIELDS
    assert module.compute_score("x", "\\boxed{4}", '{"type": "message", "content": "hi"}') == 1.0


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=10)
completions_st = st.one_of(st.text(max_size=60), st.lists(st.one_of(json_values, st.fixed_dictionaries(
    {"role": st.sampled_from(["assistant", "user"]), "content": json_values, "tool_calls": json_values})), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(completions_st, st.sampled_from(GROUND_TRUTH_FIELDS + ("other",)), json_values),
                min_size=1, max_size=4))
def test_no_reward_raises_on_any_completion_or_ground_truth(rows):
    completions = [c for c, _, _ in rows]
    columns = {}
    for i, (_, field, value) in enumerate(rows):
        columns.setdefault(field, [None] * len(rows))[i] = value
    for reward in (trl_math_reward, trl_tool_call_reward):
        scores = reward(completions, **columns)
        assert len(scores) == len(rows) and all(s is None or 0.0 <= s <= 1.0 for s in scores)
    for completion, _, value in rows:
        text = completion if isinstance(completion, str) else str(completion)
        assert 0.0 <= compute_score("x", text, value) <= 1.0
