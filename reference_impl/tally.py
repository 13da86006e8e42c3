"""What a run counts, and the exceptions every layer shares: the bottom of the package.

Every other module may import this one; it imports nothing of the package. A record's
work raises {class}`Skip` to leave it out with a reason; a run counts what it read, used,
skipped and rejected in a {class}`Tally`, and tallies of parts of a run add up
({meth}`Tally.merge`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Skip", "Tally", "RunStopped", "InvalidInput", "InternalError", "NothingToWrite", "reason_kind"]


class Skip(Exception):
    """Raised by the work on one record to leave it out; the reason is counted.

    >>> Skip("no reward").reason
    'no reward'
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RunStopped(Exception):
    """A reason, other than bad input, that a run stops that is not a bug (an input that changed
    while being read, ...); the message says what happened. A run lets it through as it is,
    never as an {class}`InternalError`."""


class InvalidInput(Exception):
    """A rejected line stopped a strict run; ``error`` is the {class}`~reference_impl.rollouts.RolloutError`."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error

    def __reduce__(self):  # sent back by worker processes
        return InvalidInput, (self.error,)


class InternalError(Exception):
    """An exception this package did not expect while converting a record: a bug, not bad data.

    ``where`` is ``file:line`` of the last record read when it happened.

    >>> str(InternalError("x.jsonl:3", KeyError("role")))
    "x.jsonl:3: KeyError: 'role'"
    """

    def __init__(self, where: str, error: BaseException):
        super().__init__(f"{where}: {type(error).__name__}: {error}")
        self.where = where
        self.error = error

    def __reduce__(self):  # sent back by worker processes
        return InternalError, (self.where, self.error)


class NothingToWrite(Exception):
    """A run would have written an output without rows, so it wrote nothing at all: no output,
    no manifest, no rejects file.

    Attributes:
        empty: ``(path, tally)`` of each output that would have had no rows, in order.
        outputs: how many outputs the run had (the others had rows, and were not written either).

    >>> str(NothingToWrite([("pairs.jsonl", Tally(read=5))], 2))
    'nothing to write to pairs.jsonl'
    """

    def __init__(self, empty: list, outputs: int):
        super().__init__("nothing to write to " + ", ".join(str(path) for path, _ in empty))
        self.empty = empty
        self.outputs = outputs


def reason_kind(reason: str) -> str:
    """A reason without its variable part (the details in brackets, array indexes), for counting.

    >>> reason_kind("not valid JSON (unexpected character: line 1 column 1 (char 0))")
    'not valid JSON'
    >>> reason_kind("response.output[3] is an array, expected an object")
    'response.output[] is an array, expected an object'
    """
    return re.sub(r"\[\d+\]", "[]", reason.split(" (", 1)[0])


@dataclass
class Tally:
    """The counts of one run.

    Attributes:
        read: input lines read (blank lines aside).
        used: records that went into the output.
        rows: rows written (a preference pair uses two records for one row).
        skipped: skipped records by reason.
        rejected: rejected lines by reason.
        dropped: parts left out inside records that were used (images, unknown items, ...).
        flagged: records used as they are, with something worth knowing (assistant turns back to back).

    >>> t = Tally(read=4, used=2, skipped=Counter({"no reward": 1}), rejected=Counter({"not valid JSON": 1}))
    >>> t.reconciles()
    True
    """

    read: int = 0
    used: int = 0
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

    def merge(self, other: Tally) -> Tally:
        """Add the counts of another part of the run to these; returns ``self``.

        >>> a = Tally(read=2, used=1, skipped=Counter({"no reward": 1}))
        >>> a.merge(Tally(read=1, used=1)).as_dict()["read"], (a + a).used
        (3, 4)
        """
        self.read += other.read
        self.used += other.used
        self.rows += other.rows
        self.skipped.update(other.skipped)
        self.rejected.update(other.rejected)
        self.dropped.update(other.dropped)
        self.flagged.update(other.flagged)
        return self

    def __add__(self, other: Tally) -> Tally:
        return Tally().merge(self).merge(other)

    def reconciles(self) -> bool:
        """Whether every line read is used, skipped or rejected, exactly once."""
        return self.read == self.used + sum(self.skipped.values()) + sum(self.rejected.values())

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "used": self.used,
            "rows_written": self.rows,
            "skipped": dict(self.skipped.most_common()),
            "rejected": dict(self.rejected.most_common()),
            "dropped_parts": dict(self.dropped.most_common()),
            "flagged": dict(self.flagged.most_common()),
            "reconciles": self.reconciles(),
        }

    def report(self) -> str:
        """A few lines for people: what was read, written, skipped and rejected.

        >>> print(Tally(read=3, used=2, rows=2, skipped=Counter({"no reward": 1})).report())
        read 3 records: 2 used -> 2 rows written, 1 skipped, 0 rejected
          skipped 1: no reward
        """
        lines = [
            f"read {self.read} records: {self.used} used -> {self.rows} rows written, "
            f"{sum(self.skipped.values())} skipped, {sum(self.rejected.values())} rejected"
        ]
        lines += [f"  skipped {n}: {reason}" for reason, n in self.skipped.most_common()]
        lines += [f"  rejected {n}: {reason}" for reason, n in self.rejected.most_common()]
        lines += [f"  dropped inside records {n}: {what}" for what, n in self.dropped.most_common()]
        lines += [f"  flagged {n}: {what}" for what, n in self.flagged.most_common()]
        return "\n".join(lines)
