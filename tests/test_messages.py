"""Responses-API items to chat messages, on the real shapes."""

from collections import Counter

import pytest
from paths import REAL_DATA, REAL_FILES

from reference_impl.messages import MessageOptions, chat_tool_schemas, items_to_messages, rollout_messages
from reference_impl.rollouts import Rollout, iter_rollouts, trajectory_items


def records(name):
    return [r.record for r in iter_rollouts(REAL_DATA / name) if isinstance(r, Rollout)]


def test_parallel_calls_join_one_assistant_turn():
    items = [
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": '{"x": 1}'},
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "1"},
        {"type": "function_call_output", "call_id": "b", "output": "2"},
    ]
    messages = items_to_messages(items)
    assert [m["role"] for m in messages] == ["assistant", "tool", "tool"]
    assert [c["id"] for c in messages[0]["tool_calls"]] == ["a", "b"]
    assert [m["name"] for m in messages[1:]] == ["f", "g"]


def test_text_then_call_is_one_turn_and_reasoning_attaches_to_it():
    items = [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
    ]
    [message] = items_to_messages(items)
    assert message["content"] == "Let me check." and message["reasoning_content"] == "think"
    assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": {}}
    [dropped] = items_to_messages(items, MessageOptions(reasoning="drop"))
    assert "reasoning_content" not in dropped


def test_unknown_items_and_parts_are_counted_not_lost_silently():
    dropped = Counter()
    items_to_messages([{"type": "web_search_call", "id": "x"},
                       {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "data:"}]}], dropped=dropped)
    assert dropped == Counter({"web_search_call item": 1, "input_image part": 1})


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_real_multi_step_trajectory_keeps_every_call_and_result_in_order():
    for record in records("example_multi_step.jsonl") + records("workplace_assistant.jsonl") + records("wordle.jsonl"):
        calls = [i for i in trajectory_items(record) if i.get("type") == "function_call"]
        outputs = [i for i in trajectory_items(record) if i.get("type") == "function_call_output"]
        _, trajectory = rollout_messages(record)
        got_calls = [c for m in trajectory for c in m.get("tool_calls", [])]
        got_outputs = [m for m in trajectory if m["role"] == "tool"]
        assert [c["id"] for c in got_calls] == [c["call_id"] for c in calls]
        assert [c["function"]["name"] for c in got_calls] == [c["name"] for c in calls]
        assert [m["tool_call_id"] for m in got_outputs] == [o["call_id"] for o in outputs]
        assert [m["content"] for m in got_outputs] == [o["output"] for o in outputs]


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_user_turns_inside_the_output_stay_in_place():
    for record in records("example_multi_turn_gymnasium.jsonl"):
        expected = [i["role"] for i in trajectory_items(record) if i.get("type") == "message"]
        _, trajectory = rollout_messages(record)
        assert [m["role"] for m in trajectory] == expected


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_images_are_dropped_and_counted():
    dropped = Counter()
    for record in records("image_tools.jsonl"):
        rollout_messages(record, dropped=dropped)
    assert dropped["input_image part"] > 0


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_real_tools_become_chat_schemas():
    [record, *_] = records("example_single_tool_call.jsonl")
    schemas = chat_tool_schemas(record)
    flat = record["responses_create_params"]["tools"]
    assert [s["function"]["name"] for s in schemas] == [t["name"] for t in flat]
    assert all(s["function"]["parameters"] == t["parameters"] for s, t in zip(schemas, flat))
