"""Validate training data against the format it claims to be, row by row.

The seed's "Data Quality Validation" snippet, done properly: for every target and
algorithm that the format writers produce (JSONL or parquet), check the required fields
and their types, empty values, the order of roles (a tool result answers a call of the
assistant turn before it, by ``tool_call_id``; SFT ends with the assistant), pairs that do
not differ, ranks, labels and margins, NaN and infinity, and duplicate rows. Each problem
names ``file:line`` (the row number, for parquet).

What a row must hold is not written here: each format writer declares it beside itself as
{class}`~reference_impl.formats.RowSpec` (``Algorithm.row_specs``), and {data}`SPECS` is
read from there. This module only knows what the kinds (``KINDS``) and the rules
(``RULES``) named in those declarations mean.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from .formats import TARGETS, RowSpec
from .rollouts import RolloutError, parse_line

__all__ = ["KINDS", "RULES", "SPECS", "field_problem", "messages_problem", "row_problems", "choose_spec",
           "iter_rows", "validate_file", "Report"]

ROLES = frozenset({"system", "user", "assistant", "tool"})


def _call_problem(call: Any, where: str) -> str | None:
    """What is wrong with one entry of an assistant message's ``tool_calls``, or ``None``.

    >>> _call_problem({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{"}}, "message 2")
    'message 2: the arguments of tool call c1 are not valid JSON'
    """
    if not isinstance(call, dict):
        return f"{where}: a tool call that is not an object"
    function = call.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        return f"{where}: a tool call without a function name"
    if not isinstance(call.get("id"), str) or not call["id"]:
        return f"{where}: tool call {function['name']!r} has no id (its result cannot name it)"
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            orjson.loads(arguments)
        except orjson.JSONDecodeError:
            return f"{where}: the arguments of tool call {call['id']} are not valid JSON"
    elif arguments is not None and not isinstance(arguments, dict):
        return f"{where}: the arguments of tool call {call['id']} are {type(arguments).__name__}, expected an object or a JSON string"
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
    open_calls: dict[str, str] = {}  # calls of the latest assistant turn not answered yet
    previous = None
    for i, message in enumerate(value, start=1):
        where = f"message {i}"
        if not isinstance(message, dict):
            return f"{where} is not an object"
        role = message.get("role")
        if role not in ROLES:
            return f"{where} has role {role!r}"
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            return f"{where}: content is {type(content).__name__}, expected a string"
        if role != "tool" and open_calls:
            return f"{where}: tool call {next(iter(open_calls))!r} has no result before this turn"
        if role == "user" and not (content or "").strip():
            return f"{where}: an empty user turn"
        if role == "assistant":
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                return f"{where}: tool_calls is {type(calls).__name__}, expected a list"
            for call in calls:
                problem = _call_problem(call, where)
                if problem:
                    return problem
                if call["id"] in open_calls:
                    return f"{where}: two tool calls with the id {call['id']!r}"
                open_calls[call["id"]] = call["function"]["name"]
            if not (content or "").strip() and not calls and not message.get("reasoning_content"):
                return f"{where}: an empty assistant turn"
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if previous not in ("assistant", "tool"):
                return f"{where}: a tool result that does not follow a tool call"
            if not call_id:
                return f"{where}: a tool result without tool_call_id"
            if call_id not in open_calls:
                return f"{where}: tool result for call {call_id!r}, which the assistant turn before it did not make"
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
        return None if value.strip() else "an empty string"
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
"""What each kind named in a {class}`~reference_impl.formats.RowSpec` means: a function
from a value to what is wrong with it (``None`` when nothing is)."""


def field_problem(value: Any, kind: str) -> str | None:
    """What is wrong with a value of a kind in {data}`KINDS`, or ``None``.

    >>> field_problem(float("nan"), "number")
    'expected a finite number, got nan'
    >>> field_problem("", "str")
    'an empty string'
    """
    return KINDS[kind](value)


def _get(row: dict, dotted: str) -> tuple[bool, Any]:
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
"""The row rules a {class}`~reference_impl.formats.RowSpec` may name."""

SPECS: dict[tuple[str, str], tuple[RowSpec, ...]] = {
    (target, name): algorithm.row_specs
    for target, algorithms in TARGETS.items()
    for name, algorithm in algorithms.items()
    if algorithm.row_specs
}
"""The row shapes of every (target, algorithm), read from the format writers."""


def _non_finite(value: Any, where: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in a value, or ``None``.

    >>> _non_finite({"a": [1.0, {"b": float("inf")}]})
    'a[1].b'
    """
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


def row_problems(row: Any, spec: RowSpec) -> list[str]:
    """Everything wrong with one row.

    >>> from reference_impl.formats.trl import KTO_ROWS
    >>> row_problems({"prompt": [{"role": "user", "content": "q"}], "completion": "a", "label": "yes"}, KTO_ROWS[0])
    ["label: expected true or false, got 'yes'"]
    """
    if not isinstance(row, dict):
        return [f"a {type(row).__name__}, not an object"]
    problems = []
    named = set()
    for name, kind in spec.required.items():
        present, value = _get(row, name)
        if not present or value is None:
            problems.append(f"missing {name}")
        elif (problem := field_problem(value, kind)) is not None:
            problems.append(f"{name}: {problem}")
            named.add(name)
    for name, kind in spec.optional.items():
        present, value = _get(row, name)
        if present and value is not None and (problem := field_problem(value, kind)) is not None:
            problems.append(f"{name}: {problem}")
            named.add(name)
    for rule in spec.rules:
        if (problem := RULES[rule](row)) is not None:
            problems.append(problem)
    where = _non_finite(row)
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


def _parse_json_row(raw: bytes, path: str, number: int) -> tuple[Any, str | None]:
    """A JSONL line as a row, or why it is not one. NaN and Infinity (which Python's
    ``json.dumps`` writes, and strict JSON readers refuse) are read, so the row checks name
    the field."""
    try:
        return parse_line(raw, path, number), None
    except RolloutError as error:
        if error.reason.startswith("not valid JSON"):
            try:
                return json.loads(raw), "not strict JSON: NaN or Infinity, which pyarrow and orjson refuse to read"
            except (ValueError, UnicodeDecodeError):
                pass
        return None, error.reason


def iter_rows(path: str | Path, batch_rows: int = 1024) -> Iterator[tuple[int, Any, str | None]]:
    """``(line, row, problem)`` for each row of a JSONL or parquet file.

    Parquet is read in batches of ``batch_rows`` (the line is the 1-based row number);
    JSONL line by line, blank lines passed over. ``row`` is ``None`` when the line cannot
    be read at all, and ``problem`` says why.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            yield 0, None, f"not a parquet file ({exc})"
            return
        number = 0
        for batch in parquet.iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                number += 1
                yield number, row, None
        return
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            row, problem = _parse_json_row(raw, str(path), number)
            yield number, row, problem


@dataclass
class Report:
    """The result of validating one file.

    Attributes:
        path: the file.
        rows: rows read.
        problems: ``file:line: what`` for what a loader would reject or mistrain on (the
            first ``keep`` of them; ``kinds`` counts them all).
        duplicates: ``file:line: duplicate of line N`` for rows that repeat an earlier one.
        kinds: every problem counted by what it is, without its place.
        sha256: the file's checksum.
    """

    path: str
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    duplicate_count: int = 0
    sha256: str = ""
    keep: int = 10_000

    @property
    def problem_count(self) -> int:
        return sum(self.kinds.values())

    @property
    def clean(self) -> bool:
        """No problems and no duplicate rows."""
        return self.problem_count == 0 and self.duplicate_count == 0

    @property
    def loadable(self) -> bool:
        """No problems; duplicate rows (a trajectory weighed twice) are allowed."""
        return self.problem_count == 0

    def add(self, where: str, problem: str) -> None:
        self.kinds[_kind(problem)] += 1
        if len(self.problems) < self.keep:
            self.problems.append(f"{where}: {problem}")

    def add_duplicate(self, where: str, first: int) -> None:
        self.duplicate_count += 1
        if len(self.duplicates) < self.keep:
            self.duplicates.append(f"{where}: duplicate of line {first}")

    def as_dict(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows, "problems": self.problem_count,
                "problems_by_kind": dict(self.kinds.most_common()), "duplicate_rows": self.duplicate_count,
                "first_problems": self.problems[:100], "first_duplicates": self.duplicates[:100]}


def _kind(problem: str) -> str:
    """A problem without its variable parts, for counting.

    >>> _kind("message 3: tool result for call 'x7', which the assistant turn before it did not make")
    "message N: tool result for call '…', which the assistant turn before it did not make"
    """
    import re

    problem = re.sub(r"'[^']*'", "'…'", problem.split(" (", 1)[0])
    return re.sub(r"\b(message|line) \d+", r"\1 N", re.sub(r"\[\d+\]", "[]", problem))


def validate_file(path: str | Path, target: str, algorithm: str, progress: bool | None = False) -> Report:
    """Validate every row of a training file; problems are ``file:line: what``.

    Args:
        path: a ``.jsonl`` or ``.parquet`` file.
        target: ``trl``, ``nemo_rl``, ``verl`` or ``openrlhf``.
        algorithm: one of the target's algorithms.
        progress: show a progress bar on standard error; ``None`` shows it only on a terminal.

    Returns:
        A {class}`Report`: ``problems`` that a loader would reject or mistrain on, and
        ``duplicates``, rows that repeat an earlier one.

    Raises:
        KeyError: no format writer declares rows for this target and algorithm.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "kto.jsonl"
    >>> _ = p.write_text('{"prompt": [{"role": "user", "content": "2+2?"}], "completion": "4", "label": true}\\n'
    ...                  '{"prompt": [{"role": "user", "content": "2+2?"}], "completion": "", "label": 1}\\n')
    >>> [line.split(": ", 1)[1] for line in validate_file(p, "trl", "kto").problems]
    ['completion: an empty string', 'label: expected true or false, got 1']
    """
    from .io import sha256_of

    specs = SPECS.get((target, algorithm))
    if specs is None:
        known = ", ".join(f"{t} {a}" for t, a in sorted(SPECS))
        raise KeyError(f"no specification for {target} {algorithm}; known: {known}")
    report = Report(str(path), sha256=sha256_of(path))
    spec: RowSpec | None = None
    seen_rows: dict[bytes, int] = {}
    seen_unique: dict[Any, int] = {}
    rows = iter_rows(path)
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm

        rows = tqdm(rows, unit=" rows", desc=f"validating {Path(path).name}", file=sys.stderr, mininterval=0.5)
    for number, row, problem in rows:
        where = f"{path}:{number}" if number else str(path)
        if row is None:
            report.add(where, problem)
            continue
        report.rows += 1
        if problem:
            report.add(where, problem)
        spec = spec or choose_spec(specs, row)
        for found in row_problems(row, spec):
            report.add(where, found)
        digest = hashlib.blake2b(orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
                                              | orjson.OPT_NON_STR_KEYS), digest_size=16).digest()
        if digest in seen_rows:
            report.add_duplicate(where, seen_rows[digest])
        else:
            seen_rows[digest] = number
        if spec.unique and isinstance(row, dict):
            present, value = _get(row, spec.unique)
            if present and value is not None:
                key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS) if isinstance(value, (dict, list)) else value
                if key in seen_unique:
                    report.add(where, f"{spec.unique} {value!r} repeats line {seen_unique[key]}")
                else:
                    seen_unique[key] = number
    if report.rows == 0 and not report.problem_count:
        report.add(str(path), "no rows")
    return report
