"""The work of one output, push-style: what the engine ({mod}`reference_impl.pipeline`) runs.

A step is handed the records one at a time (``push``), and told when the input ends
(``finish``); it counts what it does in its ``tally``, hands the rows it makes on the way
to ``emit``, and returns from ``finish`` the rows it held back (one at a time: a generator).
Formats, filters and statistics are steps; none of them knows how it is run. Its
``shape`` says how its work is shared out when a large input is read in byte ranges:

* ``"record"``: each row comes from one record. Each range's rows are written apart and
  joined in file order.
* ``"task"``: one row per task, from its first rollout. Each range makes the row of the
  first rollout of each of its tasks (``in_range``) and passes it on with the task's key;
  the step keeps the first of each task, in file order (``take``).
* ``"combine"``: rows come at the end, from what the step kept (``state``: the two
  rollouts a preference pair needs, a task's rewards). Each range's state is merged into
  the step in file order (``merge``), and the step finishes once. A step that can share out
  that finishing has ``finish_jobs(parts)``: picklable jobs, each taking an ``emit`` and
  returning its tally, whose rows in order are ``finish``'s (preference pairs).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from .rollouts import Rollout
from .tally import Tally

__all__ = ["Step", "pulled"]


class Step:
    """The base of every step; ``push`` is the one method a step must have.

    >>> class Rewards(Step):
    ...     def push(self, rollout):
    ...         self.tally.used += 1
    ...         self.emit({"reward": rollout.record["reward"]})
    >>> rows = []
    >>> step = Rewards().start(Tally(), rows.append)
    >>> step.push(Rollout("x.jsonl", 1, {"reward": 1.0}))
    >>> rows, step.tally.used
    ([{'reward': 1.0}], 1)
    """

    shape = "record"
    tally: Tally
    emit: Callable[[Any], None]

    def start(self, tally: Tally, emit: Callable[[Any], None]) -> Step:
        """Give the step the tally it counts in and where its rows go; returns the step."""
        self.tally, self.emit = tally, emit
        return self

    def push(self, rollout: Rollout) -> None:
        raise NotImplementedError

    def finish(self) -> Iterable:
        """The input has ended: the rows held back until now."""
        return ()

    @property
    def state(self) -> Any:
        """What a ``"combine"`` step kept, as plain data (sent from a worker to the parent)."""
        return None

    def merge(self, state: Any) -> None:
        """Add the state of the next byte range of the input to this step's."""
        raise NotImplementedError(f"{type(self).__name__} is not a combining step")


def pulled(make: Callable[[], Step]) -> Callable[[Iterable[Rollout], Tally], Iterator]:
    """The step as a pull-style converter: ``convert(rollouts, tally)`` yields its rows.

    >>> from reference_impl.tally import Tally
    >>> class Double(Step):
    ...     def push(self, rollout):
    ...         self.emit(rollout.line * 2)
    >>> list(pulled(Double)([Rollout("x", 1, {}), Rollout("x", 2, {})], Tally()))
    [2, 4]
    """

    def convert(rollouts: Iterable[Rollout], tally: Tally) -> Iterator:
        rows: list = []
        step = make().start(tally, rows.append)
        for rollout in rollouts:
            step.push(rollout)
            if rows:
                yield from rows
                rows.clear()
        yield from step.finish()

    return convert
