"""Sample rollouts whose token ids are real: rendered and tokenized as a model server does.

NeMo Gym records token ids only with a model server that returns them
(``vllm_model_for_training.yaml``), and none of the shipped real rollouts has a multi-call
trajectory with ids. These samples stand in: for each model call, the conversation so far
is rendered with a real chat template (the offline tiny model's, see
{mod}`reference_impl.train.tiny_model`) and tokenized, which gives that call's
``prompt_token_ids``; the text the policy "generates" is tokenized with its end-of-turn
token, which gives ``generation_token_ids``; seeded log-probs stand beside them. The ids go
on an output item of the call, the last one or (as in ``hermes_math``) a message followed by
its own ``function_call``.

The conversation the server renders is the one {func}`reference_impl.messages.rollout_messages`
reads back from the record, so a text pipeline and the server agree on the messages; what
differs between them is only what a chat template and a tokenizer do.

Kinds: ``weather`` (one tool call), ``calculator`` (two tool calls, then the answer),
``guess`` (a game where the environment speaks as the user, several user turns),
``tutor`` (reasoning on every turn, a follow-up question), and ``tutor_qwen3``: the same
conversation served with {data}`QWEN3_LIKE_TEMPLATE`, which drops the reasoning of turns
before the last user message, as Qwen3's template does, so the second call's prompt does
not continue the first call's generation (the broken-prefix case).

Imports ``transformers`` (through the tokenizer) when it runs: not part of the light data path.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import orjson

from .messages import chat_tool_schemas, rollout_messages
from .samples import (CALCULATOR_TOOL, CITIES, WEATHER_ANSWERS, WEATHER_TOOL, _call, _Ids, _output, _reasoning, _record,
                      weather_action)
from .train.tiny_model import CHAT_TEMPLATE

__all__ = ["QWEN3_LIKE_TEMPLATE", "ModelServer", "token_rollouts", "write_token_rollouts", "sample_tokenizer"]

_REASONING_IF = "{% if message.reasoning_content %}"
assert CHAT_TEMPLATE.count(_REASONING_IF) == 1
QWEN3_LIKE_TEMPLATE = (
    "{% set ns = namespace(last_user=-1) %}"
    "{% for message in messages %}{% if message.role == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}"
    "{% endfor %}"
    + CHAT_TEMPLATE.replace(_REASONING_IF, "{% if message.reasoning_content and loop.index0 > ns.last_user %}")
)
"""The tiny model's ChatML template, changed as Qwen3's changes earlier turns: an assistant
turn's reasoning is rendered only after the last user message."""

END_OF_TURN = "<|im_end|>"


def sample_tokenizer(samples: str | Path | None = None):
    """The tiny model's tokenizer, trained on ``samples/rollouts.jsonl`` (what
    ``make_tiny_model.py --data samples/rollouts.jsonl`` builds; the same ids each time)."""
    from .train.tiny_model import build_tokenizer, rollout_texts

    samples = samples or Path(__file__).resolve().parents[1] / "samples" / "rollouts.jsonl"
    return build_tokenizer(rollout_texts([samples]))


class ModelServer:
    """Renders and tokenizes as a model server with ``return_token_id_information`` does.

    Args:
        tokenizer: a Hugging Face tokenizer.
        template: the chat template to render with (default: the tokenizer's).
    """

    def __init__(self, tokenizer, template: str | None = None):
        self.tokenizer = tokenizer
        self.template = template

    def render(self, messages: list[dict], tools: list[dict], add_generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt,
                                                  chat_template=self.template)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def call(self, before: list[dict], after: list[dict], tools: list[dict]) -> tuple[list[int], list[int]]:
        """The prompt ids and the generation ids of one call.

        Args:
            before: the conversation the call reads.
            after: the conversation with the call's assistant turn added.
            tools: chat tool schemas.

        Returns:
            ``(prompt_token_ids, generation_token_ids)``: the rendered prompt (with the
            generation prompt) tokenized, and the assistant turn's text up to and including
            its end-of-turn token, tokenized.
        """
        prompt = self.render(before, tools, add_generation_prompt=True)
        whole = self.render(after, tools)
        if not whole.startswith(prompt):
            raise ValueError("the template renders the assistant turn by changing what came before it")
        generated = whole[len(prompt):]
        generated = generated[: generated.index(END_OF_TURN) + len(END_OF_TURN)]
        return self.encode(prompt), self.encode(generated)


class _Episode:
    """One rollout being served: its prompt items, its output items, and the server."""

    def __init__(self, server: ModelServer, prompt_items: list[dict], tools: list[dict], rng: random.Random):
        self.server, self.prompt_items, self.tools, self.rng = server, prompt_items, tools, rng
        self.output: list[dict] = []

    def _messages(self) -> list[dict]:
        prompt, trajectory = rollout_messages({"responses_create_params": {"input": self.prompt_items},
                                               "response": {"output": self.output}})
        return prompt + trajectory

    def generate(self, items: list[dict], carrier: int = -1) -> None:
        """The policy's turn: its output items; the token ids go on ``items[carrier]``."""
        chat_tools = chat_tool_schemas({"responses_create_params": {"tools": self.tools}})
        before = self._messages()
        start = len(self.output)
        self.output.extend(items)
        prompt_ids, generation_ids = self.server.call(before, self._messages(), chat_tools)
        log_probs = [round(-2 * self.rng.random() ** 3, 4) for _ in generation_ids]
        where = start + (carrier % len(items))
        self.output[where] = {"prompt_token_ids": prompt_ids, "generation_token_ids": generation_ids,
                              "generation_log_probs": log_probs, **self.output[where]}

    def environment(self, *items: dict) -> None:
        """What the environment adds: tool results, user turns."""
        self.output.extend(items)


def _message(ids: _Ids, text: str, role: str = "assistant") -> dict:
    if role != "assistant":
        return {"role": role, "type": "message", "content": text}
    return {"id": ids("msg"), "role": "assistant", "status": "completed", "type": "message",
            "content": [{"annotations": [], "text": text, "type": "output_text", "logprobs": None}]}


def _weather(server, rng, ids, task, rollouts):
    city = rng.choice(sorted(CITIES))
    prompt = [{"role": "system", "type": "message", "content": "You are a helpful assistant. Use tools when they help."},
              {"role": "user", "type": "message", "content": f"What's the weather like in {city} right now?"}]
    for r in range(rollouts):
        episode = _Episode(server, prompt, [WEATHER_TOOL], rng)
        call, call_id = _call(ids, "get_weather", {"city": city})
        episode.generate([_reasoning(ids, f"The user asks about {city}. Call get_weather."), call])
        episode.environment(_output(call_id, orjson.dumps({"city": city, "conditions": CITIES[city]}).decode()))
        episode.generate([_message(ids, WEATHER_ANSWERS[r % len(WEATHER_ANSWERS)].format(city=city, weather=CITIES[city]))])
        yield _record(ids, task, r, "weather_simple_agent", prompt, [WEATHER_TOOL], episode.output, 1.0,
                      expected_action=weather_action(city))


def _calculator(server, rng, ids, task, rollouts):
    x, y, z = rng.randrange(2, 50), rng.randrange(2, 50), rng.randrange(2, 9)
    prompt = [{"role": "user", "type": "message",
               "content": f"Use the calculator: add {x} and {y}, then multiply the sum by {z}."}]
    for r in range(rollouts):
        episode = _Episode(server, prompt, [CALCULATOR_TOOL], rng)
        c1, id1 = _call(ids, "calculate", {"expression": f"{x} + {y}"})
        episode.generate([c1])
        episode.environment(_output(id1, str(x + y)))
        slip = r % 2 == 1
        total = x + y + (1 if slip else 0)
        c2, id2 = _call(ids, "calculate", {"expression": f"{total} * {z}"})
        # The ids on a message followed by its own function_call, as in hermes_math.
        episode.generate([_message(ids, f"The sum is {total}. Now the product."), c2], carrier=0)
        episode.environment(_output(id2, str(total * z)))
        episode.generate([_message(ids, f"The result is {total * z}.")])
        yield _record(ids, task, r, "calculator_simple_agent", prompt, [CALCULATOR_TOOL], episode.output,
                      0.0 if slip else 1.0, expected_answer=str((x + y) * z))


def _guess(server, rng, ids, task, rollouts):
    secret = rng.randrange(1, 20)
    prompt = [{"role": "developer", "type": "message",
               "content": "Play the game: guess the secret number between 1 and 20. The user answers higher or lower."},
              {"role": "user", "type": "message", "content": "I have picked a number. Your first guess?"}]
    for r in range(rollouts):
        episode = _Episode(server, prompt, [], rng)
        low, high, won = 1, 20, False
        for _turn in range(3):
            guess = (low + high) // 2 if r % 2 == 0 else rng.randrange(low, high + 1)
            episode.generate([_message(ids, f"My guess is {guess}.")])
            if guess == secret:
                episode.environment(_message(ids, "Correct!", role="user"))
                won = True
                break
            hint = "higher" if guess < secret else "lower"
            low, high = (guess + 1, high) if hint == "higher" else (low, guess - 1)
            episode.environment(_message(ids, f"No, {hint}.", role="user"))
        episode.generate([_message(ids, "Thanks for the game!")])
        yield _record(ids, task, r, "guess_number_agent", prompt, [], episode.output, 1.0 if won else 0.0,
                      expected_answer=str(secret), terminated=won, truncated=not won)


def _tutor_turns(server, rng, ids, task, rollouts, agent):
    a, b = rng.randrange(11, 99), rng.randrange(11, 99)
    prompt = [{"role": "user", "type": "message", "content": f"What is {a} * {b}?"}]
    for r in range(rollouts):
        episode = _Episode(server, prompt, [], rng)
        given = a * b + (0 if r % 2 == 0 else 10)
        episode.generate([_reasoning(ids, f"{a} * {b} = {a} * {b // 10 * 10} + {a} * {b % 10}."),
                          _message(ids, f"{a} * {b} = {given}.")])
        episode.environment(_message(ids, "And if you add 1 to that?", role="user"))
        episode.generate([_reasoning(ids, f"{given} + 1 = {given + 1}."), _message(ids, f"That is {given + 1}.")])
        yield _record(ids, task, r, agent, prompt, [], episode.output, 1.0 if given == a * b else 0.0,
                      expected_answer=str(a * b + 1))


def _tutor(server, rng, ids, task, rollouts):
    yield from _tutor_turns(server, rng, ids, task, rollouts, "tutor_agent")


KINDS = (_weather, _calculator, _guess, _tutor)


def token_rollouts(tokenizer, tasks_per_kind: int = 2, rollouts_per_task: int = 2, seed: int = 0) -> Iterator[dict]:
    """Rollout records with real token ids, the same for the same tokenizer and arguments.

    Args:
        tokenizer: the tokenizer whose template and vocabulary the "model server" uses
            ({func}`sample_tokenizer`).
        tasks_per_kind: tasks of each kind.
        rollouts_per_task: rollouts of each task.
        seed: the random seed.

    Yields:
        Records, kind by kind; then the ``tutor`` conversation served with
        {data}`QWEN3_LIKE_TEMPLATE` (the broken-prefix case, one task), and last a
        masked sample.
    """
    rng = random.Random(seed)
    ids = _Ids(random.Random(seed + 1))
    server = ModelServer(tokenizer)
    task = 0
    for kind in KINDS:
        for _ in range(tasks_per_kind):
            yield from kind(server, rng, ids, task, rollouts_per_task)
            task += 1
    yield from _tutor_turns(ModelServer(tokenizer, QWEN3_LIKE_TEMPLATE), rng, ids, task, rollouts_per_task,
                            "tutor_agent_qwen3_template")
    task += 1
    masked = next(_calculator(server, rng, ids, task, 1))
    yield {**masked, "mask_sample": True, "failure_kind": "model_server_error",
           "failure_reason": "the model server timed out; not the policy's fault"}


def write_token_rollouts(path, tokenizer=None, tasks_per_kind: int = 2, rollouts_per_task: int = 2,
                         seed: int = 0) -> int:
    """Write {func}`token_rollouts` to a JSONL file; return the number of records."""
    from .io import JsonlWriter

    tokenizer = tokenizer or sample_tokenizer()
    with JsonlWriter(path) as writer:
        for record in token_rollouts(tokenizer, tasks_per_kind, rollouts_per_task, seed):
            writer.write(record)
    return writer.rows
