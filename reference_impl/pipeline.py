"""Read rollouts, convert them, write the result: with every record accounted for.

A run reads one or more rollout files and hands the good records to a converter (a
format's algorithm, or a filter). Each input line ends up in exactly one place:

* **used**: it went into the output;
* **skipped**, with a reason: well formed, but not training data for this algorithm
  (no reward, masked, a task group that taught nothing, ...);
* **rejected**, with ``file:line: reason``: malformed.

so that ``read == used + skipped + rejected`` always holds ({meth}`Tally.reconciles`).

Bad input is strict by default: the first rejected line stops the run, nothing is
written, and the caller exits non-zero. With ``skip_invalid=True`` the valid records are
written and each rejected line goes, with its reason, into a rejects file beside the
output. A manifest beside the output records the counts and the checksums.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .io import JsonlWriter, OutputExistsAsInput, open_writer, same_file, sha256_of, write_json
from .rollouts import Rollout, RolloutError, iter_rollouts

__all__ = ["Skip", "Tally", "InvalidInput", "Converter", "read_rollouts", "run", "RunResult", "sidecar_path"]


class Skip(Exception):
    """Raised by a per-record converter to skip a record; the reason is counted.

    >>> Skip("no reward").reason
    'no reward'
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class InvalidInput(Exception):
    """A rejected line stopped a strict run; ``error`` is the {class}`~reference_impl.rollouts.RolloutError`."""

    def __init__(self, error: RolloutError):
        super().__init__(str(error))
        self.error = error


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

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] += count

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
        return "\n".join(lines)


Converter = Callable[[Iterable[Rollout], Tally], Iterator[dict]]
"""A converter takes rollouts and the run's tally and yields output rows.

It counts what it does with every record: ``tally.used += n`` for records that go into a
row, ``tally.skip(reason)`` for the others."""


def _reason_kind(reason: str) -> str:
    """The reason without its variable part, for counting.

    >>> _reason_kind("not valid JSON (unexpected character: line 1 column 1 (char 0))")
    'not valid JSON'
    >>> _reason_kind("response.output[3] is an array, expected an object")
    'response.output[] is an array, expected an object'
    """
    import re

    return re.sub(r"\[\d+\]", "[]", reason.split(" (", 1)[0])


def read_rollouts(
    paths: Sequence[str | Path],
    tally: Tally,
    on_reject: Callable[[RolloutError], None] | None = None,
    progress: bool | None = None,
) -> Iterator[Rollout]:
    """Stream the records of several files, counting lines and handling rejected ones.

    Args:
        paths: rollout files, read in order.
        tally: counts ``read`` and ``rejected``.
        on_reject: called with each rejected line; ``None`` makes the first one raise
            {class}`InvalidInput` (the strict policy).
        progress: show a progress bar; ``None`` shows it only on a terminal.

    Yields:
        The good records.
    """
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(unit=" records", desc="reading", file=sys.stderr, mininterval=0.5)
    try:
        for path in paths:
            for item in iter_rollouts(path):
                tally.read += 1
                if bar is not None:
                    bar.update()
                if isinstance(item, RolloutError):
                    if on_reject is None:
                        tally.rejected[_reason_kind(item.reason)] += 1
                        raise InvalidInput(item)
                    tally.rejected[_reason_kind(item.reason)] += 1
                    on_reject(item)
                    continue
                yield item
    finally:
        if bar is not None:
            bar.close()


def sidecar_path(output: str | Path, kind: str) -> Path:
    """The path of a file written beside an output: its manifest or its rejects.

    >>> sidecar_path("out/train.parquet", "manifest").as_posix()
    'out/train.manifest.json'
    >>> sidecar_path("out/train.jsonl", "rejects").as_posix()
    'out/train.rejects.jsonl'
    """
    output = Path(output)
    suffix = ".json" if kind == "manifest" else ".jsonl"
    return output.with_name(f"{output.stem}.{kind}{suffix}")


@dataclass
class RunResult:
    """What a run did: its tally, and the files it wrote."""

    tally: Tally
    output: Path
    manifest: Path
    rejects: Path | None
    seconds: float


def run(
    inputs: Sequence[str | Path],
    output: str | Path,
    convert: Converter,
    *,
    skip_invalid: bool = False,
    description: dict | None = None,
    progress: bool | None = None,
    write_rows: Callable | None = None,
) -> RunResult:
    """Convert rollout files into one output file, atomically, with a manifest.

    Args:
        inputs: rollout files.
        output: the file to write (``.jsonl`` or ``.parquet``); never one of the inputs.
        convert: a {data}`Converter`.
        skip_invalid: write the valid records and put rejected lines in a rejects file,
            instead of stopping at the first one.
        description: what to record in the manifest about this run (target, options...).
        progress: show a progress bar (default: only on a terminal).
        write_rows: a writer factory taking the output path, for formats that need their own.

    Returns:
        A {class}`RunResult`.

    Raises:
        InvalidInput: a malformed line, in strict mode. Nothing is written.
        OutputExistsAsInput: the output is one of the inputs.
    """
    started = time.perf_counter()
    output = Path(output)
    for path in inputs:
        if same_file(path, output):
            raise OutputExistsAsInput(f"refusing to write {output}: it is an input file")
    tally = Tally()
    rejects_path = sidecar_path(output, "rejects")
    writer = (write_rows or open_writer)(output)
    rejects = JsonlWriter(rejects_path) if skip_invalid else None

    def reject(error: RolloutError) -> None:
        rejects.write({"file": error.path, "line": error.line, "reason": error.reason})

    try:
        records = read_rollouts(inputs, tally, reject if skip_invalid else None, progress)
        for row in convert(records, tally):
            writer.write(row)
        tally.rows = writer.rows
    except BaseException:
        writer.abort()
        if rejects is not None:
            rejects.abort()
        raise
    writer.commit()
    wrote_rejects = None
    if rejects is not None:
        if rejects.rows:
            rejects.commit()
            wrote_rejects = rejects_path
        else:
            rejects.abort()
    manifest = sidecar_path(output, "manifest")
    write_json(
        manifest,
        {
            "inputs": [{"path": str(p), "sha256": sha256_of(p)} for p in inputs],
            "output": {"path": str(output), "sha256": sha256_of(output)},
            "rejects": str(wrote_rejects) if wrote_rejects else None,
            "counts": tally.as_dict(),
            "run": description or {},
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return RunResult(tally, output, manifest, wrote_rejects, time.perf_counter() - started)
