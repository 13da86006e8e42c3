"""Validate training data against the format it claims to be, row by row.

For every target and algorithm that the format writers produce (JSONL or parquet), check
the required fields
and their types, empty values, the order of roles (a tool result answers a call of the
assistant turn before it, by ``tool_call_id``; SFT ends with the assistant), pairs that do
not differ, ranks, labels and margins, NaN and infinity, and duplicate rows. Each problem
names ``file:line`` (the row number, for parquet).

What a row must hold is not written here: each format writer declares it beside itself as
{class}`~reference_impl.formats.base.RowSpec` (``Algorithm.row_specs``), and {data}`SPECS` is
read from there. This module only knows what the kinds (``KINDS``) and the rules
(``RULES``) named in those declarations mean.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from .formats import TARGETS
from .io import shows_progress
from .formats.base import RowSpec
from .rows import KINDS, RULES, choose_spec, field_problem, get_dotted, messages_problem, row_problems  # noqa: F401
from .rows import problem_kind as _kind
from .rollouts import RolloutError, parse_line

__all__ = ["KINDS", "RULES", "SPECS", "field_problem", "messages_problem", "row_problems", "choose_spec",
           "iter_rows", "validate_file", "Report"]

SPECS: dict[tuple[str, str], tuple[RowSpec, ...]] = {
    (target, name): algorithm.row_specs
    for target, algorithms in TARGETS.items()
    for name, algorithm in algorithms.items()
    if algorithm.row_specs
}
"""The row shapes of every (target, algorithm), read from the format writers."""


def _parse_json_row(raw: bytes, path: str, number: int) -> tuple[Any, str | None]:
    """A JSONL line as a row, or why it is not one. NaN and Infinity (which Python's
    ``json.dumps`` writes, and strict JSON readers refuse) are read, so the row checks name
    the field."""
    try:
        return parse_line(raw, path, number), None
    except RolloutError as error:
        if error.reason.startswith("not valid JSON"):
            try:
                return json.loads(raw), "not strict JSON: NaN or Infinity, which pyarrow and orjson refuse to read"
            except (ValueError, UnicodeDecodeError):
                pass
        return None, error.reason


def iter_rows(path: str | Path, batch_rows: int = 1024) -> Iterator[tuple[int, Any, str | None]]:
    """``(line, row, problem)`` for each row of a JSONL or parquet file.

    Parquet is read in batches of ``batch_rows`` (the line is the 1-based row number);
    JSONL line by line, blank lines passed over. ``row`` is ``None`` when the line cannot
    be read at all, and ``problem`` says why.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            yield 0, None, f"not a parquet file ({exc})"
            return
        number = 0
        for batch in parquet.iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                number += 1
                yield number, row, None
        return
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            row, problem = _parse_json_row(raw, str(path), number)
            yield number, row, problem


@dataclass
class Report:
    """The result of validating one file.

    Attributes:
        path: the file.
        rows: rows read.
        problems: ``file:line: what`` for what a loader would reject or mistrain on (the
            first ``keep`` of them; ``kinds`` counts them all).
        duplicates: ``file:line: duplicate of line N`` for rows that repeat an earlier one.
        kinds: every problem counted by what it is, without its place.
        sha256: the file's checksum.
    """

    path: str
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    duplicate_count: int = 0
    sha256: str = ""
    keep: int = 10_000

    @property
    def problem_count(self) -> int:
        return sum(self.kinds.values())

    @property
    def clean(self) -> bool:
        """No problems and no duplicate rows."""
        return self.problem_count == 0 and self.duplicate_count == 0

    @property
    def loadable(self) -> bool:
        """No problems; duplicate rows (a trajectory weighed twice) are allowed."""
        return self.problem_count == 0

    def add(self, where: str, problem: str) -> None:
        self.kinds[_kind(problem)] += 1
        if len(self.problems) < self.keep:
            self.problems.append(f"{where}: {problem}")

    def add_duplicate(self, where: str, first: int) -> None:
        self.duplicate_count += 1
        if len(self.duplicates) < self.keep:
            self.duplicates.append(f"{where}: duplicate of line {first}")

    def as_dict(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows, "problems": self.problem_count,
                "problems_by_kind": dict(self.kinds.most_common()), "duplicate_rows": self.duplicate_count,
                "first_problems": self.problems[:100], "first_duplicates": self.duplicates[:100]}


def validate_file(path: str | Path, target: str, algorithm: str, progress: bool | None = False) -> Report:
    """Validate every row of a training file; problems are ``file:line: what``.

    Args:
        path: a ``.jsonl`` or ``.parquet`` file.
        target: ``trl``, ``nemo_rl``, ``verl`` or ``openrlhf``.
        algorithm: one of the target's algorithms.
        progress: show a progress bar on standard error; ``None`` shows it only on a terminal.

    Returns:
        A {class}`Report`: ``problems`` that a loader would reject or mistrain on, and
        ``duplicates``, rows that repeat an earlier one.

    Raises:
        KeyError: no format writer declares rows for this target and algorithm.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "kto.jsonl"
    >>> _ = p.write_text('{"prompt": [{"role": "user", "content": "2+2?"}], "completion": "4", "label": true}\\n'
    ...                  '{"prompt": [{"role": "user", "content": "2+2?"}], "completion": "", "label": 1}\\n')
    >>> [line.split(": ", 1)[1] for line in validate_file(p, "trl", "kto").problems]
    ['completion: an empty string', 'label: expected true or false, got 1']
    """
    from .io import sha256_of

    specs = SPECS.get((target, algorithm))
    if specs is None:
        known = ", ".join(f"{t} {a}" for t, a in sorted(SPECS))
        raise KeyError(f"no specification for {target} {algorithm}; known: {known}")
    report = Report(str(path), sha256=sha256_of(path))
    spec: RowSpec | None = None
    seen_rows: dict[bytes, int] = {}
    seen_unique: dict[Any, int] = {}
    rows = iter_rows(path)
    if shows_progress(progress):
        from tqdm import tqdm

        rows = tqdm(rows, unit=" rows", desc=f"validating {Path(path).name}", file=sys.stderr, mininterval=0.5)
    for number, row, problem in rows:
        where = f"{path}:{number}" if number else str(path)
        if row is None:
            report.add(where, problem)
            continue
        report.rows += 1
        if problem:
            report.add(where, problem)
        spec = spec or choose_spec(specs, row)
        for found in row_problems(row, spec):
            report.add(where, found)
        digest = hashlib.blake2b(orjson.dumps(row, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY
                                              | orjson.OPT_NON_STR_KEYS), digest_size=16).digest()
        if digest in seen_rows:
            report.add_duplicate(where, seen_rows[digest])
        else:
            seen_rows[digest] = number
        if spec.unique and isinstance(row, dict):
            present, value = get_dotted(row, spec.unique)
            if present and value is not None:
                key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS) if isinstance(value, (dict, list)) else value
                if key in seen_unique:
                    report.add(where, f"{spec.unique} {value!r} repeats line {seen_unique[key]}")
                else:
                    seen_unique[key] = number
    if report.rows == 0 and not report.problem_count:
        report.add(str(path), "no rows")
    return report
