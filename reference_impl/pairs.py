"""Group rollouts by task: preference pairs and one prompt per task, in one streaming pass.

Rollout files are written in completion order, so the rollouts of a task are scattered
through the file. Holding the whole file to group it would not scale; these functions keep
only what each task needs (its best and worst rollout, or whether it was seen), so memory
grows with the number of tasks, not with the size of the trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from .tally import Tally
from .rollouts import Rollout, group_key, reward_of, skip_reason

__all__ = ["PreferencePair", "preference_pairs", "first_per_task", "ANOTHER_ROLLOUT"]


@dataclass(frozen=True)
class PreferencePair:
    """The best and the worst rollout of one task, and their reward gap."""

    task: str
    chosen: Rollout
    rejected: Rollout
    margin: float


@dataclass
class _Extremes:
    best: Rollout
    best_reward: float
    worst: Rollout
    worst_reward: float
    count: int = 1


def preference_pairs(
    rollouts: Iterable[Rollout],
    tally: Tally,
    min_margin: float = 0.0,
    reward: Callable[[dict], float | None] = reward_of,
    problem: Callable[[dict], str | None] | None = None,
) -> Iterator[PreferencePair]:
    """Pair the highest- and the lowest-reward rollout of each task.

    A task ({func}`~reference_impl.rollouts.group_key`: the same file, agent, task number
    and prompt) yields a pair when it has at least two rollouts and the gap between its
    best and its worst reward is greater than ``min_margin`` (ties teach nothing, and NeMo
    RL rejects them). Every other rollout is counted as skipped with its reason.

    Args:
        rollouts: records of any number of tasks, in any order.
        tally: counts used and skipped records.
        min_margin: the smallest reward gap that makes a pair (exclusive).
        reward: how to read a record's reward.
        problem: why a record cannot be one side of a pair (no assistant turn, ...), or
            ``None``; such records are skipped with that reason before pairs are chosen.

    Yields:
        One {class}`PreferencePair` per task that has one, after the input is read.

    >>> from reference_impl.rollouts import Rollout
    >>> def r(task, reward):
    ...     return Rollout("x.jsonl", 1, {"_ng_task_index": task, "reward": reward, "response": {"output": [{}]}})
    >>> t = Tally(read=4)
    >>> pairs = list(preference_pairs([r(0, 1.0), r(0, 0.0), r(0, 0.5), r(1, 1.0)], t))
    >>> [(p.task, p.margin) for p in pairs]
    [('task-0/d21882c2ad57dc0d', 1.0)]
    >>> t.used, dict(t.skipped)
    (2, {'neither best nor worst of its task': 1, 'only rollout of its task': 1})
    """
    groups: dict[tuple[str, str], _Extremes] = {}
    for rollout in rollouts:
        reason = skip_reason(rollout.record)
        if reason is not None:
            tally.skip(reason)
            continue
        value = reward(rollout.record)
        if value is None:
            tally.skip("no reward")
            continue
        if problem is not None and (why := problem(rollout.record)) is not None:
            tally.skip(why)
            continue
        key = group_key(rollout)
        group = groups.get(key)
        if group is None:
            groups[key] = _Extremes(rollout, value, rollout, value)
            continue
        group.count += 1
        if value > group.best_reward:
            group.best, group.best_reward = rollout, value
        elif value < group.worst_reward:
            group.worst, group.worst_reward = rollout, value
    for key, group in groups.items():
        if group.count == 1:
            tally.skip("only rollout of its task")
            continue
        margin = group.best_reward - group.worst_reward
        if margin <= min_margin:
            tally.skip("tied rewards in its task (no preference)" if margin == 0 else f"reward gap <= {min_margin}", group.count)
            continue
        tally.used += 2
        if group.count > 2:
            tally.skip("neither best nor worst of its task", group.count - 2)
        yield PreferencePair(key[1], group.best, group.worst, margin)


ANOTHER_ROLLOUT = "another rollout of a task already written"
"""The skip reason of a task's later rollouts, where only its first gives a row."""


def first_per_task(rollouts: Iterable[Rollout], tally: Tally) -> Iterator[Rollout]:
    """The first rollout of each task ({func}`~reference_impl.rollouts.group_key`), for
    formats that need the task's prompt once.

    The other rollouts of the task are counted as skipped.

    >>> from reference_impl.rollouts import Rollout
    >>> t = Tally(read=3)
    >>> rows = [Rollout("x", i, {"_ng_task_index": i // 2}) for i in range(3)]
    >>> [r.line for r in first_per_task(rows, t)], dict(t.skipped)
    ([0, 2], {'another rollout of a task already written': 1})
    """
    seen: set[tuple[str, str]] = set()
    for rollout in rollouts:
        key = group_key(rollout)
        if key in seen:
            tally.skip(ANOTHER_ROLLOUT)
            continue
        seen.add(key)
        yield rollout
