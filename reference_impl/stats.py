"""The quality report of rollout files: rewards, pass rates, pass@k, turns and tool calls.

One streaming pass keeps, per task, its rewards (8 bytes a rollout) and, for the whole
input, histograms of the turns and tool calls per trajectory (one count per distinct
value); nothing of the trajectories. The pictures are drawn with matplotlib (Agg backend),
imported only when they are asked for.
"""

from __future__ import annotations

import heapq
import math
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .filters import count_turns
from .step import Step
from .tally import Tally
from .rollouts import Rollout, group_key, reward_of, skip_reason, trajectory_items

__all__ = ["pass_at_k", "quantile", "histogram_summary", "RolloutStats", "collect_stats", "StatsStep", "report_table",
           "task_table", "draw_plots"]

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of a task with ``n`` rollouts of which ``c`` passed: ``1 - C(n-c, k) / C(n, k)``
    (Chen et al., 2021), the chance that at least one of k rollouts drawn without replacement passes.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
    (0.25, 1.0, 0.0)
    >>> pass_at_k(2, 1, 3)
    Traceback (most recent call last):
    ...
    ValueError: pass@3 needs at least 3 rollouts, the task has 2
    """
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass@k needs 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} rollouts, the task has {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def quantile(sorted_values, q: float) -> float | None:
    """The q-quantile of sorted values, interpolated linearly (``None`` for no values).

    >>> quantile([0.0, 1.0, 2.0, 3.0], 0.5)
    1.5
    >>> quantile([], 0.5) is None
    True
    """
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _histogram_quantile(histogram: Counter, total: int, q: float) -> float:
    """A quantile of the values a histogram counts, as {func}`quantile` would give on the values."""
    position = (total - 1) * q
    low_rank, high_rank = math.floor(position), math.ceil(position)
    low = high = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if low is None and seen > low_rank:
            low = value
        if seen > high_rank:
            high = value
            break
    return low + (high - low) * (position - low_rank)


def histogram_summary(histogram: Counter) -> dict:
    """Mean, median, 90th percentile and maximum of the values a histogram counts.

    >>> histogram_summary(Counter({1: 3, 2: 1}))
    {'mean': 1.25, 'median': 1.0, 'p90': 1.7, 'max': 2, 'histogram': {'1': 3, '2': 1}}
    >>> histogram_summary(Counter())["mean"] is None
    True
    """
    total = sum(histogram.values())
    if not total:
        return {"mean": None, "median": None, "p90": None, "max": None, "histogram": {}}
    return {
        "mean": sum(value * n for value, n in histogram.items()) / total,
        "median": float(_histogram_quantile(histogram, total, 0.5)),
        "p90": round(float(_histogram_quantile(histogram, total, 0.9)), 6),
        "max": max(histogram),
        "histogram": {str(value): histogram[value] for value in sorted(histogram)},
    }


@dataclass
class RolloutStats:
    """What one pass over rollout files found.

    Attributes:
        threshold: a rollout passes when its reward is at least this.
        tally: the run's counts (read, used, skipped and rejected by reason).
        rewards: each task's rewards, in the order read.
        turns: how many trajectories had each number of assistant turns.
        tool_calls: how many trajectories made each number of tool calls.
    """

    threshold: float
    tally: Tally = field(default_factory=Tally)
    rewards: dict = field(default_factory=dict)
    turns: Counter = field(default_factory=Counter)
    tool_calls: Counter = field(default_factory=Counter)

    def add(self, task: tuple[str, str], reward: float, turns: int, tool_calls: int) -> None:
        values = self.rewards.get(task)
        if values is None:
            values = self.rewards[task] = array("d")
        values.append(reward)
        self.turns[turns] += 1
        self.tool_calls[tool_calls] += 1

    def all_rewards(self) -> list[float]:
        return sorted(r for values in self.rewards.values() for r in values)

    def passed(self, values) -> int:
        return sum(1 for r in values if r >= self.threshold)

    def per_task(self) -> dict[str, dict]:
        """Each task's rollouts, passes, pass rate, rewards and pass@k for k = 1..rollouts
        (the items of {meth}`per_task_items`, as one dict)."""
        return dict(self.per_task_items())

    def per_task_items(self) -> Iterator[tuple[str, dict]]:
        """Each task's numbers, one task at a time, in the order of the report.

        A task is named by its {func}`~reference_impl.rollouts.task_key`, after its file's
        name when the rollouts came from several files.
        """
        label = task_labeler(self.rewards)
        for task in natural_order(self.rewards, label):
            values = self.rewards[task]
            n, c = len(values), self.passed(values)
            yield label(task), {"rollouts": n, "passed": c, "pass_rate": c / n, "mean_reward": sum(values) / n,
                                 "min_reward": min(values), "max_reward": max(values),
                                 "pass_at_k": {str(k): pass_at_k(n, c, k) for k in range(1, n + 1)}}

    def pass_at(self) -> dict[int, dict]:
        """pass@k for k = 1 up to the most rollouts a task has, averaged over the tasks
        with at least k rollouts (how many is given with each)."""
        largest = max((len(v) for v in self.rewards.values()), default=0)
        result = {}
        for k in range(1, largest + 1):
            scores = [pass_at_k(len(v), self.passed(v), k) for v in self.rewards.values() if len(v) >= k]
            result[k] = {"mean": sum(scores) / len(scores), "tasks": len(scores)}
        return result

    def as_dict(self) -> dict:
        """The whole report, as written to ``--report``: the {meth}`summary` and ``per_task``."""
        return {**self.summary(), "per_task": self.per_task()}

    def summary(self) -> dict:
        """The report without its last part, ``per_task`` (which the report writes task by task)."""
        rewards = self.all_rewards()
        sizes = Counter(len(v) for v in self.rewards.values())
        uniform = sum(1 for v in self.rewards.values() if min(v) == max(v))
        return {
            "counts": self.tally.as_dict(),
            "records": self.tally.read,
            "rollouts": len(rewards),
            "tasks": len(self.rewards),
            "rollouts_per_task": histogram_summary(sizes) | {"min": min(sizes, default=None)},
            "reward": {
                "mean": sum(rewards) / len(rewards) if rewards else None,
                "min": rewards[0] if rewards else None,
                "max": rewards[-1] if rewards else None,
                **{f"p{round(q * 100)}": quantile(rewards, q) for q in QUANTILES},
            },
            "pass_threshold": self.threshold,
            "pass_rate": self.passed(rewards) / len(rewards) if rewards else None,
            "pass_at_k": {str(k): v for k, v in self.pass_at().items()},
            "tasks_all_passed": sum(1 for v in self.rewards.values() if self.passed(v) == len(v)),
            "tasks_none_passed": sum(1 for v in self.rewards.values() if self.passed(v) == 0),
            "tasks_with_uniform_rewards": uniform,
            "turns": histogram_summary(self.turns),
            "tool_calls": histogram_summary(self.tool_calls),
        }


def task_labels(groups) -> dict:
    """A name for each task group (``(file, task key)``, see {func}`~reference_impl.rollouts.group_key`):
    its task key, after its file's name when the groups come from several files.

    >>> task_labels([("a/math.jsonl", "task-0/ab"), ("a/code.jsonl", "task-0/cd")])
    {('a/math.jsonl', 'task-0/ab'): 'math: task-0/ab', ('a/code.jsonl', 'task-0/cd'): 'code: task-0/cd'}
    >>> task_labels([("math.jsonl", "task-0/ab")])
    {('math.jsonl', 'task-0/ab'): 'task-0/ab'}

    Files of the same name in different folders keep their folders, so that no two tasks
    share a label (the report would keep only one):

    >>> sorted(task_labels([("a/math.jsonl", "task-0/ab"), ("b/math.jsonl", "task-0/ab")]).values())
    ['a/math: task-0/ab', 'b/math: task-0/ab']
    """
    label = task_labeler(groups)
    return {group: label(group) for group in groups}


def task_labeler(groups) -> Callable[[tuple[str, str]], str]:
    """The function that names a task group as {func}`task_labels` does, without a dict of
    every label (a report of many tasks names them one at a time)."""
    paths = {path for path, _ in groups}
    if len(paths) == 1:
        return lambda group: group[1]
    names = {path: _file_name(path) for path in paths}
    shared = {name for name, count in Counter(names.values()).items() if count > 1}
    names = {path: str(Path(path).with_name(name)) if name in shared else name for path, name in names.items()}
    return lambda group: f"{names[group[0]]}: {group[1]}"


def natural_order(tasks: Iterable, label: Callable[[Any], str], chunk: int = 8192) -> Iterator:
    """The tasks in the natural order of their labels (``task-2`` before ``task-10``), as
    ``sorted`` with a stable sort gives them, holding the sort keys of one chunk of tasks at a
    time (a key is a list of the label's parts: large, for a hundred thousand tasks).

    >>> list(natural_order(["t10", "t2", "t1", "t02"], str, chunk=2))
    ['t1', 't2', 't02', 't10']
    """
    def key(task):
        return _natural(label(task))

    runs, batch = [], []
    for task in tasks:
        batch.append(task)
        if len(batch) == chunk:
            runs.append(sorted(batch, key=key))
            batch = []
    if batch or not runs:
        runs.append(sorted(batch, key=key))
    if len(runs) == 1:
        yield from runs[0]
        return
    yield from heapq.merge(*runs, key=key)  # ties: the earlier run first, as one stable sort


def _file_name(path: str) -> str:
    """``math.jsonl.gz`` -> ``math``."""
    name = Path(path).name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name


def _natural(task: str) -> list:
    """Sort ``task-2`` before ``task-10``.

    >>> sorted(["math/task-10/ab", "math/task-2/cd", "0f1e"], key=_natural)
    ['0f1e', 'math/task-2/cd', 'math/task-10/ab']
    """
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", task) if part]


def collect_stats(rollouts: Iterable[Rollout], tally: Tally, threshold: float = 1.0,
                  reward_component: str | None = None) -> RolloutStats:
    """One pass over the rollouts (already counted as read or rejected in ``tally``).

    Records that cannot be scored (masked, failed, no response, no reward) are counted as
    skipped with their reason, as the format writers count them.

    >>> from reference_impl.rollouts import Rollout
    >>> def r(task, reward):
    ...     return Rollout("x", 1, {"_ng_task_index": task, "reward": reward, "response": {"output": [
    ...         {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"},
    ...         {"type": "function_call_output", "call_id": "c", "output": "1"},
    ...         {"type": "message", "role": "assistant", "content": "done"}]}})
    >>> s = collect_stats([r(0, 1.0), r(0, 0.0), r(1, 0.0)], Tally(read=3))
    >>> s.pass_at()[1], s.turns, s.tool_calls
    ({'mean': 0.25, 'tasks': 2}, Counter({2: 3}), Counter({1: 3}))
    """
    step = StatsStep(threshold, reward_component).start(tally, None)
    for rollout in rollouts:
        step.push(rollout)
    return step.stats


class StatsStep(Step):
    """The statistics, push-style: each scored rollout is added to a {class}`RolloutStats`;
    the statistics of two parts of the input merge into those of the whole."""

    shape = "combine"

    def __init__(self, threshold: float = 1.0, reward_component: str | None = None):
        self.stats = RolloutStats(threshold)
        self.reward_component = reward_component

    def start(self, tally: Tally, emit) -> StatsStep:
        self.stats.tally = tally
        return super().start(tally, emit)

    def push(self, rollout: Rollout) -> None:
        record = rollout.record
        reason = skip_reason(record)
        reward = reward_of(record, self.reward_component)
        if reason is not None or reward is None:
            self.tally.skip(reason or f"no reward component {self.reward_component!r}")
            return
        self.tally.used += 1
        calls = sum(1 for item in trajectory_items(record) if item.get("type") == "function_call")
        self.stats.add(group_key(rollout), reward, count_turns(record), calls)

    @property
    def state(self) -> tuple:
        return self.stats.rewards, self.stats.turns, self.stats.tool_calls

    def merge(self, state: tuple) -> None:
        rewards, turns, tool_calls = state
        for task, values in rewards.items():
            mine = self.stats.rewards.get(task)
            if mine is None:
                self.stats.rewards[task] = values
            else:
                mine.extend(values)
        self.stats.turns.update(turns)
        self.stats.tool_calls.update(tool_calls)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def report_table(report: dict) -> str:
    """The report as aligned lines for a terminal.

    >>> print(report_table({"counts": {"read": 2, "used": 2, "skipped": {}, "rejected": {}}, "tasks": 1,
    ...     "rollouts_per_task": {"min": 2, "mean": 2.0, "max": 2}, "reward": {"mean": 0.5, "min": 0.0, "max": 1.0,
    ...     "p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9}, "pass_threshold": 1.0, "pass_rate": 0.5,
    ...     "pass_at_k": {"1": {"mean": 0.5, "tasks": 1}, "2": {"mean": 1.0, "tasks": 1}}, "tasks_all_passed": 0,
    ...     "tasks_none_passed": 0, "tasks_with_uniform_rewards": 0, "turns": {"mean": 1.0, "median": 1.0, "max": 1},
    ...     "tool_calls": {"mean": 0.0, "median": 0.0, "max": 0}}).splitlines()[:2])
    ['records           2 read: 2 scored, 0 skipped, 0 rejected', 'tasks             1 (rollouts per task: min 2, mean 2.000, max 2)']
    """
    c, r, per = report["counts"], report["reward"], report["rollouts_per_task"]
    lines = [
        f"records           {c['read']} read: {c['used']} scored, {sum(c['skipped'].values())} skipped, "
        f"{sum(c['rejected'].values())} rejected",
        f"tasks             {report['tasks']} (rollouts per task: min {_fmt(per['min'])}, mean {_fmt(per['mean'])}, "
        f"max {_fmt(per['max'])})",
        f"reward            mean {_fmt(r['mean'])}, min {_fmt(r['min'])}, max {_fmt(r['max'])}",
        "reward quantiles  " + ", ".join(f"p{round(q * 100)} {_fmt(r[f'p{round(q * 100)}'])}" for q in QUANTILES),
        f"pass threshold    reward >= {report['pass_threshold']:g}",
        f"pass rate         {_fmt(report['pass_rate'])} (tasks: {report['tasks_all_passed']} all passed, "
        f"{report['tasks_none_passed']} none passed)",
        "pass@k            " + (", ".join(f"pass@{k} {_fmt(v['mean'])}" for k, v in report["pass_at_k"].items()) or "-"),
        f"uniform tasks     {report['tasks_with_uniform_rewards']} (every rollout got the same reward: no GRPO signal)",
        f"turns             mean {_fmt(report['turns']['mean'])}, median {_fmt(report['turns']['median'])}, "
        f"max {_fmt(report['turns']['max'])} (assistant turns per trajectory)",
        f"tool calls        mean {_fmt(report['tool_calls']['mean'])}, median {_fmt(report['tool_calls']['median'])}, "
        f"max {_fmt(report['tool_calls']['max'])} (per trajectory)",
    ]
    lines += [f"skipped           {n}: {reason}" for reason, n in c["skipped"].items()]
    lines += [f"rejected          {n}: {reason}" for reason, n in c["rejected"].items()]
    return "\n".join(lines)


def task_table(report: dict) -> str:
    """One line per task: rollouts, passes, pass rate, mean reward and pass@k.

    >>> print(task_table({"per_task": {"task-0": {"rollouts": 2, "passed": 1, "pass_rate": 0.5, "mean_reward": 0.5,
    ...     "min_reward": 0.0, "max_reward": 1.0, "pass_at_k": {"1": 0.5, "2": 1.0}}}}))
    task        rollouts  passed  pass rate  mean reward  pass@k
    task-0             2       1      0.500        0.500  @1 0.500, @2 1.000
    """
    width = max([10, *map(len, report["per_task"])])
    lines = [f"{'task':{width}}  {'rollouts':>8}  {'passed':>6}  {'pass rate':>9}  {'mean reward':>11}  pass@k"]
    for task, t in report["per_task"].items():
        at = ", ".join(f"@{k} {v:.3f}" for k, v in t["pass_at_k"].items())
        lines.append(f"{task:{width}}  {t['rollouts']:>8}  {t['passed']:>6}  {t['pass_rate']:>9.3f}  {t['mean_reward']:>11.3f}  {at}")
    return "\n".join(lines)


def _save(fig, path: Path) -> Path:
    """Save a figure atomically (a temporary file renamed into place)."""
    from .io import AtomicWriter

    with AtomicWriter(path) as writer:
        fig.savefig(writer.handle, format=path.suffix[1:])
    return path


def draw_plots(stats: RolloutStats, folder, image_format: str = "png") -> list[Path]:
    """A reward histogram and a per-task pass-rate chart, as ``reward_histogram.<fmt>`` and
    ``pass_rate.<fmt>`` in ``folder``.

    Up to 40 tasks get a bar each; more are drawn as a histogram of the tasks' pass rates.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    green, blue = "#76b900", "#3b6fb6"

    from matplotlib.ticker import MaxNLocator

    rewards = stats.all_rewards()
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    low, high = (min(rewards + [0.0]), max(rewards + [1.0]))
    counts = Counter(rewards)
    if len(counts) <= 20:  # few distinct rewards (binary, graded): a bar centred on each value
        values = sorted(counts)
        gaps = [b - a for a, b in zip(values, values[1:])] or [high - low]
        width = min(min(gaps) * 0.8, (high - low) / 20)
        ax.bar(values, [counts[v] for v in values], width=width, color=green, edgecolor="white")
        ax.set_xlim(low - width, high + width)
    else:
        ax.hist(rewards, bins=20, range=(low, high), color=green, edgecolor="white")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of rollouts are whole numbers
    ax.axvline(stats.threshold, color=blue, linestyle="--", label=f"pass threshold {stats.threshold:g}")
    ax.set(xlabel="reward", ylabel="rollouts", title=f"Reward distribution ({len(rewards)} rollouts)")
    ax.legend(frameon=False)
    fig.tight_layout()
    written.append(_save(fig, folder / f"reward_histogram.{image_format}"))
    plt.close(fig)

    tasks = stats.per_task()
    if len(tasks) <= 40:
        names = list(tasks)[::-1]
        fig, ax = plt.subplots(figsize=(7, max(2.5, 0.25 * len(names) + 1)), dpi=110)
        ax.barh(names, [tasks[t]["pass_rate"] for t in names], color=blue)
        for y, name in enumerate(names):
            ax.text(min(tasks[name]["pass_rate"], 0.93) + 0.01, y, f"{tasks[name]['passed']}/{tasks[name]['rollouts']}",
                    va="center", fontsize=7)
        ax.set(xlim=(0, 1), xlabel=f"pass rate (reward >= {stats.threshold:g})", title="Pass rate per task")
        ax.tick_params(axis="y", labelsize=7)
    else:
        fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
        ax.hist([t["pass_rate"] for t in tasks.values()], bins=20, range=(0, 1), color=blue, edgecolor="white")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel=f"pass rate (reward >= {stats.threshold:g})", ylabel="tasks",
               title=f"Pass rate per task ({len(tasks)} tasks)")
    fig.tight_layout()
    written.append(_save(fig, folder / f"pass_rate.{image_format}"))
    plt.close(fig)
    return written
