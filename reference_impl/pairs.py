"""Preference pairs: the best and the worst rollout of each task, in one streaming pass.

Rollout files are written in completion order, so the rollouts of a task are scattered
through the file. Holding the whole file to group it would not scale; {class}`TaskExtremes`
keeps only what each task needs: where the lines of its best and worst rollout are
({class}`LineAt`: a few numbers, read again when the pairs are made), or the lines
themselves when they cannot be found again (a compressed file). Memory grows with the
number of tasks, not with the size of the file, and the extremes of two parts of a file
merge into those of the whole.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator

from .tally import RunStopped, Skip, Tally
from .rollouts import Rollout, group_key, read_record, reward_of, skip_reason

__all__ = ["PreferencePair", "LineAt", "PairAt", "TaskExtremes", "pair_candidate", "preference_pairs", "read_pairs"]


@dataclass(frozen=True)
class PreferencePair:
    """The best and the worst rollout of one task, and their reward gap."""

    task: str
    chosen: Rollout
    rejected: Rollout
    margin: float


@dataclass(frozen=True, slots=True)
class LineAt:
    """Where a rollout's line is in its (uncompressed) file, and how to know it again: what a
    task keeps of its best and worst rollout instead of the line.

    Attributes:
        path: the file.
        line: the 1-based line number.
        offset: where the line starts (bytes).
        length: its length, newline included.
        crc32: its checksum (``zlib.crc32``).

    >>> LineAt.of(Rollout("x.jsonl", 2, {}, b'{"reward": 1}\\n', offset=14))
    LineAt(path='x.jsonl', line=2, offset=14, length=14, crc32=3726054907)
    """

    path: str
    line: int
    offset: int
    length: int
    crc32: int

    @classmethod
    def of(cls, rollout: Rollout) -> LineAt:
        return cls(rollout.path, rollout.line, rollout.offset, len(rollout.raw), zlib.crc32(rollout.raw))


def _kept(rollout: Rollout) -> Rollout | LineAt:
    """What a task keeps of a rollout: where its line is, else the line, else the record as it is."""
    if rollout.raw is None:
        return rollout
    if rollout.offset is not None:
        return LineAt.of(rollout)
    return Rollout(rollout.path, rollout.line, None, rollout.raw)  # a fraction of the parsed record's size


@dataclass(slots=True)  # one per task: no __dict__
class _Extremes:
    best: Rollout | LineAt
    best_reward: float
    worst: Rollout | LineAt
    worst_reward: float
    count: int = 1

    @classmethod
    def first(cls, rollout: Rollout, value: float) -> _Extremes:
        kept = _kept(rollout)
        return cls(kept, value, kept, value)

    def add(self, rollout: Rollout, value: float) -> None:
        self.count += 1
        if value > self.best_reward:
            self.best, self.best_reward = _kept(rollout), value
        elif value < self.worst_reward:
            self.worst, self.worst_reward = _kept(rollout), value

    def merge(self, later: _Extremes) -> None:
        """Add the rollouts of the same task read later (earlier rollouts win ties, as in one pass)."""
        self.count += later.count
        if later.best_reward > self.best_reward:
            self.best, self.best_reward = later.best, later.best_reward
        if later.worst_reward < self.worst_reward:
            self.worst, self.worst_reward = later.worst, later.worst_reward


class TaskExtremes:
    """What preference pairs need of each task, in the order tasks first appear: its best and
    its worst rollout (where their lines are, see {class}`LineAt`), and how many it has.
    Merging the extremes of the next part of the input gives what one pass over both parts gives.

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
        group = self.groups.get(key)
        if group is None:
            self.groups[key] = _Extremes.first(rollout, value)
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
        every other rollout is counted as skipped with its reason.

        Raises:
            RunStopped: a kept line is not in its file any more as it was read (the file
                changed while it was read).
        """
        return read_pairs(self.plan(tally, min_margin))

    def plan(self, tally: Tally, min_margin: float = 0.0) -> Iterator[PairAt]:
        """The pairs to make, in the order tasks first appeared, without their records:
        {meth}`pairs` less the reading (see {func}`read_pairs`). The counting is the same."""
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
            yield PairAt(key[1], group.best, group.worst, margin)


@dataclass(frozen=True, slots=True)
class PairAt:
    """A pair to make: its task, where its two rollouts are (or the rollouts), and their gap."""

    task: str
    chosen: Rollout | LineAt
    rejected: Rollout | LineAt
    margin: float


def read_pairs(planned: Iterable[PairAt]) -> Iterator[PreferencePair]:
    """The planned pairs with their two records, read again from their lines.

    Raises:
        RunStopped: a line is not in its file any more as it was read.
    """
    lines = _Lines()
    try:
        for at in planned:
            yield PreferencePair(at.task, lines.parsed(at.chosen), lines.parsed(at.rejected), at.margin)
    finally:
        lines.close()


class _Lines:
    """The input files, open while pairs are made: each kept rollout with its record again."""

    def __init__(self) -> None:
        self.handles: dict[str, BinaryIO] = {}

    def parsed(self, kept: Rollout | LineAt) -> Rollout:
        """The rollout with its record, parsed again from its line if only the line (or where it is) was kept."""
        if isinstance(kept, LineAt):
            return Rollout(kept.path, kept.line, read_record(self.read(kept), kept.path, kept.line), offset=kept.offset)
        if kept.record is not None:
            return kept
        return Rollout(kept.path, kept.line, read_record(kept.raw, kept.path, kept.line))

    def read(self, at: LineAt) -> bytes:
        """The line at ``at``, checked against its length and checksum.

        Raises:
            RunStopped: it cannot be read, or it is not the line read before.
        """
        try:
            handle = self.handles.get(at.path)
            if handle is None:
                handle = self.handles[at.path] = open(at.path, "rb")
            handle.seek(at.offset)
            raw = handle.read(at.length)
        except OSError as exc:
            raise RunStopped(f"{at.path}:{at.line}: cannot read the line again to make its preference pair "
                             f"({exc}); was the input moved or changed while it was read?") from None
        if len(raw) != at.length or zlib.crc32(raw) != at.crc32:
            raise RunStopped(f"{at.path}:{at.line}: the input changed while it was read: this line is not what it was "
                             f"when read, so its preference pair cannot be made")
        return raw

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()


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
