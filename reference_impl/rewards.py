"""Verifier rewards: the checks NeMo Gym's resources servers make, as plain functions.

A stored ``reward`` scores the rollout that was collected; on-policy RL needs the same
check on new completions. These functions give it, in the call shapes each trainer uses:

* {func}`math_reward`: the last ``\\boxed{...}`` answer against the expected answer, as
  NeMo Gym's ``math_with_judge`` server checks it before asking a judge;
* {func}`tool_call_reward`: the calls a completion makes against the expected action, as
  ``single_step_tool_use_with_argument_comparison`` and ``image_tools`` write it
  (``expected_action``);
* {func}`trl_math_reward`, {func}`trl_tool_call_reward`: TRL ``GRPOTrainer`` reward functions
  (the dataset's columns arrive as keyword arguments);
* {func}`compute_score`: VeRL's ``reward.custom_reward_function`` contract;
* {func}`reward_func`: OpenRLHF's ``--reward.remote_url`` file contract.

Each environment writes its ground truth in a field of its own; {data}`GROUND_TRUTH_FIELDS`
is the order the rewards look them up in (the same tuple as
``reference_impl.rollouts.GROUND_TRUTH_FIELDS``, which the prepare scripts use). A reward
never raises on a row it cannot score: the TRL functions return ``None`` for it ("not
applicable", which TRL skips), the VeRL and OpenRLHF ones ``0.0`` (their reward must be a
number).

The module imports only the standard library, so VeRL and OpenRLHF can load it by file
path (``reward.custom_reward_function.path``, ``--reward.remote_url``).
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any

__all__ = [
    "GROUND_TRUTH_FIELDS",
    "find_ground_truth",
    "ground_truths",
    "last_boxed",
    "normalize_answer",
    "answers_match",
    "math_reward",
    "extract_tool_calls",
    "expected_action",
    "tool_call_reward",
    "completion_text",
    "trl_math_reward",
    "trl_tool_call_reward",
    "compute_score",
    "openrlhf_response",
    "reward_func",
]

GROUND_TRUTH_FIELDS = (
    "expected_answer",
    "expected_action",
    "expected_output",
    "answer",
    "ground_truth",
    "verifier_metadata",
    "target",
    "solution",
    "label",
)
"""The record fields that hold the ground truth, in the order the rewards look them up.

Read from the real corpus: ``expected_answer`` (most environments), ``expected_action``
(``single_step_tool_use_with_argument_comparison``, ``image_tools``,
``terminal_multi_harness``), ``expected_output`` (``arc_agi``, ``nvarc``), then ``answer``,
``ground_truth``, ``verifier_metadata``, ``target``, ``solution``, ``label``."""


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def find_ground_truth(row: dict, fields: tuple[str, ...] = GROUND_TRUTH_FIELDS) -> Any:
    """The value of the first of ``fields`` that ``row`` holds, not null or empty; ``None`` when none.

    >>> find_ground_truth({"answer": "Yes", "expected_answer": None, "label": "safe"})
    'Yes'
    >>> find_ground_truth({"extracted_answer": "4"}) is None
    True
    """
    for name in fields:
        value = row.get(name)
        if not _empty(value):
            return value
    return None


def ground_truths(columns: dict, count: int, fields: tuple[str, ...] = GROUND_TRUTH_FIELDS) -> list:
    """Each row's ground truth from TRL's reward keyword arguments (one list per dataset column).

    In a dataset that mixes environments, a column is ``None`` in the rows that lack it, and
    a column no row has is not passed at all.

    >>> ground_truths({"expected_answer": ["4", None], "expected_action": [None, '{"name": "f"}'],
    ...                "trainer_state": object()}, 2)
    ['4', '{"name": "f"}']
    """
    lists = {name: columns[name] for name in fields if isinstance(columns.get(name), (list, tuple))}
    return [find_ground_truth({name: values[i] for name, values in lists.items() if i < len(values)}, fields)
            for i in range(count)]


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` in ``text``, braces balanced, or ``None``.

    >>> last_boxed(r"so \\boxed{\\frac{83}{499}}.")
    '\\\\frac{83}{499}'
    >>> last_boxed("no box") is None
    True
    """
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


_TEXT_WRAPPERS = re.compile(r"\\(?:text|mathrm|textbf|mathbf)\{([^{}]*)\}")
_DELIMITERS = re.compile(r"^\\[(\[]|\\[)\]]$")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")


def normalize_answer(answer: str) -> str:
    """An answer in a canonical spelling: no spaces, ``$`` or ``\\(...\\)``, ``\\left``/``\\right``, text wrappers,
    thousands separators or trailing period; ``\\frac{a}{b}`` as ``a/b``.

    >>> normalize_answer(r" $\\frac{83}{499}$. ")
    '83/499'
    >>> normalize_answer(r"\\(\\sqrt{2}\\)")
    '\\\\sqrt{2}'
    >>> normalize_answer(r"1{,}000 \\text{ pages}")
    '1000pages'
    """
    text = _DELIMITERS.sub("", answer.strip()).strip().strip("$").strip()
    text = _TEXT_WRAPPERS.sub(r"\1", text)
    text = _FRAC.sub(r"\1/\2", text)
    text = text.replace("\\left", "").replace("\\right", "").replace("{,}", "").replace("\\!", "")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return re.sub(r"\s+", "", text).rstrip(".").strip("$").rstrip(".")


def _as_number(text: str) -> Fraction | None:
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def answers_match(predicted: str, expected: str) -> bool:
    """Whether two answers are the same after {func}`normalize_answer`, or equal as numbers.

    >>> answers_match("0.5", "\\\\frac{1}{2}"), answers_match("42", "41")
    (True, False)
    """
    a, b = normalize_answer(predicted), normalize_answer(expected)
    if a == b:
        return True
    x, y = _as_number(a), _as_number(b)
    return x is not None and y is not None and x == y


def math_reward(completion: str, expected_answer: str) -> float:
    """1.0 when the completion's last ``\\boxed{}`` answer matches ``expected_answer``, else 0.0.

    >>> math_reward(r"17 * 23 = 391, so \\boxed{391}.", "391")
    1.0
    >>> math_reward("391", "391")  # no box, no answer: the prompt asks for one
    0.0
    """
    boxed = last_boxed(completion) if isinstance(completion, str) else None
    if boxed is None or expected_answer is None:
        return 0.0
    return 1.0 if answers_match(boxed, str(expected_answer)) else 0.0


_TOOL_CALL_TAG = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def _arguments(value) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def extract_tool_calls(completion) -> list[dict]:
    """The tool calls a completion makes, as ``{"name", "arguments"}`` with arguments decoded.

    A completion is chat messages (``tool_calls`` on assistant turns) or text with
    ``<tool_call>{...}</tool_call>`` blocks, the Hermes/Qwen convention.

    >>> extract_tool_calls('<tool_call>\\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\\n</tool_call>')
    [{'name': 'get_weather', 'arguments': {'city': 'Oslo'}}]
    >>> extract_tool_calls([{"role": "assistant", "content": "", "tool_calls": [
    ...     {"type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]}])
    [{'name': 'f', 'arguments': {'x': 1}}]
    """
    calls = []
    if isinstance(completion, str):
        for match in _TOOL_CALL_TAG.finditer(completion):
            try:
                call = json.loads(match.group(1))
            except json.JSONDecodeError:
                continue
            if isinstance(call, dict):
                calls.append({"name": call.get("name"), "arguments": _arguments(call.get("arguments", {}))})
        return calls
    for message in completion if isinstance(completion, list) else []:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) and isinstance(call.get("function"), dict) else call
            if isinstance(function, dict):
                calls.append({"name": function.get("name"), "arguments": _arguments(function.get("arguments", {}))})
        if isinstance(message.get("content"), str):
            calls.extend(extract_tool_calls(message["content"]))
    return calls


def _call(value: Any) -> dict | None:
    """``{"name", "arguments"}`` from a call written as NeMo Gym or OpenAI write one, else ``None``."""
    if not isinstance(value, dict):
        return None
    function = value.get("function") if isinstance(value.get("function"), dict) else value
    name = function.get("name")
    if not isinstance(name, str) or not name:
        return None
    return {"name": name, "arguments": _arguments(function.get("arguments", {}))}


def expected_action(value: Any) -> dict | None:
    """A ground truth read as the action a completion should take, or ``None`` when it is not one.

    Understands what environments write (also as a JSON string, as prepared columns hold it):
    ``{"type": "function_call", "name", "arguments"}`` and ``{"type": "message", ...}``
    (``single_step_tool_use_with_argument_comparison``), ``{"type": "function_call_batch",
    "calls": [...]}`` (``terminal_multi_harness``), ``{"name", "arguments"}``
    (``image_tools``), and a list of calls.

    Returns:
        ``{"message": True}`` when a plain answer is expected, else ``{"calls": [...]}``, each
        call ``{"name", "arguments"}`` with the arguments decoded.

    >>> expected_action({"type": "function_call", "name": "f", "arguments": '{"x": 1}'})
    {'calls': [{'name': 'f', 'arguments': {'x': 1}}]}
    >>> expected_action('{"type": "message", "content": "Hello"}')
    {'message': True}
    >>> expected_action("42") is None, expected_action([[3, 2], [7, 8]]) is None
    (True, True)
    """
    if isinstance(value, str):
        value = _json_structure(value)
        if value is None:
            return None
    if isinstance(value, dict):
        kind = value.get("type")
        if kind == "message" or value == {"message": True}:
            return {"message": True}
        if kind == "function_call_batch" or (kind is None and "calls" in value):
            return expected_action(value.get("calls"))
        if kind in (None, "function_call", "function"):
            call = _call(value)
            return {"calls": [call]} if call else None
        return None
    if isinstance(value, list) and value:
        calls = [_call(item) for item in value]
        return {"calls": calls} if all(calls) else None
    return None


def tool_call_reward(completion, expected) -> float:
    """How well a completion takes the expected action: the share of expected calls it makes
    (name and decoded arguments equal), 0.0 when it makes extra calls; for an expected
    message, 1.0 when it answers in text without calling a tool (as NeMo Gym's
    ``single_step_tool_use_with_argument_comparison`` scores it).

    Args:
        completion: chat messages or text (see {func}`extract_tool_calls`).
        expected: anything {func}`expected_action` reads; 0.0 when it reads none.

    Returns:
        A reward between 0.0 and 1.0.

    >>> expected = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    >>> tool_call_reward('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>', expected)
    1.0
    >>> tool_call_reward('<tool_call>{"name": "get_weather", "arguments": {"city": "Lima"}}</tool_call>', expected)
    0.0
    >>> tool_call_reward("Which city?", '{"type": "message", "content": "Which city do you mean?"}')
    1.0
    """
    action = expected_action(expected)
    if action is None:
        return 0.0
    predicted = extract_tool_calls(completion)
    if action.get("message"):
        return 1.0 if not predicted and completion_text(completion).strip() else 0.0
    wanted = action["calls"]
    if len(predicted) > len(wanted):
        return 0.0
    remaining = list(wanted)
    hits = 0
    for call in predicted:
        if call in remaining:
            remaining.remove(call)
            hits += 1
    return hits / len(wanted)


def completion_text(completion) -> str:
    """The text of a completion: a string, or the contents of its assistant messages.

    >>> completion_text([{"role": "assistant", "content": "\\\\boxed{4}"}])
    '\\\\boxed{4}'
    """
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, list):
        return ""
    return "\n".join(m.get("content") or "" for m in completion if isinstance(m, dict)
                     and m.get("role") == "assistant" and isinstance(m.get("content") or "", str))


def _json_structure(text: str):
    """The object or list a string spells in JSON, or ``None`` when it spells neither.

    >>> _json_structure('{"a": 1}'), _json_structure("[1"), _json_structure("42")
    ({'a': 1}, None, None)
    """
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _structured(text: str) -> bool:
    """Whether a string is JSON for an object or for a list holding objects or lists (a prepared
    column's spelling of structured ground truth, such as an ARC grid)."""
    value = _json_structure(text)
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value))


def _math_answer(truth: Any) -> str | None:
    """A ground truth as an answer to check a ``\\boxed{}`` against: a string or a number, not
    structured data (an expected action, an object, a grid); ``None`` otherwise.

    >>> _math_answer("391"), _math_answer(7), _math_answer('{"expected_city": "Paris"}'), _math_answer([[3, 2]])
    ('391', '7', None, None)
    """
    if isinstance(truth, bool) or not isinstance(truth, (str, int, float)):
        return None
    if isinstance(truth, str) and _structured(truth):
        return None
    return str(truth)


def trl_math_reward(completions, **columns) -> list[float | None]:
    """TRL ``GRPOTrainer`` reward: {func}`math_reward` per completion.

    TRL passes each dataset column as a keyword argument; the answer is the row's first
    {data}`GROUND_TRUTH_FIELDS` column that holds a value. Rows without one, or whose ground
    truth is an expected action or structured data, get ``None`` ("not applicable").

    >>> trl_math_reward([[{"role": "assistant", "content": "\\\\boxed{4}"}]] * 2, expected_answer=["4", None])
    [1.0, None]
    >>> trl_math_reward([[{"role": "assistant", "content": "\\\\boxed{4}"}]])  # no ground-truth column
    [None]
    """
    answers = [_math_answer(truth) for truth in ground_truths(columns, len(completions))]
    return [None if answer is None else math_reward(completion_text(c), answer)
            for c, answer in zip(completions, answers)]


def trl_tool_call_reward(completions, **columns) -> list[float | None]:
    """TRL ``GRPOTrainer`` reward: {func}`tool_call_reward` per completion, against the row's
    expected action (its first {data}`GROUND_TRUTH_FIELDS` column, ``expected_action`` as
    ``single_step_tool_use_with_argument_comparison`` writes it); ``None`` for rows that have none.

    >>> trl_tool_call_reward(['<tool_call>{"name": "f", "arguments": {}}</tool_call>'] * 2,
    ...                      expected_action=['{"type": "function_call", "name": "f", "arguments": "{}"}', None],
    ...                      expected_answer=[None, "4"])
    [1.0, None]
    """
    actions = [expected_action(truth) for truth in ground_truths(columns, len(completions))]
    return [None if action is None else tool_call_reward(c, action) for c, action in zip(completions, actions)]


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """VeRL's custom reward function (``reward.custom_reward_function.name=compute_score``).

    VeRL 0.9.1's reward manager calls it with the decoded response and
    ``reward_model.ground_truth`` (``verl/experimental/reward_loop/reward_manager/naive.py``).
    A ground truth that is an expected action (see {func}`expected_action`) is checked as
    tool calls; a string or number as a math answer; anything else (structured data, or
    nothing) scores 0.0, as VeRL needs a number.

    >>> compute_score("nemo_gym/math_simple_agent", "so \\\\boxed{391}", "391")
    1.0
    >>> compute_score("nemo_gym/x", "so \\\\boxed{391}", None)
    0.0
    """
    if expected_action(ground_truth) is not None:
        return tool_call_reward(solution_str, ground_truth)
    answer = _math_answer(ground_truth)
    return 0.0 if answer is None else math_reward(solution_str or "", answer)


def openrlhf_response(query: str, prompt: str) -> str:
    """The model's response inside an OpenRLHF query (the prompt, then the response, special tokens kept).

    >>> openrlhf_response("<|im_start|>user\\nq<|im_end|>\\n<|im_start|>assistant\\n\\\\boxed{4}<|im_end|>",
    ...                   "<|im_start|>user\\nq<|im_end|>\\n<|im_start|>assistant\\n")
    '\\\\boxed{4}<|im_end|>'
    """
    return query[len(prompt):] if query.startswith(prompt) else query


def reward_func(queries, prompts, labels, **kwargs):
    """OpenRLHF's reward function (``--reward.remote_url /path/to/rewards.py``).

    OpenRLHF 0.11.2 (``openrlhf/utils/agent.py``) calls ``reward_func(queries, prompts,
    labels)`` with the decoded prompt+response, the rendered prompt and the ``label`` column
    (our ground truth), and reads ``rewards`` (advantages) and ``scores`` (0..1, for dynamic
    filtering) from the result. A missing label scores 0.0.
    """
    import torch

    labels = labels if labels is not None else [None] * len(queries)
    scores = [compute_score("openrlhf", openrlhf_response(q, p), label) for q, p, label in zip(queries, prompts, labels)]
    rewards = torch.tensor(scores, dtype=torch.float)
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": {"verifier_reward": rewards.clone()}}
