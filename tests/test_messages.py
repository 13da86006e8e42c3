"""Responses-API items to chat messages, on the real shapes."""

import json
import re
from collections import Counter

import pytest
from paths import REAL_DATA, REAL_FILES, real_records

from reference_impl.messages import MessageOptions, chat_tool_schemas, items_to_messages, prompt_media, rollout_messages
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


def text(role, value):
    return {"type": "message", "role": role, "content": [{"type": "output_text" if role == "assistant" else "input_text",
                                                          "text": value}]}


def thought(value):
    return {"type": "reasoning", "summary": [{"type": "summary_text", "text": value}]}


def test_reasoning_logged_after_its_call_stays_on_the_call_turn():
    # conversational_tool_use_simulation logs each model call as: function_call, reasoning, then the tool's output
    items = [{"type": "function_call", "call_id": "c1", "name": "request_accessibility", "arguments": "{}"},
             thought("The event is 5 days away; the policy needs 7."),
             {"type": "function_call_output", "call_id": "c1", "output": "denied"},
             thought("Explain the notice period."), text("assistant", "Sorry, ASL needs 7 days' notice.")]
    messages = items_to_messages(items)
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant"]
    assert messages[0]["reasoning_content"] == "The event is 5 days away; the policy needs 7."
    assert messages[2]["reasoning_content"] == "Explain the notice period."


def test_reasoning_between_text_and_call_is_one_turn():
    [message] = items_to_messages([text("assistant", "Let me check."), thought("f knows."),
                                   {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"}])
    assert message["content"] == "Let me check." and message["reasoning_content"] == "f knows."
    assert [c["id"] for c in message["tool_calls"]] == ["a"]


def test_an_empty_assistant_message_is_no_turn():
    # automationbench and math_with_autograder end with an assistant message whose text is ""
    dropped = Counter()
    messages = items_to_messages([{"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
                                  {"type": "function_call_output", "call_id": "a", "output": "done"},
                                  text("assistant", "")], dropped=dropped)
    assert [m["role"] for m in messages] == ["assistant", "tool"]
    assert dropped == Counter({"empty assistant message": 1})


def test_reasoning_cut_off_with_no_answer_is_dropped_and_counted():
    dropped = Counter()
    assert items_to_messages([thought("Let me think about this for a long")], dropped=dropped) == []
    assert dropped == Counter({"reasoning with no assistant turn after it": 1})


def test_instructions_merge_with_the_leading_system_messages():
    record = {"responses_create_params": {"instructions": "Answer in French.",
                                          "input": [{"role": "developer", "content": "Use the tools."},
                                                    {"role": "user", "content": "Hi"}]}}
    prompt, _ = rollout_messages(record)
    assert prompt == [{"role": "system", "content": "Answer in French.\n\nUse the tools."}, {"role": "user", "content": "Hi"}]
    prompt, _ = rollout_messages({"responses_create_params": {"instructions": "Answer in French.", "input": "Hi"}})
    assert prompt == [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hi"}]


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_real_prompts_with_images_are_skipped_unless_kept(tmp_path):
    from reference_impl.cli import prepare_main
    from reference_impl.formats import ConvertOptions
    from reference_impl.formats.common import IMAGELESS, conversation
    from reference_impl.pipeline import Skip, Tally

    real = records("image_tools.jsonl")
    assert real and all(prompt_media(r) for r in real)
    for record in real:
        with pytest.raises(Skip, match="^" + re.escape(IMAGELESS.format("input_image")) + "$"):
            conversation(record, ConvertOptions(), Tally())
    output = tmp_path / "sft.jsonl"
    assert prepare_main("trl", ["--input", str(REAL_DATA / "image_tools.jsonl"), "--output", str(output),
                                "--no-progress", "--keep-imageless"]) == 0
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == len(real)
    assert all(isinstance(m["content"], str) and m["content"] for row in rows for m in row["messages"] if m["role"] == "user")


def test_assistant_turns_back_to_back_are_flagged_not_changed():
    # osworld keeps each step's answer and none of the screenshots between the model calls
    from reference_impl.formats import ConvertOptions
    from reference_impl.formats.common import BACK_TO_BACK, conversation
    from reference_impl.pipeline import Tally

    tally = Tally()
    record = {"responses_create_params": {"input": "Open the settings."},
              "response": {"output": [text("assistant", "pyautogui.click(10, 20)"), text("assistant", "DONE")]}}
    _, trajectory, _ = conversation(record, ConvertOptions(), tally)
    assert [m["content"] for m in trajectory] == ["pyautogui.click(10, 20)", "DONE"]
    assert tally.flagged == Counter({BACK_TO_BACK: 1})
    assert f"flagged 1: {BACK_TO_BACK}" in tally.report()


@pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")
def test_a_prompt_is_the_same_converted_alone_or_with_its_conversation():
    """Prompt rows take the prompt of the conversation made for the record's other outputs, when
    there is one: the prompt, the tools and what they count must be those of the record
    converted without its response, as when a prompt format is the run's only output."""
    from reference_impl.formats.base import ConvertOptions
    from reference_impl.formats.common import conversation, prompt_conversation
    from reference_impl.rollouts import record_problem
    from reference_impl.tally import Skip, Tally

    def prompt_of(record, options, whole_first):
        tally = Tally()
        try:
            if whole_first:
                conversation(record, options, Tally())
            return prompt_conversation(record, options, tally), tally.dropped
        except Skip as skip:
            return skip.reason, tally.dropped

    # Real records drop nothing from their trajectories: this one drops from both parts.
    made = {"responses_create_params": {"input": [{"role": "user", "content": [
                {"type": "input_text", "text": "q"}, {"type": "input_image", "image_url": "data:..."}]}],
            "tools": [{"type": "web_search"}]},
            "response": {"output": [{"type": "message", "role": "assistant", "content": " "},
                                    {"type": "message", "role": "assistant", "content": "a"},
                                    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "hm"}]}]}}
    compared = Counter()
    for options in (ConvertOptions(), ConvertOptions(keep_imageless=True)):
        for record in [made] + [record for _, record in real_records() if record_problem(record) is None]:
            alone = prompt_of({**record, "response": None, "output": None}, options, whole_first=False)
            shared = prompt_of(record, options, whole_first=True)
            assert shared == alone
            assert list(shared[1]) == list(alone[1])  # the reasons in the same order
            compared[isinstance(alone[0], str)] += 1
    assert compared[False] > 100 and compared[True] > 0  # prompts, and skips, were compared
