"""The quality report of a rollout file: rewards, pass rates, pass@k, turns and tool calls.

One streaming pass keeps, per task, its rewards (a few numbers each) and, for the whole
file, running counts; nothing of the trajectories.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from .filters import count_turns
from .pipeline import Tally
from .rollouts import Rollout, reward_of, skip_reason, task_key, trajectory_items

__all__ = ["pass_at_k", "quantile", "RolloutStats", "collect_stats", "report_table", "draw_plots"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of a task with ``n`` rollouts of which ``c`` passed: ``1 - C(n-c, k) / C(n, k)``.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
    (0.25, 1.0, 0.0)
    """
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def quantile(sorted_values, q: float) -> float:
    """The q-quantile of sorted values, interpolated linearly.

    >>> quantile([0.0, 1.0, 2.0, 3.0], 0.5)
    1.5
    """
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass
class RolloutStats:
    """What one pass over a rollout file found."""

    threshold: float
    tally: Tally = field(default_factory=Tally)
    rewards: dict = field(default_factory=lambda: defaultdict(lambda: array("d")))
    turns: array = field(default_factory=lambda: array("l"))
    tool_calls: array = field(default_factory=lambda: array("l"))

    def all_rewards(self) -> list[float]:
        return sorted(r for values in self.rewards.values() for r in values)

    def per_task(self) -> dict[str, dict]:
        tasks = {}
        for task, values in self.rewards.items():
            passed = sum(1 for r in values if r >= self.threshold)
            tasks[task] = {"rollouts": len(values), "passed": passed, "pass_rate": passed / len(values),
                           "mean_reward": sum(values) / len(values)}
        return tasks

    def pass_at(self) -> dict[int, float]:
        """pass@k averaged over the tasks with at least k rollouts."""
        largest = max((len(v) for v in self.rewards.values()), default=0)
        result = {}
        for k in range(1, largest + 1):
            scores = [pass_at_k(len(v), sum(1 for r in v if r >= self.threshold), k)
                      for v in self.rewards.values() if len(v) >= k]
            result[k] = sum(scores) / len(scores)
        return result

    def as_dict(self) -> dict:
        rewards = self.all_rewards()
        sizes = [len(v) for v in self.rewards.values()]
        return {
            "counts": self.tally.as_dict(),
            "tasks": len(self.rewards),
            "rollouts_per_task": {"min": min(sizes, default=0), "mean": sum(sizes) / len(sizes) if sizes else 0,
                                  "max": max(sizes, default=0)},
            "reward": {"mean": sum(rewards) / len(rewards) if rewards else None, "min": rewards[0] if rewards else None,
                       "max": rewards[-1] if rewards else None,
                       **{f"p{int(q * 100)}": quantile(rewards, q) for q in (0.1, 0.25, 0.5, 0.75, 0.9)}},
            "pass_threshold": self.threshold,
            "pass_rate": sum(1 for r in rewards if r >= self.threshold) / len(rewards) if rewards else None,
            "pass_at_k": {str(k): v for k, v in self.pass_at().items()},
            "turns": _summary(self.turns),
            "tool_calls": _summary(self.tool_calls),
            "per_task": self.per_task(),
        }


def _summary(values) -> dict:
    values = sorted(values)
    return {"mean": sum(values) / len(values) if values else None, "median": quantile(values, 0.5) if values else None,
            "max": values[-1] if values else None}


def collect_stats(rollouts: Iterable[Rollout], tally: Tally, threshold: float = 1.0,
                  reward_component: str | None = None) -> RolloutStats:
    """One pass over the rollouts (already counted as read or rejected in ``tally``)."""
    stats = RolloutStats(threshold, tally)
    for rollout in rollouts:
        reason = skip_reason(rollout.record)
        reward = reward_of(rollout.record, reward_component)
        if reason is not None or reward is None:
            tally.skip(reason or "no reward")
            continue
        tally.used += 1
        stats.rewards[task_key(rollout.record)].append(reward)
        stats.turns.append(count_turns(rollout.record))
        stats.tool_calls.append(sum(1 for i in trajectory_items(rollout.record) if i.get("type") == "function_call"))
    return stats


def report_table(report: dict) -> str:
    """The report as a few aligned lines for a terminal.

    >>> print(report_table({"counts": {"read": 2, "used": 2, "skipped": {}, "rejected": {}}, "tasks": 1,
    ...     "rollouts_per_task": {"min": 2, "mean": 2, "max": 2}, "reward": {"mean": 0.5, "min": 0.0, "max": 1.0,
    ...     "p10": 0.1, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9}, "pass_threshold": 1.0, "pass_rate": 0.5,
    ...     "pass_at_k": {"1": 0.5, "2": 1.0}, "turns": {"mean": 1, "median": 1, "max": 1},
    ...     "tool_calls": {"mean": 0, "median": 0, "max": 0}}).splitlines()[0])
    records          2 read, 2 used, 0 skipped, 0 rejected
    """
    c, r = report["counts"], report["reward"]
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = [
        f"records          {c['read']} read, {c['used']} used, {sum(c['skipped'].values())} skipped, "
        f"{sum(c['rejected'].values())} rejected",
        f"tasks            {report['tasks']} (rollouts per task: min {report['rollouts_per_task']['min']}, "
        f"mean {fmt(float(report['rollouts_per_task']['mean']))}, max {report['rollouts_per_task']['max']})",
        f"reward           mean {fmt(r['mean'])}, min {fmt(r['min'])}, max {fmt(r['max'])}",
        f"reward quantiles p10 {fmt(r['p10'])}, p25 {fmt(r['p25'])}, p50 {fmt(r['p50'])}, p75 {fmt(r['p75'])}, p90 {fmt(r['p90'])}",
        f"pass rate        {fmt(report['pass_rate'])} (reward >= {report['pass_threshold']:g})",
        "pass@k           " + ", ".join(f"pass@{k} {fmt(v)}" for k, v in report["pass_at_k"].items()),
        f"turns            mean {fmt(float(report['turns']['mean'] or 0))}, max {fmt(report['turns']['max'])}",
        f"tool calls       mean {fmt(float(report['tool_calls']['mean'] or 0))}, max {fmt(report['tool_calls']['max'])}",
    ]
    lines += [f"skipped          {n}: {reason}" for reason, n in c["skipped"].items()]
    lines += [f"rejected         {n}: {reason}" for reason, n in c["rejected"].items()]
    return "\n".join(lines)


def draw_plots(stats: RolloutStats, folder) -> list:
    """A reward histogram and a per-task pass-rate chart, as PNG files in ``folder``."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    ax.hist(stats.all_rewards(), bins=20, color="#76b900", edgecolor="white")
    ax.axvline(stats.threshold, color="#3b6fb6", linestyle="--", label=f"pass threshold {stats.threshold:g}")
    ax.set(xlabel="reward", ylabel="rollouts", title="Reward distribution")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(folder / "reward_histogram.png")
    plt.close(fig)
    written.append(folder / "reward_histogram.png")

    tasks = sorted(stats.per_task().items(), key=lambda kv: kv[1]["pass_rate"])[-40:]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.22 * len(tasks) + 1)), dpi=110)
    ax.barh([t for t, _ in tasks], [v["pass_rate"] for _, v in tasks], color="#3b6fb6")
    ax.set(xlim=(0, 1), xlabel=f"pass rate (reward >= {stats.threshold:g})", title="Pass rate per task")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(folder / "pass_rate.png")
    plt.close(fig)
    written.append(folder / "pass_rate.png")
    return written

