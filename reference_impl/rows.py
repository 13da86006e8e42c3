"""What a valid row of each training format is: the kinds and rules that a
{class}`~reference_impl.formats.base.RowSpec` names, and the checks of one row.

The format writers declare their rows' shapes beside themselves ({class}`~reference_impl.formats.base.RowSpec`);
this module says what those declarations mean. The writers check each row here before they write it (a row
that would not pass is skipped with its reason), and ``validate_training_data.py``
({mod}`reference_impl.validate`) checks files with the same functions, so the two always agree.
"""

from __future__ import annotations

import math
from operator import is_
from typing import Any, Callable

import orjson

__all__ = ["get_dotted", "KINDS", "RULES", "field_problem", "messages_problem", "row_problems", "choose_spec", "row_problem",
           "problem_kind"]

ROLES = frozenset({"system", "user", "assistant", "tool"})


def _call_problem(call: Any) -> str | None:
    """What is wrong with one entry of an assistant message's ``tool_calls`` (to follow the
    message's number), or ``None``.

    >>> _call_problem({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}})
    ': the arguments of tool call c1 are not valid JSON'
    """
    if not isinstance(call, dict):
        return ": a tool call that is not an object"
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        return ": a tool call without a function name"
    if not isinstance(call.get("id"), str) or not call["id"]:
        return f": tool call {function['name']!r} has no id (its result cannot name it)"
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return f": the arguments of tool call {call['id']} are not valid JSON"
    elif arguments is not None and not isinstance(arguments, dict):
        return f": the arguments of tool call {call['id']} are {type(arguments).__name__}, expected an object or a JSON string"
    return None


def messages_problem(value: Any, *, ends_with_assistant: bool = False) -> str | None:
    """What is wrong with a list of chat messages, or ``None``.

    The rules: every message is an object with a known role and string content; a user
    turn says something; an assistant turn says something or calls a tool; each tool call
    has an id and a name (and JSON arguments); each tool result names, by
    ``tool_call_id``, a call of the assistant turn just before it, once; no call is left
    unanswered when the conversation moves on; and, for SFT, the last turn is the assistant's.

    Args:
        value: the messages.
        ends_with_assistant: the conversation must end with an assistant turn (SFT,
            completions).

    Returns:
        The first problem found, or ``None``.

    >>> messages_problem([{"role": "user", "content": "hi"}], ends_with_assistant=True)
    'the conversation does not end with an assistant turn'
    >>> call = {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    >>> messages_problem([{"role": "assistant", "content": "", "tool_calls": [call]},
    ...                   {"role": "tool", "tool_call_id": "b", "content": "1"}])
    "message 2: tool result for call 'b', which the assistant turn before it did not make"
    >>> messages_problem([{"role": "assistant", "content": "", "tool_calls": [call]},
    ...                   {"role": "user", "content": "well?"}])
    "message 2: tool call 'a' has no result before this turn"
    """
    if not isinstance(value, list):
        return f"expected a list of messages, got {type(value).__name__}"
    if not value:
        return "no messages"
    last = _last_checked
    if last[0] is ends_with_assistant and len(value) == len(last[1]) and all(map(is_, value, last[1])):
        return last[2]
    problem = _first_problem(value, ends_with_assistant)
    _last_checked[:] = ends_with_assistant, value.copy(), problem
    return problem


_last_checked: list = [None, [], None]
"""The messages {func}`messages_problem` checked last (the very message objects, kept alive
here) and what it found. A run checks the same messages for several outputs (an SFT row
and the completion of a preference pair are one conversation): they are checked once. The
writers share messages and never change them."""


def _first_problem(value: list, ends_with_assistant: bool) -> str | None:
    """{func}`messages_problem`'s walk over the messages."""
    open_calls: dict[str, str] = {}  # calls of the latest assistant turn not answered yet
    previous = None
    for i, message in enumerate(value, start=1):
        if not isinstance(message, dict):
            return f"message {i} is not an object"
        role = message.get("role")
        if role not in ROLES:
            return f"message {i} has role {role!r}"
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            return f"message {i}: content is {type(content).__name__}, expected a string"
        if role != "tool" and open_calls:
            return f"message {i}: tool call {next(iter(open_calls))!r} has no result before this turn"
        if role == "user" and (not content or content.isspace()):  # isspace: no copy of a long text
            return f"message {i}: an empty user turn"
        if role == "assistant":
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                return f"message {i}: tool_calls is {type(calls).__name__}, expected a list"
            for call in calls:
                if (problem := _call_problem(call)) is not None:
                    return f"message {i}{problem}"
                if call["id"] in open_calls:
                    return f"message {i}: two tool calls with the id {call['id']!r}"
                open_calls[call["id"]] = call["function"]["name"]
            if not calls and (not content or content.isspace()) and not message.get("reasoning_content"):
                return f"message {i}: an empty assistant turn"
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if previous not in ("assistant", "tool"):
                return f"message {i}: a tool result that does not follow a tool call"
            if not call_id:
                return f"message {i}: a tool result without tool_call_id"
            if call_id not in open_calls:
                return f"message {i}: tool result for call {call_id!r}, which the assistant turn before it did not make"
            del open_calls[call_id]
        previous = role
    if ends_with_assistant and value[-1].get("role") != "assistant":
        return "the conversation does not end with an assistant turn"
    return None


def _json_list(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected a JSON string, got {type(value).__name__}"
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "not valid JSON"
    return None if isinstance(decoded, list) else "expected a JSON array"


def _string(value: Any) -> str | None:
    if isinstance(value, str):
        return None if value and not value.isspace() else "an empty string"
    return f"expected a string, got {type(value).__name__}"


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {type(value).__name__}"
    return None if math.isfinite(value) else f"expected a finite number, got {value}"


def _completion(value: Any) -> str | None:
    if isinstance(value, list):
        if value and isinstance(value[0], dict) and value[0].get("role") != "assistant":
            return f"a completion that starts with a {value[0].get('role')!r} turn, not the assistant's"
        return messages_problem(value, ends_with_assistant=True)
    return _string(value)


def _token_ids(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of token ids"
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return "token ids must be non-negative integers"
    return None


def _token_mask(value: Any) -> str | None:
    if not isinstance(value, list) or any(v not in (0, 1) or isinstance(v, bool) for v in value):
        return "expected a list of 0 and 1"
    return None if 1 in value else "no token is trained (the mask has no 1)"


def _token_log_probs(value: Any) -> str | None:
    if not isinstance(value, list):
        return f"expected a list, got {type(value).__name__}"
    if any(v is not None and (_number(v) or v > 0) for v in value):
        return "log-probs must be finite numbers not above 0 (or null where nothing was generated)"
    return None


def _token_messages(value: Any) -> str | None:
    """NeMo RL's token message log: user and assistant turns, each with non-empty ``token_ids``."""
    if not isinstance(value, list) or not value:
        return "expected a non-empty list of messages"
    for i, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"message {i}: expected a user or assistant message"
        if (problem := _token_ids(message.get("token_ids"))) is not None:
            return f"message {i}: token_ids: {problem}"
        if message["role"] == "assistant":
            log_probs = message.get("generation_logprobs")
            if log_probs is not None and (len(log_probs) != len(message["token_ids"]) or _token_log_probs(log_probs)
                                          or None in log_probs):
                return f"message {i}: generation_logprobs must be one finite log-prob per token"
    if not any(m["role"] == "assistant" for m in value):
        return "no assistant message: nothing would be trained"
    return None


KINDS: dict[str, Callable[[Any], str | None]] = {
    "str": _string,
    "bool": lambda v: None if isinstance(v, bool) else f"expected true or false, got {v!r}",
    "number": _number,
    "int": lambda v: None if isinstance(v, int) and not isinstance(v, bool) else f"expected an integer, got {v!r}",
    "object": lambda v: None if isinstance(v, dict) else f"expected an object, got {type(v).__name__}",
    "list": lambda v: None if isinstance(v, list) else f"expected a list, got {type(v).__name__}",
    "str_or_list": lambda v: None if isinstance(v, (str, list)) and v else "expected a non-empty string or list",
    "json_list": _json_list,
    "messages": lambda v: messages_problem(v),
    "sft_messages": lambda v: messages_problem(v, ends_with_assistant=True),
    "completion": _completion,
    "token_ids": _token_ids,
    "token_mask": _token_mask,
    "token_log_probs": _token_log_probs,
    "token_messages": _token_messages,
}
"""What each kind named in a {class}`~reference_impl.formats.base.RowSpec` means: a function
from a value to what is wrong with it (``None`` when nothing is)."""


def field_problem(value: Any, kind: str) -> str | None:
    """What is wrong with a value of a kind in {data}`KINDS`, or ``None``.

    >>> field_problem(float("nan"), "number")
    'expected a finite number, got nan'
    >>> field_problem("", "str")
    'an empty string'
    """
    return KINDS[kind](value)


def get_dotted(row: dict, dotted: str) -> tuple[bool, Any]:
    """Whether a dotted field is there, and its value (``None`` when it is not).

    >>> get_dotted({"reward_model": {"ground_truth": "4"}}, "reward_model.ground_truth")
    (True, '4')
    >>> get_dotted({"reward_model": None}, "reward_model.ground_truth")
    (False, None)
    """
    node: Any = row
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _chosen_differs_from_rejected(row: dict) -> str | None:
    return "chosen and rejected are the same" if row.get("chosen") == row.get("rejected") else None


def _two_ranked_completions(row: dict) -> str | None:
    completions = row.get("completions")
    if not isinstance(completions, list) or len(completions) != 2:
        count = len(completions) if isinstance(completions, list) else "no"
        return f"PreferenceDataset needs exactly two completions, this row has {count}"
    for i, c in enumerate(completions):
        if not isinstance(c, dict) or not isinstance(c.get("rank"), int) or isinstance(c.get("rank"), bool):
            return f"completions[{i}] needs an integer rank"
        problem = _completion(c.get("completion")) if c.get("completion") is not None else "missing"
        if problem:
            return f"completions[{i}].completion: {problem}"
    if completions[0]["rank"] == completions[1]["rank"]:
        return "the two completions have the same rank (a tie)"
    if completions[0]["completion"] == completions[1]["completion"]:
        return "the two completions are the same"
    return None


def _margin_not_negative(row: dict) -> str | None:
    margin = row.get("margin")
    return f"margin {margin} is negative (chosen scored below rejected)" if isinstance(margin, (int, float)) and margin < 0 else None


def _token_columns_align(row: dict) -> str | None:
    """Token-exact rows: one mask bit and one log-prob per id, a log-prob exactly where the mask is 1."""
    ids, masks, log_probs = row.get("input_ids"), row.get("assistant_masks"), row.get("generation_log_probs")
    if not all(isinstance(v, list) for v in (ids, masks, log_probs)):
        return None
    if not len(ids) == len(masks) == len(log_probs):
        return f"input_ids, assistant_masks and generation_log_probs differ in length ({len(ids)}, {len(masks)}, {len(log_probs)})"
    if row.get("token_source") == "chat_template":  # re-tokenized (--retokenize): nothing was recorded
        return None if all(p is None for p in log_probs) else "a re-tokenized row (chat_template) with log-probs"
    if any((p is None) != (m == 0) for m, p in zip(masks, log_probs)):
        return "generation_log_probs must be given exactly where assistant_masks is 1"
    return None


RULES: dict[str, Callable[[dict], str | None]] = {
    "chosen_differs_from_rejected": _chosen_differs_from_rejected,
    "two_ranked_completions": _two_ranked_completions,
    "margin_not_negative": _margin_not_negative,
    "token_columns_align": _token_columns_align,
}
"""The row rules a {class}`~reference_impl.formats.base.RowSpec` may name."""

def _has_non_finite(value: Any) -> bool:
    """Whether a NaN or an infinity is anywhere in a value: one walk, no paths built (every row
    written is checked, so this is on the hot path; :func:`_non_finite` names the place).

    >>> _has_non_finite({"a": ["x", 1, {"b": 2.5}]}), _has_non_finite([{"b": float("nan")}])
    (False, True)
    """
    pending = [value]
    pop, extend = pending.pop, pending.extend
    while pending:
        item = pop()
        kind = type(item)
        if kind is str:
            continue
        if kind is dict:
            extend(item.values())
        elif kind is list:
            extend(item)
        elif isinstance(item, float):
            if item - item != 0.0:  # NaN and the infinities give NaN
                return True
        elif isinstance(item, dict):  # as _non_finite walks them
            extend(item.values())
        elif isinstance(item, list):
            extend(item)
    return False


def _non_finite(value: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in a value, or ``None``.

    >>> _non_finite({"a": [1.0, {"b": float("inf")}]})
    'a[1].b'
    """
    if not where and not _has_non_finite(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return where or "the row"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite(v, f"{where}.{k}" if where else str(k))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{where}[{i}]")
            if found:
                return found
    return None


def row_problems(row: Any, spec: RowSpec, *, parsed_input: bool = False) -> list[str]:
    """Everything wrong with one row.

    Args:
        row: the row.
        spec: its shape.
        parsed_input: the row was made from records that ``orjson`` parsed, which refuses NaN
            and infinity: the only non-finite numbers it can hold are those a format computes,
            which have a kind that checks them (``number``). The walk over every value that
            looks for NaN is left out.

    >>> from reference_impl.formats.trl import KTO_ROWS
    >>> row_problems({"prompt": [{"role": "user", "content": "q"}], "completion": "a", "label": "yes"}, KTO_ROWS[0])
    ["label: expected true or false, got 'yes'"]
    """
    if not isinstance(row, dict):
        return [f"a {type(row).__name__}, not an object"]
    problems = []
    named = set()
    for name, kind in spec.required.items():
        present, value = get_dotted(row, name)
        if not present or value is None:
            problems.append(f"missing {name}")
        elif (problem := field_problem(value, kind)) is not None:
            problems.append(f"{name}: {problem}")
            named.add(name)
    for name, kind in spec.optional.items():
        present, value = get_dotted(row, name)
        if present and value is not None and (problem := field_problem(value, kind)) is not None:
            problems.append(f"{name}: {problem}")
            named.add(name)
    for rule in spec.rules:
        if (problem := RULES[rule](row)) is not None:
            problems.append(problem)
    where = None if parsed_input else _non_finite(row)
    if where is not None and where not in named:
        problems.append(f"{where} is NaN or infinite")
    return problems


def choose_spec(specs: tuple[RowSpec, ...], row: Any) -> RowSpec:
    """The shape a file is in, chosen by its first row: the first whose required
    top-level fields the row has (else the default, the first).

    >>> from reference_impl.formats.trl import SFT_ROWS
    >>> choose_spec(SFT_ROWS, {"prompt": [], "completion": []}) is SFT_ROWS[1]
    True
    """
    if isinstance(row, dict):
        for spec in specs:
            if all(name.split(".")[0] in row for name in spec.required):
                return spec
    return specs[0]


def row_problem(row: Any, specs: tuple, *, parsed_input: bool = False) -> str | None:
    """The first thing that would make a validator reject this row, or ``None``.

    Args:
        row: a row a writer made.
        specs: the writer's row shapes (``Algorithm.row_specs``); empty accepts anything.
        parsed_input: the row was made from records ``orjson`` parsed (see {func}`row_problems`).

    Returns:
        ``None``, or the problem, as ``validate_training_data.py`` would name it.

    >>> from reference_impl.formats.trl import SFT_ROWS
    >>> row_problem({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}, SFT_ROWS)
    'messages: message 2: an empty assistant turn'
    >>> row_problem({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, SFT_ROWS) is None
    True
    """
    if not specs:
        return None
    problems = row_problems(row, choose_spec(specs, row), parsed_input=parsed_input)
    return problems[0] if problems else None


def problem_kind(problem: str) -> str:
    """A problem without its variable parts, for counting.

    >>> problem_kind("message 3: tool result for call 'x7', which the assistant turn before it did not make")
    "message N: tool result for call '…', which the assistant turn before it did not make"
    """
    import re

    from .tally import reason_kind

    return re.sub(r"\b(message|line) \d+", r"\1 N", re.sub(r"'[^']*'", "'…'", reason_kind(problem)))
