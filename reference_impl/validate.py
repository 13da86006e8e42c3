"""Validate training data against the format it claims to be, row by row.

The seed's "Data Quality Validation" snippet, done properly: for every target and
algorithm that the format writers produce (JSONL or parquet), check the required fields
and their types, empty values, the order of roles (a tool result follows its call, SFT
ends with the assistant), pairs that do not differ, labels and margins, NaN and infinity,
and duplicate rows. Each problem names ``file:line`` (the row number, for parquet).

The specifications live in {data}`SPECS`, one per format writer; a test checks that every
writer has one and that everything the writers produce passes it, so the two cannot drift.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

__all__ = ["Spec", "SPECS", "field_problem", "messages_problem", "row_problems", "iter_rows", "validate_file", "Report"]

ROLES = frozenset({"system", "user", "assistant", "tool"})


def messages_problem(value: Any, *, ends_with_assistant: bool = False, allow_empty: bool = False) -> str | None:
    """What is wrong with a list of chat messages, or ``None``.

    >>> messages_problem([{"role": "user", "content": "hi"}], ends_with_assistant=True)
    'the conversation does not end with an assistant turn'
    >>> messages_problem([{"role": "assistant", "content": "", "tool_calls": [{"id": "a", "type": "function",
    ...     "function": {"name": "f", "arguments": {}}}]}, {"role": "tool", "tool_call_id": "b", "content": "1"}])
    "message 2: tool result for call 'b', which no earlier assistant turn made"
    """
    if not isinstance(value, list):
        return f"expected a list of messages, got {type(value).__name__}"
    if not value and not allow_empty:
        return "no messages"
    calls: set[str] = set()
    for i, message in enumerate(value, start=1):
        if not isinstance(message, dict):
            return f"message {i} is not an object"
        role = message.get("role")
        if role not in ROLES:
            return f"message {i} has role {role!r}"
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            return f"message {i}: content is {type(content).__name__}, expected a string"
        tool_calls = message.get("tool_calls") or []
        if role == "assistant":
            for call in tool_calls:
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict) or not function.get("name"):
                    return f"message {i}: a tool call without a function name"
                if call.get("id"):
                    calls.add(call["id"])
            if not content and not tool_calls and not message.get("reasoning_content"):
                return f"message {i}: an empty assistant turn"
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id and call_id not in calls:
                return f"message {i}: tool result for call {call_id!r}, which no earlier assistant turn made"
            if i == 1 or value[i - 2].get("role") not in ("assistant", "tool"):
                return f"message {i}: a tool result that does not follow a tool call"
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


KINDS: dict[str, Callable[[Any], str | None]] = {
    "str": lambda v: None if isinstance(v, str) and v.strip() else ("an empty string" if isinstance(v, str) else f"expected a string, got {type(v).__name__}"),
    "bool": lambda v: None if isinstance(v, bool) else f"expected true or false, got {v!r}",
    "number": lambda v: None if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else f"expected a finite number, got {v!r}",
    "int": lambda v: None if isinstance(v, int) and not isinstance(v, bool) else f"expected an integer, got {v!r}",
    "object": lambda v: None if isinstance(v, dict) else f"expected an object, got {type(v).__name__}",
    "list": lambda v: None if isinstance(v, list) else f"expected a list, got {type(v).__name__}",
    "str_or_list": lambda v: None if isinstance(v, (str, list)) and v else "expected a non-empty string or list",
    "json_list": _json_list,
    "messages": lambda v: messages_problem(v),
    "sft_messages": lambda v: messages_problem(v, ends_with_assistant=True),
    "completion": lambda v: messages_problem(v, ends_with_assistant=True) if isinstance(v, list) else KINDS["str"](v),
}


def field_problem(value: Any, kind: str) -> str | None:
    """What is wrong with a value of a kind in {data}`KINDS`, or ``None``.

    >>> field_problem(float("nan"), "number")
    'expected a finite number, got nan'
    >>> field_problem("", "str")
    'an empty string'
    """
    return KINDS[kind](value)


@dataclass(frozen=True)
class Spec:
    """One format: its required and optional fields (dotted paths allowed) and row checks."""

    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)
    checks: tuple[Callable[[dict], str | None], ...] = ()
    unique: str | None = None  # a dotted field whose values must be unique in the file


def _get(row: dict, dotted: str) -> tuple[bool, Any]:
    node: Any = row
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _pair_differs(a: str, b: str) -> Callable[[dict], str | None]:
    def check(row: dict) -> str | None:
        return f"{a} and {b} are the same" if row.get(a) == row.get(b) else None

    return check


def _two_ranked_completions(row: dict) -> str | None:
    completions = row.get("completions")
    if not isinstance(completions, list) or len(completions) != 2:
        return "PreferenceDataset needs exactly two completions"
    for i, c in enumerate(completions):
        if not isinstance(c, dict) or not isinstance(c.get("rank"), int) or isinstance(c.get("rank"), bool):
            return f"completions[{i}] needs an integer rank"
        problem = messages_problem(c.get("completion"), ends_with_assistant=True)
        if problem:
            return f"completions[{i}].completion: {problem}"
    if completions[0]["rank"] == completions[1]["rank"]:
        return "the two completions have the same rank (a tie)"
    if completions[0]["completion"] == completions[1]["completion"]:
        return "the two completions are the same"
    return None


def _margin_not_negative(row: dict) -> str | None:
    margin = row.get("margin")
    return f"margin {margin} is negative" if isinstance(margin, (int, float)) and margin < 0 else None


#: The specification of every (target, algorithm) the format writers produce.
SPECS: dict[tuple[str, str], Spec] = {
    ("trl", "sft"): Spec({"messages": "sft_messages"}, {"tools": "json_list"}),
    ("trl", "dpo"): Spec({"prompt": "messages", "chosen": "completion", "rejected": "completion"}, {"tools": "json_list"},
                         (_pair_differs("chosen", "rejected"),)),
    ("trl", "kto"): Spec({"prompt": "messages", "completion": "completion", "label": "bool"}, {"tools": "json_list"}),
    ("trl", "grpo"): Spec({"prompt": "messages"}),
    ("nemo_rl", "sft"): Spec({"messages": "sft_messages"}, {"tools": "list"}),
    ("nemo_rl", "dpo"): Spec({"context": "messages", "completions": "list"}, checks=(_two_ranked_completions,)),
    ("nemo_rl", "grpo"): Spec({"responses_create_params": "object", "responses_create_params.input": "str_or_list",
                               "agent_ref.name": "str"}),
    ("verl", "grpo"): Spec({"data_source": "str", "prompt": "messages", "ability": "str", "reward_model": "object",
                            "reward_model.ground_truth": "str", "extra_info.index": "int"}, unique="extra_info.index"),
    ("verl", "sft"): Spec({"messages": "sft_messages"}, {"tools": "json_list"}),
    ("openrlhf", "sft"): Spec({"messages": "sft_messages"}),
    ("openrlhf", "dpo"): Spec({"prompt": "messages", "chosen": "completion", "rejected": "completion"},
                              {"margin": "number"}, (_pair_differs("chosen", "rejected"), _margin_not_negative)),
    ("openrlhf", "ppo"): Spec({"prompt": "messages", "label": "str"}, {"datasource": "str"}),
}
SPECS[("verl", "ppo")] = SPECS[("verl", "grpo")]
SPECS[("openrlhf", "rm")] = SPECS[("openrlhf", "dpo")]
SPECS[("openrlhf", "grpo")] = SPECS[("openrlhf", "ppo")]


def _non_finite(value: Any, where: str = "") -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or 'a value'} is {value}"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite(v, f"{where}.{k}" if where else k)
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{where}[{i}]")
            if found:
                return found
    return None


def row_problems(row: Any, spec: Spec) -> list[str]:
    """Everything wrong with one row.

    >>> row_problems({"prompt": [{"role": "user", "content": "q"}], "completion": "a", "label": "yes"}, SPECS[("trl", "kto")])
    ["label: expected true or false, got 'yes'"]
    """
    if not isinstance(row, dict):
        return ["not an object"]
    problems = []
    for name, kind in spec.required.items():
        present, value = _get(row, name)
        if not present or value is None:
            problems.append(f"missing {name}")
        elif (problem := field_problem(value, kind)) is not None:
            problems.append(f"{name}: {problem}")
    for name, kind in spec.optional.items():
        present, value = _get(row, name)
        if present and value is not None and (problem := field_problem(value, kind)) is not None:
            problems.append(f"{name}: {problem}")
    for check in spec.checks:
        if (problem := check(row)) is not None:
            problems.append(problem)
    if (problem := _non_finite(row)) is not None:
        problems.append(problem)
    return problems


def iter_rows(path: str | Path, batch_rows: int = 1024) -> Iterator[tuple[int, Any, str | None]]:
    """``(line, row, problem)`` for each row of a JSONL or parquet file; parquet is read in batches."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                number += 1
                yield number, row, None
        return
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line), None
            except orjson.JSONDecodeError as exc:
                yield number, None, f"not valid JSON ({exc})"


@dataclass
class Report:
    """The result of validating one file."""

    path: str
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """No problems and no duplicate rows."""
        return not self.problems and not self.duplicates

    @property
    def loadable(self) -> bool:
        """No problems; duplicate rows (a trajectory weighed twice) are allowed."""
        return not self.problems


def validate_file(path: str | Path, target: str, algorithm: str) -> Report:
    """Validate every row of a training file; problems are ``file:line: what``.

    Args:
        path: a ``.jsonl`` or ``.parquet`` file.
        target: ``trl``, ``nemo_rl``, ``verl`` or ``openrlhf``.
        algorithm: one of the target's algorithms.

    Returns:
        A {class}`Report`: ``problems`` that a loader would reject or mistrain on, and
        ``duplicates``, rows that repeat an earlier one.
    """
    spec = SPECS.get((target, algorithm))
    if spec is None:
        known = ", ".join(f"{t} {a}" for t, a in sorted(SPECS))
        raise KeyError(f"no specification for {target} {algorithm}; known: {known}")
    report = Report(str(path))
    seen_rows: dict[bytes, int] = {}
    seen_unique: dict[Any, int] = {}
    for number, row, problem in iter_rows(path):
        report.rows += 1
        where = f"{path}:{number}"
        if problem:
            report.problems.append(f"{where}: {problem}")
            continue
        report.problems.extend(f"{where}: {p}" for p in row_problems(row, spec))
        digest = hashlib.blake2b(orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY), digest_size=16).digest()
        if digest in seen_rows:
            report.duplicates.append(f"{where}: duplicate of line {seen_rows[digest]}")
        else:
            seen_rows[digest] = number
        if spec.unique:
            present, value = _get(row, spec.unique) if isinstance(row, dict) else (False, None)
            if present:
                if value in seen_unique:
                    report.problems.append(f"{where}: {spec.unique} {value!r} repeats line {seen_unique[value]}")
                else:
                    seen_unique[value] = number
    if report.rows == 0:
        report.problems.append(f"{path}: no rows")
    return report
