"""Pieces that several formats share: the conversation of a rollout, its task fields, its reward."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple

import orjson

from ..messages import assistant_runs, chat_tool_schemas, items_to_messages, prompt_media, prompt_messages
from ..tally import Skip, Tally
from ..pairs import PairAt, PreferencePair, TaskExtremes, read_pairs
from ..rows import messages_problem, problem_kind
from ..rollouts import GROUND_TRUTH_FIELDS, ground_truth, reward_of, trajectory_items
from .base import INVALID_ROW, ConvertOptions, FormatStep

__all__ = ["conversation", "prompt_conversation", "IMAGELESS", "BACK_TO_BACK", "sft_messages", "task_fields", "reward_for", "KNOWN_TASK_FIELDS",
           "plain_messages", "PairedConversation", "paired_conversation", "PreferencePairs",
           "pairs_converter", "ground_truth_of",
           "require_ground_truth", "completion_problem"]

KNOWN_TASK_FIELDS = (
    *GROUND_TRUTH_FIELDS,
    "question",
    "expected_tool_name",
    "expected_calls",
    "instruction_id_list",
    "kwargs",
    "task_name",
    "id",
    "uuid",
)
"""Record fields that describe the task rather than one rollout's result.

Verifiers add both kinds at the top level of a record: ``expected_answer`` is the task's,
``extracted_answer`` or ``judge_evaluations`` are one rollout's. Only the first kind
belongs in a prompt dataset."""


IMAGELESS = "the prompt has {} parts, which a text format cannot hold (--keep-imageless keeps the record without them)"
"""The skip reason of a record whose prompt is not all text (see {func}`conversation`)."""

BACK_TO_BACK = "assistant turns back to back (the record lacks what came between the model calls)"
"""What ``tally.flagged`` counts for a trajectory with consecutive assistant turns (osworld, langgraph agents)."""


def conversation(record: dict, options: ConvertOptions, tally: Tally) -> tuple[list[dict], list[dict], list[dict]]:
    """The prompt messages, the trajectory messages and the chat tool schemas of a record.

    What cannot be represented is counted in ``tally.dropped``. A prompt with images (or
    audio, or files) would lose them, and would not be the prompt the model saw: the record
    is skipped, unless ``options.keep_imageless``. A trajectory with assistant turns back to
    back is kept as it is and counted in ``tally.flagged``.

    Raises:
        Skip: the prompt is not all text.

    >>> t = Tally()
    >>> conversation({"responses_create_params": {"input": [{"role": "user", "content": [
    ...     {"type": "input_text", "text": "How many circles?"}, {"type": "input_image", "image_url": "data:..."}]}]}},
    ...     ConvertOptions(), t)
    Traceback (most recent call last):
    ...
    reference_impl.tally.Skip: the prompt has input_image parts, which a text format cannot hold (--keep-imageless keeps the record without them)
    >>> conversation({"responses_create_params": {"input": "q"}, "response": {"output": [
    ...     {"type": "message", "role": "assistant", "content": "a"}, {"type": "message", "role": "assistant", "content": "b"}]}},
    ...     ConvertOptions(), t)[1]
    [{'role': 'assistant', 'content': 'a'}, {'role': 'assistant', 'content': 'b'}]
    >>> dict(t.flagged)
    {'assistant turns back to back (the record lacks what came between the model calls)': 1}
    """
    converted = _remembered(record, options)
    if converted.dropped:
        tally.dropped.update(converted.dropped)
    if converted.flagged:
        tally.flagged[BACK_TO_BACK] += 1
    if isinstance(converted.outcome, Skip):
        raise Skip(converted.outcome.reason)
    return converted.outcome


_last: list = [None, None, None]
"""The record {func}`conversation` converted last, its options and what came of it. One run
pushes each record to every output in turn, and each asks for the same conversation (or its
prompt alone): it is made once. The messages are shared, so no writer may change them (none
does)."""


def _remembered(record: dict, options: ConvertOptions, whole: bool = True) -> "_Converted":
    """{func}`_converted`, made once for the record converted last. Asked for the prompt alone
    (not ``whole``), the record's whole conversation serves if it was made; else the prompt is
    converted alone and not kept."""
    if _last[0] is record and _last[1] is options:
        return _last[2]
    if not whole:
        return _converted(record, options, whole=False)
    _last[:] = record, options, _converted(record, options)
    return _last[2]


class _Converted(NamedTuple):
    """What {func}`conversation` gives for a record, nothing counted yet (a tuple: one is
    made for every record).

    Attributes:
        outcome: ``(prompt, trajectory, tools)``, or the Skip it raises.
        prompt_dropped: what the prompt and the tools dropped.
        dropped: what the whole conversation dropped (the prompt's, the trajectory's, the
            tools'), in that order.
        flagged: whether the trajectory has assistant turns back to back.
    """

    outcome: Any
    prompt_dropped: Mapping[str, int]
    dropped: Mapping[str, int]
    flagged: bool


def _converted(record: dict, options: ConvertOptions, whole: bool = True) -> _Converted:
    """A record's conversation, and its prompt's, converted once (see {class}`_Converted`);
    not ``whole``, the prompt's alone (the trajectory is left empty)."""
    media = prompt_media(record)
    if media and not options.keep_imageless:
        return _Converted(Skip(IMAGELESS.format(", ".join(sorted(media)))), {}, {}, False)
    prompt_dropped: defaultdict = defaultdict(int)  # most records drop nothing: plain, cheap counters
    prompt = prompt_messages(record, options.messages, prompt_dropped)
    trajectory_dropped: defaultdict = defaultdict(int)
    trajectory = items_to_messages(trajectory_items(record) if whole else [], options.messages, trajectory_dropped)
    tools_dropped: defaultdict = defaultdict(int)
    tools = chat_tool_schemas(record, tools_dropped)
    return _Converted((prompt, trajectory, tools), _added(prompt_dropped, tools_dropped),
                      _added(prompt_dropped, trajectory_dropped, tools_dropped), bool(assistant_runs(trajectory)))


def _added(first: Mapping[str, int], *others: Mapping[str, int]) -> Mapping[str, int]:
    """Counts added up, in the order their keys first come; ``first`` itself when the others
    are empty.

    >>> dict(_added({"a": 1}, {"b": 2, "a": 1}, {})), _added(c := {"a": 1}, {}) is c
    ({'a': 2, 'b': 2}, True)
    """
    if not any(others):
        return first
    total = dict(first)
    for counts in others:
        for key, count in counts.items():
            total[key] = total.get(key, 0) + count
    return total


def prompt_conversation(record: dict, options: ConvertOptions, tally: Tally) -> tuple[list[dict], list[dict]]:
    """The prompt of a rollout as chat messages, and its tools: {func}`conversation` of the
    record without its response (for prompt datasets), counting only what the prompt and the
    tools dropped.

    Raises:
        Skip: as {func}`conversation` does for the prompt.

    >>> t = Tally()
    >>> prompt_conversation({"responses_create_params": {"input": "q", "tools": [{"type": "web_search"}]},
    ...     "response": {"output": [{"type": "reasoning", "summary": []}]}}, ConvertOptions(), t)
    ([{'role': 'user', 'content': 'q'}], [])
    >>> dict(t.dropped), dict(t.flagged)
    ({'web_search tool': 1}, {})
    """
    converted = _remembered(record, options, whole=False)
    if converted.prompt_dropped:
        tally.dropped.update(converted.prompt_dropped)
    if isinstance(converted.outcome, Skip):
        raise Skip(converted.outcome.reason)
    prompt, _, tools = converted.outcome
    return prompt, tools


def sft_messages(prompt: list[dict], trajectory: list[dict], tally: Tally) -> list[dict]:
    """The whole conversation for SFT: it must end with an assistant turn.

    Messages after the last assistant turn (a tool result the model never answered, in a
    trajectory cut short) are dropped and counted.

    Raises:
        Skip: the trajectory has no assistant turn at all.

    >>> t = Tally()
    >>> sft_messages([{"role": "user", "content": "hi"}],
    ...              [{"role": "assistant", "content": "", "tool_calls": []}, {"role": "tool", "content": "x"}], t)
    [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': '', 'tool_calls': []}]
    >>> dict(t.dropped)
    {'messages after the last assistant turn': 1}
    """
    end = _assistant_end(trajectory)
    if end == 0:
        raise Skip(NO_ASSISTANT_TURN)
    if end < len(trajectory):
        tally.dropped["messages after the last assistant turn"] += len(trajectory) - end
    return prompt + trajectory[:end]


NO_ASSISTANT_TURN = "no assistant turn in the trajectory"


def _assistant_end(trajectory: list[dict]) -> int:
    """Where the messages up to the last assistant turn end (0: there is none).

    >>> _assistant_end([{"role": "assistant"}, {"role": "tool"}]), _assistant_end([{"role": "tool"}])
    (1, 0)
    """
    for end in range(len(trajectory), 0, -1):
        if trajectory[end - 1]["role"] == "assistant":
            return end
    return 0


def plain_messages(messages: list[dict]) -> list[dict]:
    """Messages reduced to ``role`` and ``content`` (for prompt columns that hold only those).

    >>> plain_messages([{"role": "user", "content": "hi", "name": "x"}])
    [{'role': 'user', 'content': 'hi'}]
    """
    return [{"role": m["role"], "content": m.get("content") or ""} for m in messages]


def _column_value(value: Any) -> Any:
    """Strings, numbers and booleans as they are; anything else as a JSON string (one type per column)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return orjson.dumps(value).decode()


def task_fields(record: dict, options: ConvertOptions) -> dict:
    """The task's fields of a record (for reward functions), each a scalar or a JSON string.

    >>> task_fields({"expected_answer": "42", "extracted_answer": "41", "kwargs": [{"n": 1}]}, ConvertOptions())
    {'expected_answer': '42', 'kwargs': '[{"n":1}]'}
    >>> task_fields({"expected_answer": "42"}, ConvertOptions(task_fields=("expected_answer", "question")))
    {'expected_answer': '42', 'question': None}
    """
    if options.task_fields is not None:
        return {name: _column_value(record.get(name)) for name in options.task_fields}
    return {name: _column_value(record[name]) for name in KNOWN_TASK_FIELDS if name in record}


def require_ground_truth(record: dict, options: ConvertOptions) -> tuple[str, Any]:
    """The ground truth a reward function will check, and its field.

    Raises:
        reference_impl.tally.Skip: the record has none: an RL prompt without it gives
            no reward signal (TRL logs "All reward functions returned None" and learns nothing).

    >>> require_ground_truth({"expected_output": [[1, 2]]}, ConvertOptions())
    ('expected_output', [[1, 2]])
    >>> require_ground_truth({"question": "q"}, ConvertOptions())
    Traceback (most recent call last):
    ...
    reference_impl.tally.Skip: no ground truth (none of expected_answer, expected_action, expected_output, answer, ground_truth, verifier_metadata, target, solution, label; name the field with --ground-truth-field)
    """
    found = ground_truth(record, options.ground_truth_field)
    if found is None:
        if options.ground_truth_field:
            raise Skip(f"no {options.ground_truth_field} (the ground truth)")
        raise Skip(f"no ground truth (none of {', '.join(GROUND_TRUTH_FIELDS)}; name the field with --ground-truth-field)")
    return found


def ground_truth_of(record: dict, options: ConvertOptions) -> str:
    """The ground truth as a string (one type for a parquet column; JSON for anything but a string).

    >>> ground_truth_of({"expected_answer": 42}, ConvertOptions())
    '42'
    >>> ground_truth_of({"expected_action": {"name": "zoom", "arguments": {"x": 1}}}, ConvertOptions())
    '{"name":"zoom","arguments":{"x":1}}'
    """
    _, value = require_ground_truth(record, options)
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def reward_for(record: dict, options: ConvertOptions) -> float:
    """The reward the options name (``reward`` or a component).

    Raises:
        reference_impl.tally.Skip: the record has no such reward.
    """
    value = reward_of(record, options.reward_component)
    if value is None:
        raise Skip(f"no reward component {options.reward_component!r}" if options.reward_component else "no reward")
    return value


@dataclass(frozen=True)
class PairedConversation:
    """A task's preference pair as chat messages: the prompt, and the two trajectories, each
    ending with an assistant turn."""

    prompt: list[dict]
    chosen: list[dict]
    rejected: list[dict]
    tools: list[dict]
    pair: PreferencePair


def completion_problem(record: dict, options: ConvertOptions) -> str | None:
    """Why a rollout cannot be one side of a preference pair, or ``None``: its trajectory
    must end with a valid assistant turn, as the pair's row will be checked.

    >>> completion_problem({"responses_create_params": {"input": "q"}, "response": {"output": [
    ...     {"type": "function_call_output", "call_id": "c", "output": "1"}]}}, ConvertOptions())
    'no assistant turn in the trajectory'
    """
    outcome = _remembered(record, options).outcome  # what is dropped is counted when the pair is made
    if isinstance(outcome, Skip):
        return outcome.reason
    prompt, trajectory, _ = outcome
    end = _assistant_end(trajectory)
    if end == 0:
        return NO_ASSISTANT_TURN
    problem = messages_problem(prompt + trajectory[:end], ends_with_assistant=True)
    return None if problem is None else INVALID_ROW + problem_kind(problem)


def paired_conversation(pair: PreferencePair, tally: Tally, options: ConvertOptions) -> PairedConversation:
    """A task's preference pair as messages: the prompt, and each side's trajectory up to its last assistant turn."""
    prompt, chosen, tools = conversation(pair.chosen.record, options, tally)
    _, rejected, _ = conversation(pair.rejected.record, options, tally)
    return PairedConversation(prompt, sft_messages([], chosen, tally), sft_messages([], rejected, tally), tools, pair)


class PreferencePairs(FormatStep):
    """A preference format, push-style: each task's best and worst rollout are kept
    ({class}`~reference_impl.pairs.TaskExtremes`, merged across byte ranges), and the rows
    are made at the end, one per task that has a pair."""

    shape = "combine"
    records_per_row = 2

    def __init__(self, to_row: Callable[[PairedConversation], dict], options: ConvertOptions):
        self.to_row, self.options = to_row, options
        self.extremes = TaskExtremes()
        self.reward = lambda record: reward_of(record, options.reward_component)
        self.problem = lambda record: completion_problem(record, options)

    def push(self, rollout) -> None:
        self.extremes.offer(rollout, self.tally, self.reward, self.problem)

    @property
    def state(self) -> dict:
        return self.extremes.groups

    def merge(self, state: dict) -> None:
        self.extremes.merge(state)

    def finish(self) -> Iterator[dict]:
        yield from self.rows_of(self.extremes.pairs(self.tally, self.options.min_margin))

    def rows_of(self, pairs: Iterable[PreferencePair]) -> Iterator[dict]:
        """The rows of some pairs (those that pass), counted in the step's tally."""
        for pair in pairs:
            row = self.to_row(paired_conversation(pair, self.tally, self.options))
            if self.passes(row):
                yield row

    def finish_jobs(self, parts: int) -> list[Callable[[Callable[[dict], None]], Tally]]:
        """{meth}`finish` as about ``parts`` jobs that other processes can run. Each makes the
        rows of a run of consecutive pairs, hands them to the ``emit`` it is given, and returns
        what it counted; their rows, in order, are {meth}`finish`'s. The pairs' own counts
        (ties, single rollouts...) go to the step's tally here."""
        planned = list(self.extremes.plan(self.tally, self.options.min_margin))
        size = -(-len(planned) // max(parts, 1)) or 1
        return [partial(_pair_rows, self.to_row, self.options, self.specs, planned[start:start + size])
                for start in range(0, len(planned), size)]


def _pair_rows(to_row: Callable[[PairedConversation], dict], options: ConvertOptions, specs: tuple,
               planned: list[PairAt], emit: Callable[[dict], None]) -> Tally:
    """A job of {meth}`PreferencePairs.finish_jobs`: the rows of these pairs, and what they counted."""
    step = PreferencePairs(to_row, options)
    step.specs = specs
    step.start(Tally(), emit)
    for row in step.rows_of(read_pairs(planned)):
        emit(row)
    return step.tally


def pairs_converter(to_row: Callable[[PairedConversation], dict]):
    """A preference format's ``Algorithm.build``, from its row function."""
    return lambda options: PreferencePairs(to_row, options)
