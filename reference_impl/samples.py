"""Sample rollouts in the shapes NeMo Gym's ``gym eval run`` writes, made here, offline and seeded.

The guide, the scripts' examples and the end-to-end demo run on these, so that anyone who
clones the project can follow it without a NeMo Gym deployment. The records copy the
shapes of real ones (see the format specification): ``responses_create_params`` with
``input`` and flat ``tools``, the whole trajectory in ``response.output`` (``reasoning``
items, assistant messages with ``output_text`` parts, ``function_call`` /
``function_call_output`` pairs, user turns inside the output for multi-turn tasks,
token-id fields), ``reward``, ``reward_components``, ``_ng_task_index`` /
``_ng_rollout_index``, ``agent_ref`` and the verifier's fields.

Four kinds of task, each with several rollouts of varied reward:

* ``math``: single turn, reasoning then a ``\\boxed{}`` answer, checked against ``expected_answer``;
* ``weather``: one tool call (``get_weather``), then an answer; ``reward_components``; the call
  expected as ``expected_action``, in the shape ``single_step_tool_use_with_argument_comparison`` writes;
* ``calculator``: several tool-call steps;
* ``guess``: a multi-turn game where the environment speaks as the user.
"""

from __future__ import annotations

import random
from typing import Iterator

import orjson

__all__ = ["sample_rollouts", "write_sample_rollouts", "blackjack_rollouts"]

_PARAMS_NULLS = {
    "background": None, "include": None, "instructions": None, "max_output_tokens": None,
    "max_tool_calls": None, "metadata": None, "model": None, "previous_response_id": None,
    "prompt": None, "reasoning": None, "service_tier": None, "store": None, "temperature": None,
    "text": None, "top_logprobs": None, "top_p": None, "truncation": None, "user": None, "stream": None,
}

WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "strict": True,
    "description": "Get the current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                   "required": ["city"], "additionalProperties": False},
}
CALCULATOR_TOOL = {
    "type": "function", "name": "calculate", "strict": True,
    "description": "Calculate the result of an arithmetic expression.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                   "required": ["expression"], "additionalProperties": False},
}
CITIES = {"Paris": "18C, light rain", "Tokyo": "24C, sunny", "Lima": "16C, overcast", "Oslo": "3C, snow",
          "Cairo": "31C, clear", "Quito": "14C, cloudy"}


MATH_ANSWERS = (
    "{a} * {b} = {given}, so the answer is \\boxed{{{given}}}.",
    "Multiplying gives {given}.\n\n\\boxed{{{given}}}",
    "The product of {a} and {b} is \\boxed{{{given}}}.",
)
WEATHER_ANSWERS = ("It is {weather} in {city}.", "Right now {city} has {weather}.", "{city}: {weather}.")
RESULT_ANSWERS = ("The result is {result}.", "({result}) is the answer.", "That comes to {result}.")


class _Ids:
    """Deterministic ids in the shapes real records carry."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.getrandbits(96):024x}"


def _message(ids: _Ids, text: str, tokens: random.Random | None = None) -> dict:
    item = {
        "id": ids("msg"), "role": "assistant", "status": "completed", "type": "message",
        "content": [{"annotations": [], "text": text, "type": "output_text", "logprobs": None}],
    }
    if tokens is not None:  # the *ForTraining shape: token ids and log-probs on the item
        n = max(1, len(text) // 4)
        item = {
            "prompt_token_ids": [tokens.randrange(100, 32000) for _ in range(12)],
            "generation_token_ids": [tokens.randrange(100, 32000) for _ in range(n)],
            "generation_log_probs": [round(-tokens.random() * 2, 4) for _ in range(n)],
            **item,
        }
    return item


def _reasoning(ids: _Ids, text: str) -> dict:
    return {"id": ids("rs"), "summary": [{"text": text, "type": "summary_text"}], "type": "reasoning",
            "encrypted_content": None}


def _call(ids: _Ids, name: str, arguments: dict) -> tuple[dict, str]:
    call_id = ids("call")
    return ({"arguments": orjson.dumps(arguments).decode(), "call_id": call_id, "name": name,
             "type": "function_call", "id": call_id, "status": "completed"}, call_id)


def _output(call_id: str, text: str) -> dict:
    return {"call_id": call_id, "output": text, "type": "function_call_output", "id": None, "status": "completed"}


def _record(ids: _Ids, task: int, rollout: int, agent: str, input_items, tools, output, reward, **fields) -> dict:
    usage_in, usage_out = 40 + 7 * task, 20 + 3 * len(output)
    return {
        "responses_create_params": {**_PARAMS_NULLS, "input": input_items, "tools": tools,
                                    "parallel_tool_calls": True, "tool_choice": "auto"},
        "response": {
            "id": ids("resp"), "created_at": 1761955953.0 + task * 60 + rollout, "error": None,
            "incomplete_details": None, "instructions": None, "metadata": {}, "model": "sample-policy",
            "object": "response", "output": output, "parallel_tool_calls": True, "temperature": 1.0,
            "tool_choice": "auto", "tools": tools, "top_p": 1.0, "status": "completed",
            "usage": {"input_tokens": usage_in, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": usage_out, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": usage_in + usage_out},
        },
        "reward": reward,
        **fields,
        "_ng_task_index": task,
        "_ng_rollout_index": rollout,
        "agent_ref": {"name": agent},
    }


def _math(rng, ids, task, rollouts):
    a, b = rng.randrange(11, 99), rng.randrange(11, 99)
    answer = a * b
    prompt = [{"role": "user", "type": "message",
               "content": f"Solve the following math problem. Put the answer (and only the answer) inside \\boxed{{}}.\n\nWhat is {a} * {b}?"}]
    for r in range(rollouts):
        correct = rng.random() < 0.6
        given = answer if correct else answer + rng.choice([-10, -1, 1, 10, 100])
        output = [_reasoning(ids, f"{a} * {b}: {a} * {b // 10 * 10} = {a * (b // 10 * 10)}, plus {a} * {b % 10} = {a * (b % 10)}."),
                  _message(ids, rng.choice(MATH_ANSWERS).format(a=a, b=b, given=given), rng if r == 0 else None)]
        yield _record(ids, task, r, "math_simple_agent", prompt, [], output, 1.0 if correct else 0.0,
                      expected_answer=str(answer), extracted_answer=str(given))


def _weather(rng, ids, task, rollouts):
    city = rng.choice(sorted(CITIES))
    prompt = [{"role": "system", "type": "message", "content": "You are a helpful assistant. Use tools when they help."},
              {"role": "user", "type": "message", "content": f"What's the weather like in {city} right now?"}]
    for r in range(rollouts):
        asked = city if rng.random() < 0.7 else rng.choice(sorted(CITIES))
        call, call_id = _call(ids, "get_weather", {"city": asked})
        output = [_reasoning(ids, f"The user asks about {city}. Call get_weather."), call,
                  _output(call_id, orjson.dumps({"city": asked, "conditions": CITIES[asked]}).decode()),
                  _message(ids, rng.choice(WEATHER_ANSWERS).format(city=asked, weather=CITIES[asked]))]
        correct = 1.0 if asked == city else 0.0
        fmt = 1.0 if rng.random() < 0.8 else 0.0
        yield _record(ids, task, r, "weather_simple_agent", prompt, [WEATHER_TOOL], output,
                      round(0.8 * correct + 0.2 * fmt, 2),
                      reward_components={"correctness": correct, "format": fmt},
                      expected_action=weather_action(city))


def weather_action(city: str) -> dict:
    """The call a weather task expects, as ``expected_action`` in the shape
    ``single_step_tool_use_with_argument_comparison`` writes it.

    >>> weather_action("Oslo")
    {'type': 'function_call', 'name': 'get_weather', 'arguments': '{"city":"Oslo"}'}
    """
    return {"type": "function_call", "name": "get_weather", "arguments": orjson.dumps({"city": city}).decode()}


def _calculator(rng, ids, task, rollouts):
    x, y, z = rng.randrange(2, 50), rng.randrange(2, 50), rng.randrange(2, 9)
    answer = (x + y) * z
    prompt = [{"role": "user", "type": "message",
               "content": f"Use the calculator: add {x} and {y}, then multiply the sum by {z}."}]
    for r in range(rollouts):
        output = []
        c1, id1 = _call(ids, "calculate", {"expression": f"{x} + {y}"})
        output += [c1, _output(id1, str(x + y))]
        slip = rng.random() < 0.35
        second = (x + y + (1 if slip else 0)) * z
        c2, id2 = _call(ids, "calculate", {"expression": f"{x + y + (1 if slip else 0)} * {z}"})
        output += [c2, _output(id2, str(second)), _message(ids, rng.choice(RESULT_ANSWERS).format(result=second))]
        yield _record(ids, task, r, "calculator_simple_agent", prompt, [CALCULATOR_TOOL], output,
                      1.0 if second == answer else 0.0, expected_answer=str(answer))


def _guess(rng, ids, task, rollouts):
    secret = rng.randrange(1, 20)
    prompt = [{"role": "developer", "type": "message",
               "content": "Play the game: guess the secret number between 1 and 20. The user answers higher or lower."},
              {"role": "user", "type": "message", "content": "I have picked a number. Your first guess?"}]
    for r in range(rollouts):
        low, high, output, won = 1, 20, [], False
        for _turn in range(4):
            guess = (low + high) // 2 if rng.random() < 0.7 else rng.randrange(low, high + 1)
            output.append(_message(ids, f"My guess is {guess}."))
            if guess == secret:
                output.append({"role": "user", "type": "message", "content": "Correct!"})
                won = True
                break
            hint = "higher" if guess < secret else "lower"
            low, high = (guess + 1, high) if hint == "higher" else (low, guess - 1)
            output.append({"role": "user", "type": "message", "content": f"No, {hint}."})
        output.append(_message(ids, "Thanks for the game!"))
        yield _record(ids, task, r, "guess_number_agent", prompt, [], output, 1.0 if won else 0.0,
                      expected_answer=str(secret), terminated=won, truncated=not won)


KINDS = (_math, _weather, _calculator, _guess)


def sample_rollouts(tasks_per_kind: int = 3, rollouts_per_task: int = 4, seed: int = 0) -> Iterator[dict]:
    """Sample rollout records, the same for the same arguments.

    The records come in completion order, as ``gym eval run`` writes them: the
    rollouts of one task are interleaved with other tasks'. One record is a masked
    sample (``mask_sample: true``, as an infrastructure failure is flagged).

    Args:
        tasks_per_kind: tasks of each of the four kinds.
        rollouts_per_task: rollouts of each task.
        seed: the random seed.

    Yields:
        Rollout records (dicts).

    >>> records = list(sample_rollouts(tasks_per_kind=1, rollouts_per_task=2))
    >>> len(records), sorted({r["agent_ref"]["name"] for r in records})[:2]
    (8, ['calculator_simple_agent', 'guess_number_agent'])
    >>> sorted({item["type"] for r in records for item in r["response"]["output"]})
    ['function_call', 'function_call_output', 'message', 'reasoning']
    """
    rng = random.Random(seed)
    ids = _Ids(random.Random(seed + 1))
    records = []
    task = 0
    for kind in KINDS:
        for _ in range(tasks_per_kind):
            records.extend(kind(rng, ids, task, rollouts_per_task))
            task += 1
    order = random.Random(seed + 2)
    for i in range(len(records) - 1, 0, -1):  # completion order: shuffle, but keep it reproducible
        j = order.randrange(i + 1)
        records[i], records[j] = records[j], records[i]
    if len(records) > 3:
        records[3] = {**records[3], "mask_sample": True, "failure_kind": "model_server_error",
                      "failure_reason": "the model server timed out; not the policy's fault"}
    yield from records


def write_sample_rollouts(path, tasks_per_kind: int = 3, rollouts_per_task: int = 4, seed: int = 0,
                          game: str | None = None) -> int:
    """Write {func}`sample_rollouts` (or, with ``game="blackjack"``, {func}`blackjack_rollouts`
    with ``tasks_per_kind`` hands) to a JSONL file; return the number of records."""
    from .io import JsonlWriter

    records = (blackjack_rollouts(tasks_per_kind, rollouts_per_task, seed) if game == "blackjack"
               else sample_rollouts(tasks_per_kind, rollouts_per_task, seed))
    with JsonlWriter(path) as writer:
        for record in records:
            writer.write(record)
    return writer.rows


def blackjack_rollouts(hands: int = 3, rollouts_per_hand: int = 2, seed: int = 0) -> Iterator[dict]:
    """A game with a random start, as NeMo Gym's blackjack environment records it: every rollout
    is task 0, and the prompt holds the hand that was dealt.

    So a task number alone does not say which rollouts are of one task: each hand is a task
    group of its own ({func}`~reference_impl.rollouts.task_key`). Standing on 17 or more
    wins here (reward 1), hitting loses (reward 0).

    Args:
        hands: how many different hands are dealt.
        rollouts_per_hand: rollouts of each hand (alternately hit and stand).
        seed: the random seed.

    Yields:
        Rollout records, in completion order.

    >>> records = list(blackjack_rollouts(hands=2, rollouts_per_hand=2))
    >>> {r["_ng_task_index"] for r in records}, len({r["responses_create_params"]["input"][0]["content"] for r in records})
    ({0}, 2)
    """
    rng = random.Random(seed)
    ids = _Ids(random.Random(seed + 1))
    records = []
    for hand_number in range(hands):
        cards = [rng.randrange(7, 11), rng.randrange(7, 11)]
        prompt = [{"role": "user", "type": "message",
                   "content": f"Blackjack. Your hand: {cards} (total {sum(cards)}). The dealer shows {rng.randrange(2, 11)}. "
                              "Answer with one word: hit or stand."}]
        for r in range(rollouts_per_hand):
            move = ("hit", "stand")[(r + hand_number) % 2]
            output = [_message(ids, move)]
            records.append(_record(ids, 0, hand_number * rollouts_per_hand + r, "blackjack_agent", prompt, [], output,
                                   1.0 if move == "stand" else 0.0))
    order = random.Random(seed + 2)
    order.shuffle(records)
    yield from records
