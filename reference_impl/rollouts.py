"""Stream NeMo Gym rollout records from JSONL files, one record at a time.

NeMo Gym's ``gym eval run`` (``ng_collect_rollouts`` before 0.7) writes one JSON object per line. This module reads such files
(plain or gzip-compressed) line by line, so a file of any size is never held in memory,
and turns every line that is not a usable record into a {class}`RolloutError` that names
the file, the line and what is wrong.

Two kinds of "not usable" are kept apart:

* a **rejected** line is malformed: not UTF-8, not JSON, not an object, or a record whose
  fields have the wrong types (see {func}`record_problem`);
* a **skipped** record is well formed but cannot become training data: it has no
  ``response`` or no ``reward``, it is masked, or it is a failure record
  (see {func}`skip_reason`).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import orjson

__all__ = [
    "Rollout",
    "RolloutError",
    "open_binary",
    "parse_line",
    "read_record",
    "record_problem",
    "iter_rollouts",
    "trajectory_items",
    "prompt_input",
    "reward_of",
    "task_index",
    "task_key",
    "group_key",
    "skip_reason",
    "flatten_step_lists",
    "GROUND_TRUTH_FIELDS",
    "ground_truth",
    "ROLLOUT_FIELDS",
    "task_row",
]


class RolloutError(ValueError):
    """A line of a rollout file that cannot be read as a record.

    Args:
        path: the file.
        line: the 1-based line number.
        reason: what is wrong, in words.

    >>> str(RolloutError("rollouts.jsonl", 3, "not valid JSON"))
    'rollouts.jsonl:3: not valid JSON'
    """

    def __init__(self, path: str | Path, line: int, reason: str):
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}")

    def as_row(self) -> dict:
        """The line of a rejects file that lists this error.

        >>> RolloutError("rollouts.jsonl", 3, "not valid JSON").as_row()
        {'file': 'rollouts.jsonl', 'line': 3, 'reason': 'not valid JSON'}
        """
        return {"file": self.path, "line": self.line, "reason": self.reason}

    def __reduce__(self):  # sent back by worker processes
        return RolloutError, (self.path, self.line, self.reason)


@dataclass(frozen=True, slots=True)
class Rollout:
    """One parsed rollout record and where it came from.

    Attributes:
        path: the file the record was read from.
        line: its 1-based line number.
        record: the JSON object, as NeMo Gym wrote it.
        raw: the line as it was read (bytes), when the reader has it.
        offset: where the line starts in its file (bytes), when the file is not compressed:
            enough to read the line again without keeping it.
    """

    path: str
    line: int
    record: dict
    raw: bytes | None = field(default=None, repr=False, compare=False)
    offset: int | None = field(default=None, repr=False, compare=False)


def open_binary(path: str | Path) -> BinaryIO:
    """Open a rollout file for binary reading, decompressing ``.gz`` files.

    Args:
        path: a ``.jsonl`` or ``.jsonl.gz`` file.

    Returns:
        A binary file object; iterate it for lines.
    """
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb", buffering=1 << 20)


def parse_line(raw: bytes, path: str | Path = "<input>", line: int = 1) -> dict:
    """Parse one line of a rollout file into a record.

    Args:
        raw: the bytes of the line, with or without its newline.
        path: the file, for the error message.
        line: the 1-based line number, for the error message.

    Returns:
        The record, a ``dict``.

    Raises:
        RolloutError: the line is not UTF-8, not JSON, or not a JSON object.

    >>> parse_line(b'{"reward": 1.0}\\n')
    {'reward': 1.0}
    >>> parse_line(b'<PLACEHOLDER ROW>', "x.jsonl", 7)
    Traceback (most recent call last):
    ...
    reference_impl.rollouts.RolloutError: x.jsonl:7: not valid JSON (unexpected character, expected a JSON value: column 1)
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uexc:
            raise RolloutError(path, line, f"not valid UTF-8 (byte {uexc.start})") from None
        message = re.sub(r"line \d+ column (\d+) \(char \d+\)", r"column \1", str(exc))
        if not raw.endswith(b"\n") and raw.lstrip().startswith(b"{"):
            raise RolloutError(path, line, f"truncated last line, not valid JSON ({message})") from None
        if "unexpected content after document" in message:
            message += "; two records on one line: files joined without a final newline?"
        raise RolloutError(path, line, f"not valid JSON ({message})") from None
    if not isinstance(value, dict):
        raise RolloutError(path, line, f"a JSON {_json_type(value)}, not an object")
    return value


def read_record(raw: bytes, path: str | Path = "<input>", line: int = 1) -> dict:
    """A line as the record every reader of this package works on: parsed ({func}`parse_line`),
    and aviary's step lists made one trajectory ({func}`flatten_step_lists`).

    >>> read_record(b'{"responses_create_params": {"input": []}, "response": {"output": [[{"type": "message", "role": "user", "content": "q"}]]}}')
    {'responses_create_params': {'input': [{'type': 'message', 'role': 'user', 'content': 'q'}]}, 'response': {'output': []}}
    """
    return flatten_step_lists(parse_line(raw, path, line))


def _json_type(value: Any) -> str:
    """Name a JSON value's type as JSON does.

    >>> [_json_type(v) for v in (None, True, 1, 1.5, "a", [], {})]
    ['null', 'boolean', 'number', 'number', 'string', 'array', 'object']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def record_problem(record: dict) -> str | None:
    """Say what makes a parsed record malformed, or return ``None`` when it is well formed.

    Only the fields this package reads are checked, and only their types: a record may
    lack ``response`` or ``reward`` (that is a reason to skip it, see {func}`skip_reason`),
    but when they are there they must have the right shape.

    Args:
        record: a parsed JSON object.

    Returns:
        ``None``, or a sentence naming the field and what is wrong with it.

    >>> record_problem({"responses_create_params": {"input": "hi"}, "reward": 1})
    >>> record_problem({"responses_create_params": {"input": "hi"}, "reward": "high"})
    'reward is a string, expected a number'
    >>> record_problem({"response": {"output": [["nested"]]}, "responses_create_params": {"input": []}})
    'response.output[0] is an array, expected an object'
    >>> record_problem({"responses_create_params": {"input": "hi"}, "agent_ref": "math"})
    'agent_ref is a string, expected an object'
    """
    params = record.get("responses_create_params")
    if params is None and "response" in record and "output" not in record:
        return "missing responses_create_params"
    if params is not None:
        if not isinstance(params, dict):
            return f"responses_create_params is {_a(params)}, expected an object"
        if "input" not in params:
            return "missing responses_create_params.input"
        problem = _items_problem(params["input"], "responses_create_params.input", allow_string=True)
        if problem:
            return problem
        tools = params.get("tools")
        if tools is not None:
            if not isinstance(tools, list):
                return f"responses_create_params.tools is {_a(tools)}, expected an array"
            for i, tool in enumerate(tools):
                if not isinstance(tool, dict):
                    return f"responses_create_params.tools[{i}] is {_a(tool)}, expected an object"
    response = record.get("response")
    if response is not None:
        if not isinstance(response, dict):
            return f"response is {_a(response)}, expected an object"
        problem = _items_problem(response.get("output", []), "response.output", allow_string=False)
        if problem:
            return problem
    if "output" in record and "response" not in record:
        problem = _items_problem(record["output"], "output", allow_string=False)
        if problem:
            return problem
    reward = record.get("reward")
    if reward is not None:
        if isinstance(reward, bool) or not isinstance(reward, (int, float)):
            return f"reward is {_a(reward)}, expected a number"
        if not math.isfinite(reward):
            return f"reward is {reward}, expected a finite number"
    components = record.get("reward_components")
    if components is not None and not isinstance(components, dict):
        return f"reward_components is {_a(components)}, expected an object"
    agent_ref = record.get("agent_ref")
    if agent_ref is not None and not isinstance(agent_ref, dict):
        return f"agent_ref is {_a(agent_ref)}, expected an object"
    for key in ("_ng_task_index", "_ng_rollout_index"):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{key} is {_a(value)}, expected an integer"
    return None


def _a(value: Any) -> str:
    """'a string', 'an array', ... for messages.

    >>> _a([]), _a("x")
    ('an array', 'a string')
    """
    name = _json_type(value)
    return ("an " if name[0] in "aeiou" else "a ") + name


def _items_problem(items: Any, where: str, *, allow_string: bool) -> str | None:
    if isinstance(items, str) and allow_string:
        return None
    if not isinstance(items, list):
        expected = "a string or an array" if allow_string else "an array"
        return f"{where} is {_a(items)}, expected {expected}"
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return f"{where}[{i}] is {_a(item)}, expected an object"
    return None


def iter_rollouts(path: str | Path, span: tuple[int, int] | None = None) -> Iterator[Rollout | RolloutError]:
    """Stream a rollout file: a {class}`Rollout` for each good line, a {class}`RolloutError` for each bad one.

    Errors are yielded, not raised, so that the caller decides the policy (stop at the
    first, or reject and go on). Blank lines are passed over.

    Args:
        path: a ``.jsonl`` or ``.jsonl.gz`` file.
        span: ``(start, end)``: read only the lines that start in this byte range of an
            uncompressed file (``start`` at the start of a line); they keep their numbers.

    Yields:
        ``Rollout`` or ``RolloutError``, in file order. A ``Rollout`` of an uncompressed file
        (not a pipe) has its line's byte ``offset``.
    """
    path = str(path)
    with open_binary(path) as handle:
        lines: Iterator[bytes] = handle
        first, position = 1, 0
        if span is not None:
            first, position = 1 + _lines_before(handle, span[0]), span[0]
            lines = _lines_in(handle, *span)
        seekable = handle.seekable() and not isinstance(handle, gzip.GzipFile)  # not a pipe, not compressed
        number = first - 1
        try:
            for number, raw in enumerate(lines, start=first):
                start, position = position, position + len(raw)
                if raw.isspace() or not raw:  # isspace: no copy of the line
                    continue
                try:
                    record = read_record(raw, path, number)
                except RolloutError as error:
                    yield error
                    continue
                problem = record_problem(record)
                if problem is not None:
                    yield RolloutError(path, number, problem)
                    continue
                yield Rollout(path, number, record, raw, start if seekable else None)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            yield RolloutError(path, number + 1, _compressed_problem(exc))


def _compressed_problem(exc: Exception) -> str:
    """What a broken ``.gz`` stream means, in words.

    >>> _compressed_problem(EOFError("Compressed file ended before the end-of-stream marker was reached"))
    'the compressed file ends early (an interrupted copy?); the lines before it were read'
    """
    if isinstance(exc, EOFError):
        return "the compressed file ends early (an interrupted copy?); the lines before it were read"
    return f"the compressed data is corrupt ({exc}); the lines before it were read"


def _lines_before(handle: BinaryIO, offset: int, window: int = 4 << 20) -> int:
    """The number of lines that end before ``offset``.

    The file is mapped ``window`` bytes at a time (a multiple of the system's allocation
    granularity), and each newline is found in place (``mmap.find``, no copy of the bytes): a
    rollout line holds kilobytes, so this is about twice as fast as reading the bytes to count
    them, the way taken where the file cannot be mapped. One window at a time keeps the
    mapped pages out of the process's resident memory (a whole mapping added the file's size
    to it).

    >>> import io
    >>> _lines_before(io.BytesIO(b"a\\nbb\\nccc\\n"), 5), _lines_before(io.BytesIO(b"a\\nbb\\n"), 0)
    (2, 0)
    """
    if offset <= 0:
        return 0
    try:
        import mmap

        fileno = handle.fileno()
        count = 0
        for start in range(0, offset, window):
            end = min(start + window, offset)
            with mmap.mmap(fileno, end - start, offset=start, access=mmap.ACCESS_READ) as mapped:
                position = mapped.find(b"\n")
                while position >= 0:
                    count += 1
                    position = mapped.find(b"\n", position + 1)
        return count
    except (AttributeError, OSError, ValueError):  # not a file on disk (a pipe, a buffer)
        return _lines_counted(handle, offset)


def _lines_counted(handle: BinaryIO, offset: int) -> int:
    """{func}`_lines_before`, reading the bytes in 1 MiB blocks."""
    handle.seek(0)
    count, left = 0, offset
    while left > 0:
        block = handle.read(min(left, 1 << 20))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count


def _lines_in(handle: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    """The lines that start at or after ``start`` and before ``end``."""
    handle.seek(start)
    position = start
    for raw in handle:
        if position >= end:
            return
        position += len(raw)
        yield raw


def trajectory_items(record: dict) -> list[dict]:
    """The trajectory of a rollout: ``response.output``.

    Real records keep it in ``response.output``; code that reads a top-level
    ``output`` gets nothing from them. A top-level ``output`` is accepted too; the
    real one wins.

    Args:
        record: a rollout record.

    Returns:
        The list of Responses-API output items (possibly empty).

    >>> trajectory_items({"response": {"output": [{"type": "message"}]}})
    [{'type': 'message'}]
    >>> trajectory_items({"output": [{"type": "message"}]})  # a top-level output
    [{'type': 'message'}]
    """
    response = record.get("response")
    if isinstance(response, dict) and response.get("output") is not None:
        return response["output"]
    output = record.get("output")
    return output if isinstance(output, list) else []


def prompt_input(record: dict) -> str | list:
    """The prompt of a rollout: ``responses_create_params.input`` (a string or a list of items).

    >>> prompt_input({"responses_create_params": {"input": "What is 2+2?"}})
    'What is 2+2?'
    """
    params = record.get("responses_create_params") or {}
    value = params.get("input")
    return value if value is not None else []


def reward_of(record: dict, component: str | None = None) -> float | None:
    """The reward of a rollout, or one of its ``reward_components``.

    Args:
        record: a rollout record.
        component: a key of ``reward_components``; ``None`` for the scalar ``reward``.

    Returns:
        The reward as a float, or ``None`` when the record has none.

    >>> reward_of({"reward": 1})
    1.0
    >>> reward_of({"reward": 0.5, "reward_components": {"format": 0.0}}, "format")
    0.0
    >>> reward_of({}) is None
    True
    """
    if component is None:
        value = record.get("reward")
    else:
        value = (record.get("reward_components") or {}).get(component, record.get(component))
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def task_index(record: dict) -> int | None:
    """The task number the collector stamped: ``_ng_task_index``, or aviary's ``task_idx``.

    >>> task_index({"_ng_task_index": 4}), task_index({"task_idx": 2}), task_index({})
    (4, 2, None)
    """
    for name in ("_ng_task_index", "task_idx"):
        value = record.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def task_key(record: dict) -> str:
    """A key shared by the rollouts of one task: the same agent, task number and prompt.

    A task number alone never makes two records one task: environments number their tasks
    from 0, so the files of several environments share every number, and a game with a
    random start (blackjack) gives every rollout the number 0 with a different hand in its
    prompt. The key is the agent (``agent_ref.name``, when present), the task number (when
    present) and a digest of what the model was asked: ``responses_create_params``'
    ``input``, ``instructions`` and ``tools``.

    Rollouts of different input files are different tasks too: see {func}`group_key`.

    Args:
        record: a rollout record.

    Returns:
        ``agent/task-N/digest``, leaving out the parts the record lacks.

    >>> a = {"agent_ref": {"name": "blackjack"}, "_ng_task_index": 0, "responses_create_params": {"input": "hand [10, 3]"}}
    >>> b = {"agent_ref": {"name": "blackjack"}, "_ng_task_index": 0, "responses_create_params": {"input": "hand [9, 9]"}}
    >>> task_key(a)
    'blackjack/task-0/6cdf6e2e54c43632'
    >>> task_key(a) == task_key(b)
    False
    >>> task_key({"responses_create_params": {"input": "hi"}})
    '923fd2c7ea946066'
    """
    if _last_key[0] is record:  # the same record, pushed to another output of the run
        return _last_key[1]
    params = record.get("responses_create_params")
    params = params if isinstance(params, dict) else {}
    asked = [prompt_input(record), params.get("instructions"), params.get("tools")]
    digest = hashlib.sha1(orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    agent = record.get("agent_ref")
    name = agent.get("name") if isinstance(agent, dict) else None
    index = task_index(record)
    parts = [name if isinstance(name, str) and name else None, None if index is None else f"task-{index}", digest]
    _last_key[:] = record, "/".join(part for part in parts if part is not None)
    return _last_key[1]


_last_key: list = [None, None]
"""The record {func}`task_key` keyed last, and its key: each output of a run asks for it."""


def group_key(rollout: Rollout) -> tuple[str, str]:
    """What makes rollouts one task group: the same input file and the same {func}`task_key`.

    Every per-task feature uses it: prompt rows (GRPO, PPO), preference pairs, the group
    filters and the per-task statistics.

    >>> record = {"_ng_task_index": 0, "responses_create_params": {"input": "q"}}
    >>> group_key(Rollout("math.jsonl", 1, record)) == group_key(Rollout("math.jsonl", 9, record))
    True
    >>> group_key(Rollout("math.jsonl", 1, record)) == group_key(Rollout("code.jsonl", 1, record))
    False
    """
    return rollout.path, task_key(rollout.record)


ROLLOUT_FIELDS = frozenset({"response", "reward", "reward_components", "mask_sample", "failure_kind", "failure_reason",
                            "verification_skipped"})
"""The top-level fields a rollout adds to the task row it was run from: the model's
``response`` and what ``/verify`` answers for every environment (``BaseVerifyResponse``,
``BaseMultiRewardVerifyResponse`` in ``nemo_gym/base_resources_server.py``, 0.7.0), and the
agent's ``verification_skipped``. The collector's stamps start with ``_ng_`` or ``ng_``."""


def task_row(record: dict) -> dict:
    """The top-level fields of the task row a rollout was run from, as the record holds them.

    The record is the environment's ``/verify`` answer, which echoes the whole request: the
    task row (``responses_create_params``, ``agent_ref`` and the environment's own fields,
    such as ``expected_answer``, ``instruction_id_list`` or tau2's ``task``), then the
    ``response``. Left out are the fields every rollout adds ({data}`ROLLOUT_FIELDS`), the
    reward components flattened to the top level, and the collector's stamps (``_ng_*``,
    ``ng_*``). What an environment's verifier adds of its own (``extracted_answer``...)
    cannot be told apart from the task's fields, and stays: request models ignore the
    fields they do not declare.

    Args:
        record: a rollout record.

    Returns:
        The fields, in the record's order; values are not copied.

    >>> task_row({"responses_create_params": {"input": "q"}, "agent_ref": {"name": "math"}, "expected_answer": "4",
    ...           "response": {"output": []}, "reward": 1.0, "reward_components": {"format": 1.0}, "format": 1.0,
    ...           "_ng_task_index": 0, "_ng_rollout_index": 2, "ng_trajectory": {}, "kwargs": [{"n": 1}]})
    {'responses_create_params': {'input': 'q'}, 'agent_ref': {'name': 'math'}, 'expected_answer': '4', 'kwargs': [{'n': 1}]}
    """
    components = record.get("reward_components")
    components = components if isinstance(components, dict) else {}
    return {name: value for name, value in record.items()
            if name not in ROLLOUT_FIELDS and name not in components and not name.startswith(("_ng_", "ng_"))}


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
"""Where NeMo Gym environments write the answer a verifier checks, in the order looked up.

``expected_answer`` is the most common (math, mcqa, ...); ``expected_action`` is written by
``single_step_tool_use_with_argument_comparison`` and ``image_tools``, ``expected_output`` by
``arc_agi`` and ``nvarc``; others use ``answer``, ``ground_truth``, ``verifier_metadata``,
``target``, ``solution`` or ``label``. ``reference_impl/rewards.py`` looks them up in the same order."""


def ground_truth(record: dict, field: str | None = None) -> tuple[str, Any] | None:
    """The answer a reward function checks, and the field it came from.

    Args:
        record: a rollout record (or a row whose columns are its fields).
        field: look only here; ``None`` looks up {data}`GROUND_TRUTH_FIELDS` in order.

    Returns:
        ``(field, value)`` for the first field present and not null or empty, or ``None``.

    >>> ground_truth({"expected_action": {"name": "zoom"}, "answer": "x"})
    ('expected_action', {'name': 'zoom'})
    >>> ground_truth({"expected_answer": "4"}, field="answer") is None
    True
    >>> ground_truth({"expected_answer": ""}) is None
    True
    """
    for name in (field,) if field else GROUND_TRUTH_FIELDS:
        value = record.get(name)
        if value is not None and value != "" and value != [] and value != {}:
            return name, value
    return None


def flatten_step_lists(record: dict) -> dict:
    """aviary's trajectory as one list of items; every other record as it is.

    aviary's environments write ``response.output`` as a list of steps, each the whole
    conversation so far (step k+1 repeats step k and adds to it), with an empty
    ``responses_create_params.input``: the task is the leading user message of the steps.
    The last step is the trajectory; its leading messages that are not the model's become
    the prompt when the record has none.

    Args:
        record: a parsed record.

    Returns:
        The record, or a copy whose ``response.output`` is the last step list (less the
        prompt, moved to ``responses_create_params.input`` when that was empty).

    >>> user = {"type": "message", "role": "user", "content": "2+2?"}
    >>> call = {"type": "function_call", "call_id": "c", "name": "submit", "arguments": "{}"}
    >>> r = flatten_step_lists({"responses_create_params": {"input": []}, "response": {"output": [[user], [user, call]]}})
    >>> r["responses_create_params"]["input"], r["response"]["output"]
    ([{'type': 'message', 'role': 'user', 'content': '2+2?'}], [{'type': 'function_call', 'call_id': 'c', 'name': 'submit', 'arguments': '{}'}])
    """
    response = record.get("response")
    steps = response.get("output") if isinstance(response, dict) else None
    if not (isinstance(steps, list) and steps and all(isinstance(step, list) for step in steps)):
        return record
    last = steps[-1]
    params = record.get("responses_create_params")
    prompt: list = []
    if isinstance(params, dict) and params.get("input") in ([], "", None):
        while len(prompt) < len(last) and _is_prompt_message(last[len(prompt)]):
            prompt.append(last[len(prompt)])
        params = {**params, "input": prompt}
    return {**record, "responses_create_params": params, "response": {**response, "output": last[len(prompt):]}}


def _is_prompt_message(item: Any) -> bool:
    """A message that the model was given rather than one it wrote."""
    return isinstance(item, dict) and item.get("role") in ("user", "system", "developer") and item.get(
        "type", "message") == "message"


NOT_A_ROLLOUT = "not a rollout: no responses_create_params (a judge's or a user simulator's row?)"
"""The skip reason of a JSON object that no model call made (NeMo Gym writes such rows beside rollouts)."""


def skip_reason(record: dict) -> str | None:
    """Why a well-formed record cannot become training data, or ``None`` when it can.

    Args:
        record: a rollout record that passed {func}`record_problem`.

    Returns:
        ``None``, or one of {data}`NOT_A_ROLLOUT`, ``"failure record"``, ``"masked sample"``, ``"no response"``,
        ``"no reward"``, ``"empty trajectory"``.

    >>> skip_reason({"responses_create_params": {"input": "q"}})
    'no response'
    >>> skip_reason({"policy_response": "...", "answer_judgment": "yes"})
    "not a rollout: no responses_create_params (a judge's or a user simulator's row?)"
    >>> skip_reason({"response": {"output": [{"type": "message"}]}, "reward": 0.0, "mask_sample": True})
    'masked sample'
    >>> skip_reason({"response": {"output": [{"type": "message"}]}, "reward": 0.0}) is None
    True
    """
    if all(record.get(name) is None for name in ("responses_create_params", "response", "output")):
        return NOT_A_ROLLOUT
    if record.get("_ng_failure_class"):
        return "failure record"
    if record.get("mask_sample") is True:
        return "masked sample"
    if record.get("response") is None and record.get("output") is None:
        return "no response"
    if reward_of(record) is None:
        return "no reward"
    if not trajectory_items(record):
        return "empty trajectory"
    return None
