"""Preference pairs: the best and the worst rollout of each task, in one streaming pass.

Rollout files are written in completion order, so the rollouts of a task are scattered
through the file. Holding the whole file to group it would not scale; {class}`TaskExtremes`
keeps only what each task needs (the lines of its best and worst rollout), so memory grows
with the number of tasks, not with the size of the file, and the extremes of two parts of a
file merge into those of the whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from .tally import Skip, Tally
from .rollouts import Rollout, group_key, read_record, reward_of, skip_reason

__all__ = ["PreferencePair", "TaskExtremes", "pair_candidate", "preference_pairs"]


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

    def add(self, rollout: Rollout, value: float) -> None:
        self.count += 1
        if value > self.best_reward:
            self.best, self.best_reward = rollout, value
        elif value < self.worst_reward:
            self.worst, self.worst_reward = rollout, value

    def merge(self, later: _Extremes) -> None:
        """Add the rollouts of the same task read later (earlier rollouts win ties, as in one pass)."""
        self.count += later.count
        if later.best_reward > self.best_reward:
            self.best, self.best_reward = later.best, later.best_reward
        if later.worst_reward < self.worst_reward:
            self.worst, self.worst_reward = later.worst, later.worst_reward


class TaskExtremes:
    """What preference pairs need of each task, in the order tasks first appear: its best and
    its worst rollout, and how many it has. Merging the extremes of the next part of the input
    gives what one pass over both parts gives.

    >>> from reference_impl.rollouts import Rollout
    >>> def r(line, reward):
    ...     return Rollout("x.jsonl", line, {"_ng_task_index": 0})
    >>> first, second = TaskExtremes(), TaskExtremes()
    >>> first.add(r(1, 0.5), 0.5); second.add(r(2, 1.0), 1.0); second.add(r(3, 0.0), 0.0)
    >>> first.merge(second.groups)
    >>> [(g.best.line, g.worst.line, g.count) for g in first.groups.values()]
    [(2, 3, 3)]
    """

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], _Extremes] = {}

    def add(self, rollout: Rollout, value: float) -> None:
        key = group_key(rollout)
        if rollout.raw is not None:  # the line is kept, a fraction of the parsed record's size
            rollout = Rollout(rollout.path, rollout.line, None, rollout.raw)
        group = self.groups.get(key)
        if group is None:
            self.groups[key] = _Extremes(rollout, value, rollout, value)
        else:
            group.add(rollout, value)

    def offer(self, rollout: Rollout, tally: Tally, reward: Callable[[dict], float | None] = reward_of,
              problem: Callable[[dict], str | None] | None = None) -> None:
        """Keep a rollout if it can be one side of a pair ({func}`pair_candidate`), else count why not."""
        try:
            self.add(rollout, pair_candidate(rollout.record, reward, problem))
        except Skip as skip:
            tally.skip(skip.reason)

    def merge(self, groups: dict) -> None:
        for key, later in groups.items():
            group = self.groups.get(key)
            if group is None:
                self.groups[key] = later
            else:
                group.merge(later)

    def pairs(self, tally: Tally, min_margin: float = 0.0) -> Iterator[PreferencePair]:
        """One pair per task whose best and worst rewards differ by more than ``min_margin``;
        every other rollout is counted as skipped with its reason."""
        for key, group in self.groups.items():
            if group.count == 1:
                tally.skip("only rollout of its task")
                continue
            margin = group.best_reward - group.worst_reward
            if margin <= min_margin:
                tally.skip("tied rewards in its task (no preference)" if margin == 0 else f"reward gap <= {min_margin}",
                           group.count)
                continue
            tally.used += 2
            if group.count > 2:
                tally.skip("neither best nor worst of its task", group.count - 2)
            yield PreferencePair(key[1], _parsed(group.best), _parsed(group.worst), margin)


def _parsed(rollout: Rollout) -> Rollout:
    """The rollout with its record, parsed again from its line if only the line was kept."""
    if rollout.record is not None:
        return rollout
    return Rollout(rollout.path, rollout.line, read_record(rollout.raw, rollout.path, rollout.line))


def pair_candidate(record: dict, reward: Callable[[dict], float | None] = reward_of,
                   problem: Callable[[dict], str | None] | None = None) -> float:
    """The reward of a rollout that can be one side of a preference pair.

    Raises:
        Skip: why it cannot (masked, no reward, ``problem``'s reason).

    >>> pair_candidate({"reward": 0.5, "response": {"output": [{}]}})
    0.5
    """
    reason = skip_reason(record)
    if reason is not None:
        raise Skip(reason)
    value = reward(record)
    if value is None:
        raise Skip("no reward")
    if problem is not None and (why := problem(record)) is not None:
        raise Skip(why)
    return value


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
    extremes = TaskExtremes()
    for rollout in rollouts:
        extremes.offer(rollout, tally, reward, problem)
    yield from extremes.pairs(tally, min_margin)
