"""Filter rollouts before training: by reward, by task group, by length, without duplicates.

Filters compose, and the output keeps the input's records byte for byte: each kept line is
copied as it was read, never parsed and written again. Every record dropped is counted with
its reason (``reward below 0.7``, ``task rewards do not vary``...), so that
``read == written + skipped + rejected``.

*Record filters* (reward range, masked and failed records, length) look at one record at a
time and run in one streaming pass. *Group filters* (the top k of each task, tasks whose
rewards do not vary, repeated trajectories) must see a whole task first, and a task's
rollouts are scattered through the file. A first pass keeps, per task, two numbers a
rollout (its reward and its line) and, for ``--dedupe``, a 16-byte fingerprint per distinct
trajectory; a second pass copies the lines that survived. The trajectories themselves are
never held, and the groups of two parts of a file merge into those of the whole.
"""

from __future__ import annotations

import hashlib
import heapq
import os
from array import array
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable, Iterator

import orjson

from .io import JsonlWriter
from .step import Step, pulled
from .tally import RunStopped
from .rollouts import Rollout, group_key, open_binary, reward_of, skip_reason, trajectory_items

__all__ = [
    "FilterOptions",
    "count_turns",
    "conversation_text",
    "conversation_chars",
    "trajectory_fingerprint",
    "record_drop_reason",
    "TaskGroup",
    "RecordFilter",
    "GroupFilter",
    "filter_step",
    "filter_converter",
    "RawLineWriter",
    "InputChanged",
    "tokenizer_counter",
]


@dataclass(frozen=True)
class FilterOptions:
    """What to keep. Every option left at its default keeps everything it governs.

    Attributes:
        min_reward: keep rewards at least this.
        max_reward: keep rewards at most this.
        reward_component: read the reward from this ``reward_components`` key (for the
            range, the top k and the uniform-group test).
        keep_masked: keep masked and failed records (dropped by default, as NeMo RL
            masks them out of the loss and the format writers skip them).
        top_k: keep the k highest-reward rollouts of each task (earlier lines win ties).
        drop_uniform_groups: drop tasks whose rollouts all have the same reward (GRPO
            learns nothing from them: every advantage is zero).
        dedupe: drop rollouts whose trajectory repeats an earlier one of the same task.
        max_turns: drop trajectories with more assistant turns than this.
        max_chars: drop conversations (prompt and trajectory) with more characters of text.
        max_tokens: drop conversations with more tokens than this, counted by ``count_tokens``.
        count_tokens: a function from a record to its token count (see {func}`tokenizer_counter`).
    """

    min_reward: float | None = None
    max_reward: float | None = None
    reward_component: str | None = None
    keep_masked: bool = False
    top_k: int | None = None
    drop_uniform_groups: bool = False
    dedupe: bool = False
    max_turns: int | None = None
    max_chars: int | None = None
    max_tokens: int | None = None
    count_tokens: Callable[[dict], int] | None = None

    @property
    def needs_groups(self) -> bool:
        """Whether a filter needs to see whole tasks (and so two passes)."""
        return self.top_k is not None or self.drop_uniform_groups or self.dedupe

    @property
    def needs_reward(self) -> bool:
        return self.min_reward is not None or self.max_reward is not None or self.top_k is not None or self.drop_uniform_groups


def count_turns(record: dict) -> int:
    """Assistant turns in a trajectory: runs of model items (messages, tool calls, reasoning)
    between the tool results and user messages.

    >>> count_turns({"response": {"output": [{"type": "reasoning"}, {"type": "function_call"},
    ...     {"type": "function_call_output"}, {"type": "message", "role": "assistant"}]}})
    2
    """
    turns = 0
    in_turn = False
    for item in trajectory_items(record):
        kind = item.get("type", "message")
        model_item = kind in ("function_call", "reasoning") or (kind == "message" and item.get("role") == "assistant")
        if model_item and not in_turn:
            turns += 1
        in_turn = model_item
    return turns


def conversation_text(record: dict) -> str:
    """The text of a rollout's conversation as a trainer sees it: the prompt's and the
    trajectory's messages, reasoning and tool-call arguments.

    >>> conversation_text({"responses_create_params": {"input": "2+2?"},
    ...     "response": {"output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "4"}]}]}})
    '2+2?\\n4'
    """
    from .messages import rollout_messages

    prompt, trajectory = rollout_messages(record, dropped=Counter())
    parts = []
    for message in prompt + trajectory:
        parts.append(message.get("reasoning_content") or "")
        parts.append(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            arguments = function.get("arguments")
            parts.append(f"{function.get('name', '')} {arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()}")
    return "\n".join(part for part in parts if part)


def conversation_chars(record: dict) -> int:
    """Characters of text in a rollout's conversation (see {func}`conversation_text`).

    >>> conversation_chars({"responses_create_params": {"input": "2+2?"}, "response": {"output": []}})
    4
    """
    return len(conversation_text(record))


_VOLATILE = frozenset({"id", "call_id", "status", "generation_log_probs", "prompt_token_ids", "generation_token_ids",
                       "logprobs", "annotations", "routed_experts"})


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def trajectory_fingerprint(record: dict) -> bytes:
    """A 16-byte hash of what a trajectory says, ignoring ids, statuses and token fields.

    >>> a = {"response": {"output": [{"id": "msg_1", "type": "message", "role": "assistant", "content": "4"}]}}
    >>> b = {"response": {"output": [{"id": "msg_2", "type": "message", "role": "assistant", "content": "4"}]}}
    >>> trajectory_fingerprint(a) == trajectory_fingerprint(b)
    True
    """
    data = orjson.dumps(_stable(trajectory_items(record)), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(data, digest_size=16).digest()


def record_drop_reason(record: dict, options: FilterOptions) -> str | None:
    """Why the record filters drop a record, or ``None`` to keep it.

    >>> record_drop_reason({"reward": 0.5, "response": {"output": [{}]}}, FilterOptions(min_reward=0.7))
    'reward below 0.7'
    >>> record_drop_reason({"reward": 1.0, "response": {"output": [{}]}, "mask_sample": True}, FilterOptions())
    'masked sample'
    >>> record_drop_reason({"reward": 1.0, "response": {"output": [{}]}, "mask_sample": True},
    ...                    FilterOptions(keep_masked=True)) is None
    True
    >>> record_drop_reason({"reward": 0.2, "reward_components": {"format": 1.0}, "response": {"output": [{}]}},
    ...                    FilterOptions(min_reward=0.7, reward_component="format")) is None
    True
    """
    reason = skip_reason(record)
    if reason is not None and not (options.keep_masked and reason in ("masked sample", "failure record")):
        return reason
    if options.needs_reward:
        reward = reward_of(record, options.reward_component)
        if reward is None:
            return f"no reward component {options.reward_component!r}" if options.reward_component else "no reward"
        if options.min_reward is not None and reward < options.min_reward:
            return f"reward below {options.min_reward:g}"
        if options.max_reward is not None and reward > options.max_reward:
            return f"reward above {options.max_reward:g}"
    if options.max_turns is not None and count_turns(record) > options.max_turns:
        return f"more than {options.max_turns} turns"
    if options.max_chars is not None and conversation_chars(record) > options.max_chars:
        return f"more than {options.max_chars} characters"
    if options.max_tokens is not None and options.count_tokens is not None:
        try:
            tokens = options.count_tokens(record)
        except Exception as exc:  # a chat template that raises on this conversation
            return f"the tokenizer's chat template failed on it ({type(exc).__name__})"
        if tokens > options.max_tokens:
            return f"more than {options.max_tokens} tokens"
    return None


class InputChanged(RunStopped):
    """An input file changed between the two passes of the group filters."""


_LINE_BITS = 40  # a position is (file index << 40) | line number


@dataclass
class TaskGroup:
    """What the first pass keeps of one task: two numbers a rollout, never its records.

    Attributes:
        top_k: keep the k highest-reward rollouts (earlier lines win ties); ``None`` keeps all.
        rewards: the rewards of the rollouts that passed the record filters and were not repeats.
        positions: where they are (``file << 40 | line``), in the order read.
        fingerprints: with ``--dedupe``, the trajectories seen (16 bytes each), in the same order.

    >>> g = TaskGroup(top_k=2)
    >>> for reward, line in [(0.5, 1), (1.0, 2), (0.0, 3), (1.0, 4)]:
    ...     _ = g.add(reward, line)
    >>> sorted(g.kept()), g.count, (g.low, g.high)
    ([2, 4], 4, (0.0, 1.0))
    """

    top_k: int | None = None
    rewards: array = field(default_factory=lambda: array("d"))
    positions: array = field(default_factory=lambda: array("q"))
    fingerprints: dict = field(default_factory=dict)

    def add(self, reward: float, position: int, fingerprint: bytes | None = None) -> bool:
        """Add a rollout; ``False`` if its trajectory repeats one already added."""
        if fingerprint is not None:
            if fingerprint in self.fingerprints:
                return False
            self.fingerprints[fingerprint] = None
        self.rewards.append(reward)
        self.positions.append(position)
        return True

    def merge(self, later: TaskGroup) -> int:
        """Add the rollouts of the same task from later in the input; returns how many were repeats."""
        prints = list(later.fingerprints) or [None] * len(later.positions)
        added = sum(self.add(*entry) for entry in zip(later.rewards, later.positions, prints))
        return len(later.positions) - added

    @property
    def count(self) -> int:
        return len(self.positions)

    @property
    def low(self) -> float:
        return min(self.rewards)

    @property
    def high(self) -> float:
        return max(self.rewards)

    def varies(self) -> bool:
        return self.high > self.low

    def kept(self) -> Iterable[int]:
        if self.top_k is None:
            return self.positions
        best = heapq.nlargest(self.top_k, zip(self.rewards, (-p for p in self.positions), self.positions))
        return [position for _, _, position in best]


class _RawLines:
    """The raw lines of the input files, read forward: the bytes of line N of a file as written."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.handle = None
        self.number = 0

    def get(self, path: str, line: int) -> bytes:
        if path != self.path or line <= self.number:
            self.close()
            self.path, self.handle, self.number = path, open_binary(path), 0
        for raw in self.handle:
            self.number += 1
            if self.number == line:
                return raw
        raise InputChanged(f"{path} has no line {line} any more: it changed while being filtered")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def _stamp(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_size, status.st_mtime_ns


class RecordFilter(Step):
    """The record filters, push-style: each kept record's line, as it was read."""

    shape = "record"

    def __init__(self, options: FilterOptions):
        self.options = options

    def push(self, rollout: Rollout) -> None:
        reason = record_drop_reason(rollout.record, self.options)
        if reason is not None:
            self.tally.skip(reason)
            return
        self.tally.used += 1
        self.emit(rollout.raw)


class GroupFilter(Step):
    """The group filters, in two passes: ``push`` keeps each task's {class}`TaskGroup` (merged
    across byte ranges); ``finish`` decides what to keep and copies those lines from the input."""

    shape = "combine"

    def __init__(self, options: FilterOptions):
        self.options = options
        self.files: list[str] = []
        self.stamps: list[tuple[int, int]] = []
        self.groups: dict[tuple[str, str], TaskGroup] = {}
        self.last_line = 0

    def push(self, rollout: Rollout) -> None:
        if not self.files or rollout.path != self.files[-1] or rollout.line <= self.last_line:
            self.files.append(rollout.path)
            self.stamps.append(_stamp(rollout.path))
        self.last_line = rollout.line
        record, options = rollout.record, self.options
        reason = record_drop_reason(record, options)
        if reason is not None:
            self.tally.skip(reason)
            return
        reward = reward_of(record, options.reward_component)
        group = self.groups.get(key := group_key(rollout))
        if group is None:
            group = self.groups[key] = TaskGroup(options.top_k)
        fingerprint = trajectory_fingerprint(record) if options.dedupe else None
        if not group.add(0.0 if reward is None else reward, (len(self.files) - 1) << _LINE_BITS | rollout.line,
                         fingerprint):
            self.tally.skip("duplicate trajectory")

    @property
    def state(self) -> tuple:
        return self.files, self.stamps, self.groups

    def merge(self, state: tuple) -> None:
        """Add the groups of the next byte range of the same file."""
        files, stamps, groups = state
        if not self.files:
            self.files, self.stamps = files, stamps
        for key, later in groups.items():
            group = self.groups.get(key)
            if group is None:
                self.groups[key] = later
            elif repeats := group.merge(later):
                self.tally.skip("duplicate trajectory", repeats)

    def finish(self) -> Iterator[bytes]:
        options, tally = self.options, self.tally
        keep = array("q")
        for group in self.groups.values():
            if options.drop_uniform_groups and not group.varies():
                tally.skip("task rewards do not vary", group.count)
                continue
            before = len(keep)
            keep.extend(group.kept())
            if group.count > len(keep) - before:
                tally.skip(f"not in the top {options.top_k} of its task", group.count - (len(keep) - before))
        self.groups.clear()
        lines = _RawLines()
        try:
            checked = set()
            for position in sorted(keep):
                index, line = position >> _LINE_BITS, position & ((1 << _LINE_BITS) - 1)
                if index not in checked:
                    if _stamp(self.files[index]) != self.stamps[index]:
                        raise InputChanged(f"{self.files[index]} changed while being filtered; nothing was written")
                    checked.add(index)
                tally.used += 1
                yield lines.get(self.files[index], line)
        finally:
            lines.close()


def filter_step(options: FilterOptions) -> Step:
    """The step that filters: in one pass, or in two for the group filters."""
    return GroupFilter(options) if options.needs_groups else RecordFilter(options)


def filter_converter(options: FilterOptions):
    """A converter (for {func}`~reference_impl.pipeline.run`) that yields the kept records'
    lines as they were read (bytes); write them with {class}`RawLineWriter`."""
    return pulled(partial(filter_step, options))


class RawLineWriter(JsonlWriter):
    """A JSON Lines writer for lines already serialised (bytes), copied as they are.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "kept.jsonl"
    >>> with RawLineWriter(out) as w:
    ...     w.write(b'{"reward": 1.0}')
    >>> out.read_bytes()
    b'{"reward": 1.0}\\n'
    """

    def write(self, line: bytes) -> None:  # type: ignore[override]
        self.write_raw(line if line.endswith(b"\n") else line + b"\n")


def tokenizer_counter(name_or_path: str) -> Callable[[dict], int]:
    """Count a rollout's tokens with a Hugging Face tokenizer (a hub id or a local folder).

    The conversation is rendered with the tokenizer's chat template, tools included, as a
    trainer would; a tokenizer without one counts {func}`conversation_text`. This is the only
    place the data scripts import ``transformers``, and only when ``--max_tokens`` is used.
    """
    from transformers import AutoTokenizer

    from .messages import chat_tool_schemas, rollout_messages

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)

    def count(record: dict) -> int:
        if getattr(tokenizer, "chat_template", None):
            prompt, trajectory = rollout_messages(record, dropped=Counter())
            ids = tokenizer.apply_chat_template(prompt + trajectory, tools=chat_tool_schemas(record) or None,
                                                tokenize=True)
            return len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        return len(tokenizer(conversation_text(record), add_special_tokens=False)["input_ids"])

    return count
