"""Our conversation is the one NeMo Gym's model server saw: a differential test against NeMo Gym's converter.

NeMo Gym's model servers turn each Responses-API request into chat messages with
``ResponsesConverter.responses_to_chat_completion_create_params`` (``nemo_gym/responses_converter.py``)
before the model sees it. Given the prompt and the whole trajectory, as the agent sends them for the
next call, it gives the conversation the model saw; ``reference_impl.messages.rollout_messages``
must give the same one. The converter runs as NeMo Gym ships it, in an environment of its own
(``.conformance/nemo_gym``, built by setup_envs.sh from the pinned wheel; check_nemo_gym.py).

The pin is nemo-gym 0.4.0, the newest release the package registry serves. Its converter and
main's (0.5.1, read at github.com/NVIDIA-NeMo/Gym 07d6b0d) differ where the records below reach in
one way: 0.4.0 leaves ``instructions`` out of the messages, and from 0.5.0 they are merged with the
leading system and developer messages into one system message, first (as ours does). Main also keeps
an empty assistant message as an assistant turn without content, converts chat-shaped
``tool``/``tool_calls`` items and video parts, and raises on item types it cannot convert.

Only the documented layout differences are normalised (see ``theirs``/``ours``): NeMo Gym puts the
items of one model call (reasoning, text, calls) into one assistant turn, reasoning as ``<think>``
tags in the content, where ours keeps ``reasoning_content``; it keeps ``developer`` where ours says
``system``. Tool-call arguments are compared as the JSON strings the records hold. Everything else
must match, or be one of the explained differences counted in the table on the rollout-collection
page (``DIFFERENTIAL``), which this test checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from paths import CONFORMANCE_ENVS, REAL_FILES, ROOT

from reference_impl.messages import MessageOptions, prompt_media, rollout_messages
from reference_impl.rollouts import Rollout, iter_rollouts, prompt_input, trajectory_items

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
ENV = CONFORMANCE_ENVS / "nemo_gym"
DIFFERENTIAL = HERE / "nemo_gym_differential.md"
OPTIONS = MessageOptions(arguments="string")  # the Responses API's JSON strings, as NeMo Gym passes them on


def request(record: dict) -> dict:
    """The request for the model's next call after the last item: the prompt, then the whole trajectory.

    Records hold every parameter, unset ones as null (the dump of the full model); a null one is left
    out, as it was when the agent sent it. The items are those our reader finds (``prompt_input``,
    ``trajectory_items``); what is compared is what each converter makes of them.
    """
    params = {key: value for key, value in record["responses_create_params"].items() if value is not None}
    prompt = prompt_input(record)
    items = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    params["input"] = items + list(trajectory_items(record))
    return params


def _text(content) -> str:
    if isinstance(content, list):  # the chat parts NeMo Gym makes: text, image_url
        return "".join(p.get("text", "<image>" if p.get("type") == "image_url" else "") for p in content)
    return content or ""


def theirs(messages: list[dict]) -> list[tuple]:
    """NeMo Gym's messages, with ``developer`` as ``system`` and ``<think>`` runs as one block."""
    out = []
    for m in messages:
        role = "system" if m["role"] == "developer" else m["role"]
        if role == "assistant":
            calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls") or []]
            out.append((role, _text(m.get("content")), calls))
        elif role == "tool":
            out.append((role, _text(m.get("content")), m["tool_call_id"]))
        else:
            out.append((role, _text(m.get("content"))))
    return _one_think_block_per_run(out)


THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def _one_think_block_per_run(messages: list[tuple]) -> list[tuple]:
    """Each assistant turn's ``<think>`` blocks as one, first: NeMo Gym writes a block per reasoning summary
    part where its item comes in the call (before or after the text); ours keeps a turn's reasoning, its
    parts joined by a newline, as ``reasoning_content``, which chat templates render first."""
    out = []
    for m in messages:
        if m[0] == "assistant" and "<think>" in m[1]:
            m = (m[0], "<think>" + "\n".join(THINK.findall(m[1])) + "</think>" + THINK.sub("", m[1]), *m[2:])
        out.append(m)
    return out


def ours(messages: list[dict]) -> list[tuple]:
    """Our messages in NeMo Gym's layout: reasoning as ``<think>`` tags, a run of assistant turns as one."""
    out = []
    for m in messages:
        if m["role"] == "assistant":
            think = f"<think>{m['reasoning_content']}</think>" if m.get("reasoning_content") else ""
            calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls") or []]
            if out and out[-1][0] == "assistant":
                out[-1] = ("assistant", out[-1][1] + think + m["content"], out[-1][2] + calls)
            else:
                out.append(("assistant", think + m["content"], calls))
        elif m["role"] == "tool":
            out.append(("tool", m["content"], m["tool_call_id"]))
        else:
            out.append((m["role"], m["content"]))
    return _one_think_block_per_run(out)


def no_images(messages: list[tuple]) -> list[tuple]:
    return [(m[0], m[1].replace("<image>", ""), *m[2:]) for m in messages]


def compare(record: dict, result: dict) -> str:
    """``"match"``, or which difference explains the mismatch (``"other"``: none does)."""
    if "error" in result:
        return f"NeMo Gym cannot convert it ({result['error'].split(':')[0]})"
    expected = theirs(result["messages"])
    prompt, trajectory = rollout_messages(record, OPTIONS)
    got = ours(prompt + trajectory)
    if got == expected:
        return "match"
    if prompt_media(record) and got == no_images(expected):
        return "images in the prompt (text formats skip the record)"
    instructions = record["responses_create_params"].get("instructions")
    if instructions:
        prompt, trajectory = rollout_messages({**record, "responses_create_params": {
            **record["responses_create_params"], "instructions": None}}, OPTIONS)
        if ours(prompt + trajectory) == expected:
            return "instructions (0.4.0 leaves them out; 0.5+ and ours merge them)"
    if expected[:-1] == got and expected[-1][0] == "assistant" and not expected[-1][2] and THINK.fullmatch(expected[-1][1]):
        return "reasoning cut off with no answer after it (ours drops it and counts it)"
    return "other"


def converter_results(records: list[dict], tmp_path: Path) -> list[dict]:
    requests, results = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    requests.write_text("".join(json.dumps({"params": request(r)}) + "\n" for r in records))
    done = subprocess.run([str(ENV / "bin" / "python"), str(HERE / "check_nemo_gym.py"), str(ENV / "src"),
                           str(requests), str(results)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads(line) for line in results.read_text().splitlines()]


def differential(paths: list[Path], tmp_path: Path) -> tuple[Counter, dict]:
    """Counts of each outcome over the rollouts of the files, and the first record of each outcome."""
    records = [(path.name, item.record) for path in paths for item in iter_rollouts(path) if isinstance(item, Rollout)]
    counts, examples = Counter(), {}
    for (name, record), result in zip(records, converter_results([r for _, r in records], tmp_path)):
        outcome = compare(record, result)
        counts[outcome] += 1
        examples.setdefault(outcome, (name, record, result))
    return counts, examples


def table(counts: Counter) -> str:
    lines = ["| Outcome | Records |", "|---|---|"]
    lines += [f"| {outcome} | {n} |" for outcome, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(lines + [f"| all rollouts | {sum(counts.values())} |"]) + "\n"


@pytest.fixture(scope="module")
def nemo_gym_env():
    if not (ENV / ".ready").exists():
        done = subprocess.run(["bash", str(HERE / "setup_envs.sh"), "nemo_gym"], capture_output=True, text=True,
                              env={**os.environ, "CONFORMANCE_ENVS": str(CONFORMANCE_ENVS)})
        if done.returncode != 0:
            pytest.fail(f"could not build the NeMo Gym environment:\n{done.stderr[-3000:]}")
    return ENV


@pytest.mark.skipif(not REAL_FILES, reason="no real rollouts")
def test_every_real_rollout_is_the_conversation_nemo_gym_saw(nemo_gym_env, tmp_path):
    counts, examples = differential(REAL_FILES, tmp_path)
    if "other" in examples:
        name, record, result = examples["other"]
        prompt, trajectory = rollout_messages(record, OPTIONS)
        pytest.fail(f"{counts['other']} records differ, e.g. in {name}:\nours   {ours(prompt + trajectory)}\n"
                    f"theirs {theirs(result['messages'])}")
    assert counts["match"] > 0.8 * sum(counts.values())
    assert DIFFERENTIAL.read_text() == table(counts), (
        f"{DIFFERENTIAL.relative_to(ROOT)} is out of date; it should read:\n{table(counts)}")


def test_only_the_layout_is_normalised():
    """The comparison itself, on a converter result written out by hand: layout differences pass, content does not."""
    record = {"responses_create_params": {"input": [{"role": "developer", "content": "Be brief."},
                                                    {"role": "user", "content": "Weather in Paris?"}]},
              "response": {"output": [
                  {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Ask"}, {"type": "summary_text", "text": "the tool."}]},
                  {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                  {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"Paris"}'},
                  {"type": "function_call_output", "call_id": "c1", "output": "22C"},
                  {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "22C."}]}]}}
    call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
    seen = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
            {"role": "assistant", "content": "<think>Ask</think><think>the tool.</think>Checking.", "tool_calls": [call]},
            {"role": "tool", "content": "22C", "tool_call_id": "c1"}, {"role": "assistant", "content": "22C."}]
    assert compare(record, {"messages": seen}) == "match"
    assert compare(record, {"messages": seen[:3] + [{**seen[3], "content": "21C"}] + seen[4:]}) == "other"
    assert compare(record, {"messages": seen[:2] + [{**seen[2], "content": "Checking."}] + seen[3:]}) == "other"
    assert compare(record, {"messages": seen[1:]}) == "other"
    cut = [*seen, {"role": "assistant", "content": "<think>Now</think>"}]
    assert compare(record, {"messages": cut}) == "reasoning cut off with no answer after it (ours drops it and counts it)"
    assert compare(record, {"error": "NotImplementedError: Unsupported message type"}).startswith("NeMo Gym cannot")
