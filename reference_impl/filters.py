"""Filter rollouts before training: by reward, by task group, by length, without duplicates.

Filters compose, and the output keeps the input's record shape. Every record dropped is
counted with the reason (``reward below 0.7``, ``task rewards do not vary``...).

Record filters look at one record at a time and run in one streaming pass. Group
filters (top-k per task, tasks whose rewards do not vary, duplicates) need to see a
whole task first: a first pass keeps, per record, only its task, reward and line
number; a second pass writes the records that survived. Memory grows with the number of
records as a few numbers each, never with the trajectories.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import orjson

from .pipeline import Tally
from .rollouts import Rollout, iter_rollouts, reward_of, skip_reason, task_key, trajectory_items

__all__ = [
    "FilterOptions",
    "record_drop_reason",
    "trajectory_fingerprint",
    "count_turns",
    "trajectory_chars",
    "group_keep",
    "filter_converter",
]


@dataclass(frozen=True)
class FilterOptions:
    """What to keep.

    Attributes:
        min_reward: keep rewards at least this.
        max_reward: keep rewards at most this.
        reward_component: read the reward from this ``reward_components`` key.
        keep_masked: keep masked and failed records (dropped by default, as trainers do).
        top_k: keep the k highest-reward rollouts of each task.
        drop_uniform_groups: drop tasks whose rollouts all have the same reward (GRPO
            learns nothing from them: every advantage is zero).
        dedupe: drop rollouts whose trajectory repeats an earlier one of the same task.
        max_turns: drop trajectories with more assistant turns than this.
        max_chars: drop trajectories with more characters of text than this.
        max_tokens: drop trajectories with more tokens than this, counted by ``count_tokens``.
        count_tokens: a function from text to a token count (see {func}`tokenizer_counter`).
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
    count_tokens: Callable[[str], int] | None = None

    @property
    def needs_groups(self) -> bool:
        return self.top_k is not None or self.drop_uniform_groups or self.dedupe


def count_turns(record: dict) -> int:
    """Assistant turns in a trajectory: messages and tool-call steps of the model.

    >>> count_turns({"response": {"output": [{"type": "reasoning"}, {"type": "function_call"},
    ...     {"type": "function_call_output"}, {"type": "message", "role": "assistant"}]}})
    2
    """
    turns = 0
    previous = None
    for item in trajectory_items(record):
        kind = item.get("type", "message")
        model_turn = (kind == "message" and item.get("role") == "assistant") or kind == "function_call"
        if model_turn and previous != "model":
            turns += 1
        previous = "model" if model_turn else ("model" if kind == "reasoning" and previous == "model" else kind)
    return turns


def trajectory_chars(record: dict) -> int:
    """Characters of text in a trajectory (message text, call arguments, tool results, reasoning).

    >>> trajectory_chars({"response": {"output": [{"type": "message", "role": "assistant",
    ...     "content": [{"type": "output_text", "text": "four"}]}]}})
    4
    """
    return len(_trajectory_text(record))


def _trajectory_text(record: dict) -> str:
    from .messages import content_text

    parts = []
    for item in trajectory_items(record):
        kind = item.get("type", "message")
        if kind == "message":
            parts.append(content_text(item.get("content")))
        elif kind == "function_call":
            parts.append(str(item.get("arguments", "")))
        elif kind == "function_call_output":
            parts.append(content_text(item.get("output")))
        elif kind == "reasoning":
            parts.extend(p.get("text", "") for p in item.get("summary") or [] if isinstance(p, dict))
    return "".join(parts)


_VOLATILE = frozenset({"id", "call_id", "status", "generation_log_probs", "prompt_token_ids", "generation_token_ids", "logprobs", "annotations"})


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def trajectory_fingerprint(record: dict) -> str:
    """A hash of what a trajectory says, ignoring ids, statuses and token fields.

    >>> a = {"response": {"output": [{"id": "msg_1", "type": "message", "role": "assistant", "content": "4"}]}}
    >>> b = {"response": {"output": [{"id": "msg_2", "type": "message", "role": "assistant", "content": "4"}]}}
    >>> trajectory_fingerprint(a) == trajectory_fingerprint(b)
    True
    """
    data = orjson.dumps(_stable(trajectory_items(record)), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def record_drop_reason(record: dict, options: FilterOptions) -> str | None:
    """Why the record filters drop a record, or ``None`` to keep it.

    >>> record_drop_reason({"reward": 0.5, "response": {"output": [{}]}}, FilterOptions(min_reward=0.7))
    'reward below 0.7'
    >>> record_drop_reason({"reward": 1.0, "response": {"output": [{}]}, "mask_sample": True}, FilterOptions())
    'masked sample'
    >>> record_drop_reason({"reward": 1.0, "response": {"output": [{}]}}, FilterOptions(min_reward=0.7)) is None
    True
    """
    reason = skip_reason(record)
    if reason is not None and not (options.keep_masked and reason in ("masked sample", "failure record")):
        return reason
    needs_reward = options.min_reward is not None or options.max_reward is not None or options.needs_groups
    reward = reward_of(record, options.reward_component)
    if needs_reward and reward is None:
        return f"no reward component {options.reward_component!r}" if options.reward_component else "no reward"
    if options.min_reward is not None and reward < options.min_reward:
        return f"reward below {options.min_reward:g}"
    if options.max_reward is not None and reward > options.max_reward:
        return f"reward above {options.max_reward:g}"
    if options.max_turns is not None and count_turns(record) > options.max_turns:
        return f"more than {options.max_turns} turns"
    if options.max_chars is not None and trajectory_chars(record) > options.max_chars:
        return f"more than {options.max_chars} characters"
    if options.max_tokens is not None and options.count_tokens is not None:
        if options.count_tokens(_trajectory_text(record)) > options.max_tokens:
            return f"more than {options.max_tokens} tokens"
    return None


@dataclass
class RolloutSummary:
    """What the first pass of the group filters keeps of a record: where it is, its task and reward."""

    path: str
    line: int
    task: str
    reward: float
    fingerprint: str | None


def group_keep(seen: list[RolloutSummary], options: FilterOptions, tally: Tally) -> set[tuple[str, int]]:
    """Apply the group filters to the first pass's summaries; return the ``(path, line)`` to keep.

    Dropped records are counted in ``tally`` with their reason.
    """
    tasks: dict[str, list[RolloutSummary]] = defaultdict(list)
    for item in seen:
        tasks[item.task].append(item)
    keep: set[tuple[str, int]] = set()
    for members in tasks.values():
        if options.dedupe:
            fingerprints, unique = set(), []
            for item in members:
                if item.fingerprint in fingerprints:
                    tally.skip("duplicate trajectory")
                else:
                    fingerprints.add(item.fingerprint)
                    unique.append(item)
            members = unique
        if options.drop_uniform_groups and len({m.reward for m in members}) <= 1:
            tally.skip("task rewards do not vary", len(members))
            continue
        if options.top_k is not None and len(members) > options.top_k:
            ranked = sorted(members, key=lambda m: -m.reward)  # stable: earlier lines win ties
            for item in ranked[options.top_k :]:
                tally.skip(f"not in the top {options.top_k} of its task")
            members = ranked[: options.top_k]
        keep.update((m.path, m.line) for m in members)
    return keep


def filter_converter(options: FilterOptions):
    """A converter (for {func}`~reference_impl.pipeline.run`) that yields the records to keep, as they are."""

    def one_pass(rollouts: Iterable[Rollout], tally: Tally) -> Iterator[dict]:
        for rollout in rollouts:
            reason = record_drop_reason(rollout.record, options)
            if reason is not None:
                tally.skip(reason)
                continue
            tally.used += 1
            yield rollout.record

    def two_passes(rollouts: Iterable[Rollout], tally: Tally) -> Iterator[dict]:
        seen: list[RolloutSummary] = []
        paths: list[str] = []
        for rollout in rollouts:
            if not paths or paths[-1] != rollout.path:
                paths.append(rollout.path)
            reason = record_drop_reason(rollout.record, options)
            if reason is not None:
                tally.skip(reason)
                continue
            reward = reward_of(rollout.record, options.reward_component)
            fingerprint = trajectory_fingerprint(rollout.record) if options.dedupe else None
            seen.append(RolloutSummary(rollout.path, rollout.line, task_key(rollout.record), reward, fingerprint))
        keep = group_keep(seen, options, tally)
        del seen
        for path in paths:
            for item in iter_rollouts(path):
                if isinstance(item, Rollout) and (item.path, item.line) in keep:
                    tally.used += 1
                    yield item.record

    return two_passes if options.needs_groups else one_pass


def tokenizer_counter(name_or_path: str) -> Callable[[str], int]:
    """Count tokens with a Hugging Face tokenizer (a hub id or a local folder); imports transformers."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])

