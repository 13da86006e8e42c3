"""Verifier rewards: the checks NeMo Gym's resources servers make, as plain functions.

A stored ``reward`` scores the rollout that was collected; on-policy RL needs the same
check on new completions. These functions give it, in the call shapes each trainer uses:

* {func}`math_reward`: the last ``\\boxed{...}`` answer against ``expected_answer``, as
  NeMo Gym's ``math_with_judge`` server checks it before asking a judge;
* {func}`tool_call_reward`: the calls a completion makes against the expected calls;
* {func}`trl_math_reward`, {func}`trl_tool_call_reward`: TRL ``GRPOTrainer`` reward functions
  (the dataset's columns arrive as keyword arguments);
* {func}`compute_score`: VeRL's ``reward.custom_reward_function`` contract;
* {func}`reward_func`: OpenRLHF's ``--reward.remote_url`` file contract.

The module imports only the standard library, so VeRL and OpenRLHF can load it by file
path (``reward.custom_reward_function.path``, ``--reward.remote_url``).
"""

from __future__ import annotations

import json
import re
from fractions import Fraction

__all__ = [
    "last_boxed",
    "normalize_answer",
    "answers_match",
    "math_reward",
    "extract_tool_calls",
    "tool_call_reward",
    "completion_text",
    "trl_math_reward",
    "trl_tool_call_reward",
    "compute_score",
    "openrlhf_response",
    "reward_func",
]


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
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")


def normalize_answer(answer: str) -> str:
    """An answer in a canonical spelling: no spaces, ``$``, ``\\left``/``\\right``, text wrappers,
    thousands separators or trailing period; ``\\frac{a}{b}`` as ``a/b``.

    >>> normalize_answer(r" $\\frac{83}{499}$. ")
    '83/499'
    >>> normalize_answer(r"1{,}000 \\text{ pages}")
    '1000pages'
    """
    text = answer.strip().strip("$").strip()
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
    boxed = last_boxed(completion)
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
    for message in completion or []:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function", call)
            calls.append({"name": function.get("name"), "arguments": _arguments(function.get("arguments", {}))})
        calls.extend(extract_tool_calls(message.get("content") or ""))
    return calls


def tool_call_reward(completion, expected_calls) -> float:
    """The share of expected calls the completion makes, name and arguments equal; 0.0 for extra calls.

    Args:
        completion: chat messages or text (see {func}`extract_tool_calls`).
        expected_calls: a list of ``{"name", "arguments"}``, or its JSON string.

    Returns:
        A reward between 0.0 and 1.0.

    >>> expected = [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
    >>> tool_call_reward('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>', expected)
    1.0
    >>> tool_call_reward('<tool_call>{"name": "get_weather", "arguments": {"city": "Lima"}}</tool_call>', expected)
    0.0
    """
    expected = _arguments(expected_calls) if isinstance(expected_calls, str) else expected_calls
    if not expected:
        return 0.0
    predicted = extract_tool_calls(completion)
    if len(predicted) > len(expected):
        return 0.0
    remaining = [dict(name=c.get("name"), arguments=_arguments(c.get("arguments", {}))) for c in expected]
    hits = 0
    for call in predicted:
        if call in remaining:
            remaining.remove(call)
            hits += 1
    return hits / len(expected)


def completion_text(completion) -> str:
    """The text of a completion: a string, or the contents of its assistant messages.

    >>> completion_text([{"role": "assistant", "content": "\\\\boxed{4}"}])
    '\\\\boxed{4}'
    """
    if isinstance(completion, str):
        return completion
    return "\n".join(m.get("content") or "" for m in completion if m.get("role") == "assistant")


def trl_math_reward(completions, expected_answer, **kwargs) -> list[float | None]:
    """TRL ``GRPOTrainer`` reward: {func}`math_reward` per completion.

    TRL passes each dataset column as a keyword argument, so a dataset with an
    ``expected_answer`` column (as ``prepare_for_trl.py --algorithm grpo`` writes) reaches it.
    Rows without an answer get ``None`` ("not applicable").

    >>> trl_math_reward([[{"role": "assistant", "content": "\\\\boxed{4}"}]], expected_answer=["4"])
    [1.0]
    """
    return [
        None if answer is None else math_reward(completion_text(c), answer)
        for c, answer in zip(completions, expected_answer)
    ]


def trl_tool_call_reward(completions, expected_calls, **kwargs) -> list[float | None]:
    """TRL ``GRPOTrainer`` reward: {func}`tool_call_reward` per completion (``expected_calls`` column)."""
    return [None if calls is None else tool_call_reward(c, calls) for c, calls in zip(completions, expected_calls)]


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float:
    """VeRL's custom reward function (``reward.custom_reward_function.name=compute_score``).

    VeRL 0.9.1's reward manager calls it with the decoded response and
    ``reward_model.ground_truth`` (``verl/experimental/reward_loop/reward_manager/naive.py``).
    A ground truth that is a JSON list of calls is checked as tool calls; anything else as
    a math answer.

    >>> compute_score("nemo_gym/math_simple_agent", "so \\\\boxed{391}", "391")
    1.0
    """
    if isinstance(ground_truth, str) and ground_truth.lstrip().startswith("[{"):
        return tool_call_reward(solution_str, ground_truth)
    return math_reward(solution_str, ground_truth)


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
    filtering) from the result.
    """
    import torch

    scores = [compute_score("openrlhf", openrlhf_response(q, p), label) for q, p, label in zip(queries, prompts, labels)]
    rewards = torch.tensor(scores, dtype=torch.float)
    return {"rewards": rewards, "scores": rewards.clone(), "extra_logs": {"verifier_reward": rewards.clone()}}
