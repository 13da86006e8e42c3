"""The engine: read rollouts once, push each record to every output, write the results.

Each output of a run is a {class}`~reference_impl.step.Step`: a format's rows, a filter, the
statistics. The reader parses each line once and pushes the record to every step; each
input line ends up in exactly one place, for every output:

* **used**: it went into the output;
* **skipped**, with a reason: well formed, but not training data for this output (no
  reward, masked, a task group that taught nothing, dropped by a filter...);
* **rejected**, with ``file:line: reason``: malformed.

so that ``read == used + skipped + rejected`` always holds ({meth}`~reference_impl.tally.Tally.reconciles`).

Bad input is strict by default: the first rejected line stops the run, nothing is
written, and the caller exits non-zero. With ``skip_invalid=True`` the valid records are
written and each rejected line goes, with its reason, into a rejects file beside the
first output. A manifest beside each output records the counts and the checksums.

Two runners, one pass each:

* **local** (small, compressed or several inputs, or a pipe): one process, no threads;
* **parallel** (one uncompressed file of {data}`SPLIT_MIN_BYTES` or more): the file is cut
  at line boundaries into one byte range per core, and a worker process per range pushes
  its records to its own steps. Workers are rebuilt from plain data (the steps' picklable
  factories), so they start with ``spawn`` as well as ``fork``. The parent then joins each
  output in file order, as the step's ``shape`` says: the rows of each range (``record``),
  the rows of each range's first rollout of every task, the first of each task kept
  (``task``), or the steps' merged states (``combine``). The files are the ones one pass writes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NoReturn, Sequence

import orjson

from .io import (JsonlWriter, OutputExistsAsInput, input_sha256, manifest, open_writer, same_file, sha256_of,
                 shows_progress, write_json)
from .rollouts import Rollout, RolloutError, iter_rollouts
from .step import Step
from .tally import InternalError, InvalidInput, NothingToWrite, RunStopped, Skip, Tally, reason_kind

__all__ = ["Skip", "Tally", "InvalidInput", "InternalError", "RunStopped", "NothingToWrite", "Converter", "read_rollouts", "run", "run_many", "execute",
           "Output", "RunResult", "sidecar_path", "line_aligned_spans", "SPLIT_MIN_BYTES",
           "worker_count"]

Converter = Callable[[Iterable[Rollout], Tally], Iterator[dict]]
"""A pull-style converter: ``convert(rollouts, tally)`` yields rows (see {data}`reference_impl.formats.base.Converter`)."""

SPLIT_MIN_BYTES = 64 << 20
"""Inputs smaller than this are read by one process: starting workers would cost more."""


def read_rollouts(
    paths: Sequence[str | Path],
    tally: Tally,
    on_reject: Callable[[RolloutError], None] | None = None,
    progress: bool | None = None,
    span: tuple[int, int] | None = None,
) -> Iterator[Rollout]:
    """Stream the records of several files, counting lines and handling rejected ones.

    Args:
        paths: rollout files, read in order.
        tally: counts ``read`` and ``rejected``.
        on_reject: called with each rejected line; ``None`` makes the first one raise
            {class}`~reference_impl.tally.InvalidInput` (the strict policy).
        progress: show a progress bar; ``None`` shows it only on a terminal.
        span: read only the lines that start in this byte range of the one input file.

    Yields:
        The good records.
    """
    bar = None
    if shows_progress(progress):
        from tqdm import tqdm

        label = "reading" if span is None else "reading part 1"
        bar = tqdm(unit=" records", desc=label, file=sys.stderr, mininterval=0.5)
    try:
        for path in paths:
            for item in iter_rollouts(path, span=span):
                tally.read += 1
                if bar is not None:
                    bar.update()
                if isinstance(item, RolloutError):
                    tally.rejected[reason_kind(item.reason)] += 1
                    if on_reject is None:
                        raise InvalidInput(item)
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
    """What a run did for one output: its tally, and the files it wrote."""

    tally: Tally
    output: Path
    manifest: Path
    rejects: Path | None
    seconds: float


@dataclass(frozen=True)
class Output:
    """One file a run writes.

    Attributes:
        path: the file (``.jsonl`` or ``.parquet``); never one of the inputs.
        step: makes the {class}`~reference_impl.step.Step` that makes its rows; picklable
            (a module-level function, or a ``functools.partial`` of one), so that a worker
            process can make its own.
        write_rows: a writer factory taking the path (default: by suffix, {func}`~reference_impl.io.open_writer`).
        description: what to record in its manifest about the run (target, options...).
        row_number: a dotted field the writer sets to each row's number in the file.
        convert: instead of ``step``, a pull-style {data}`Converter`; it runs alone, in one pass.
    """

    path: Path
    step: Callable[[], Step] | None = None
    write_rows: Callable = open_writer
    description: dict = field(default_factory=dict)
    row_number: str | None = None
    convert: Converter | None = None


def run(
    inputs: Sequence[str | Path],
    output: str | Path,
    convert,
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
        convert: a format's converter ({meth}`~reference_impl.formats.base.Algorithm.converter`),
            or any pull-style {data}`Converter`.
        skip_invalid: write the valid records and put rejected lines in a rejects file,
            instead of stopping at the first one.
        description: what to record in the manifest about this run (target, options...).
        progress: show a progress bar (default: only on a terminal).
        write_rows: a writer factory taking the output path, for formats that need their own.

    Returns:
        A {class}`RunResult`.

    Raises:
        InvalidInput: a malformed line, in strict mode. Nothing is written.
        NothingToWrite: no row to write (every record skipped or rejected). Nothing is written.
        OutputExistsAsInput: the output is one of the inputs.
    """
    from .formats import TARGETS, FormatStep, format_step
    from .formats.base import FormatConverter

    target = Output(Path(output), None, write_rows or open_writer, description or {}, convert=convert)
    if isinstance(convert, FormatConverter) and isinstance(convert.step(), FormatStep):
        algorithm = convert.algorithm
        registered = TARGETS.get(algorithm.target, {}).get(algorithm.name) is algorithm
        make = partial(format_step, algorithm.target, algorithm.name, convert.options) if registered else convert.step
        target = Output(Path(output), make, write_rows or open_writer, description or {}, algorithm.row_number)
    [result] = run_many(inputs, [target], skip_invalid=skip_invalid, progress=progress)
    return result


def run_many(
    inputs: Sequence[str | Path],
    outputs: Sequence[Output],
    *,
    drop_reason: Callable[[dict], str | None] | None = None,
    skip_invalid: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
    start_method: str | None = None,
    ray_address: str | bool | None = False,
) -> list[RunResult]:
    """Read rollout files once, filter them, and write several outputs from that one read.

    Each output gets its own manifest and tally, and each tally reconciles on its own: the
    records the filter dropped are counted as skipped, with their reasons, in every one. The
    outputs are put in place only when all of them succeeded and each has rows.

    Args:
        inputs: rollout files.
        outputs: the files to write ({class}`Output`); none may be an input or another output.
        drop_reason: a record filter, ``record -> reason to drop it, or None`` (see
            {func}`reference_impl.filters.record_drop_reason`); ``None`` keeps every record.
        skip_invalid: write the valid records and list rejected lines in a rejects file
            beside the first output, instead of stopping at the first one.
        progress: show a progress bar (default: only on a terminal).
        workers: worker processes (default: one per core for one large uncompressed file,
            else none); see {func}`execute`.
        start_method: how workers start (``fork``, ``spawn``...; default: the system's).
        ray_address: run the workers on Ray instead: the cluster at this address, or ``None``
            for a local one; ``False`` (the default) uses no Ray. The input must be one
            uncompressed file that every node can read.

    Returns:
        One {class}`RunResult` per output, in order.

    Raises:
        InvalidInput: a malformed line, in strict mode. Nothing is written.
        InternalError: a bug in a step; the record read last is named. Nothing is written.
        NothingToWrite: an output would have no row. Nothing is written, not even the others.
        OutputExistsAsInput: an output is one of the inputs.
        ValueError: two outputs are the same file.
    """
    started = time.perf_counter()
    paths = [Path(o.path) for o in outputs]
    for output in paths:
        for path in inputs:
            if same_file(path, output):
                raise OutputExistsAsInput(f"refusing to write {output}: it is an input file")
    if len({p.resolve() for p in paths}) < len(paths):
        raise ValueError("two outputs are the same file: " + ", ".join(str(p) for p in paths))
    rejects_path = sidecar_path(paths[0], "rejects")
    hashing = ThreadPoolExecutor(max_workers=2)  # beside the run: hashlib lets go of the GIL
    checksums = [hashing.submit(_sha256_in_the_background, path) for path in inputs]
    writers: list = []
    rejects = JsonlWriter(rejects_path) if skip_invalid else None
    try:
        writers = [_numbered(o.write_rows(p), o.row_number) for o, p in zip(outputs, paths)]
        on_reject = (lambda error: rejects.write(error.as_row())) if rejects is not None else None
        if any(o.convert is not None for o in outputs):
            if len(outputs) > 1:
                raise ValueError("a converter function runs alone: give several outputs as steps")
            processes = 1
            shared, tallies = _pull(inputs, outputs[0].convert, writers[0], drop_reason, on_reject, progress)
        else:
            processes = worker_count(inputs, workers, ([o.step for o in outputs], drop_reason))
            if ray_address is not False and (len(inputs) != 1 or not Path(inputs[0]).is_file()
                                             or Path(inputs[0]).suffix == ".gz"):
                raise ValueError("Ray reads byte ranges of one uncompressed file: give one .jsonl file")
            shared, steps = execute(inputs, [o.step for o in outputs], writers, drop_reason=drop_reason,
                                    on_reject=on_reject, progress=progress, workers=processes,
                                    start_method=start_method, scratch=paths[0].parent, ray_address=ray_address)
            tallies = [step.tally for step in steps]
        for tally, writer in zip(tallies, writers):
            tally.merge(shared)
            tally.rows = writer.rows
        empty = [(path, tally) for path, tally in zip(paths, tallies) if tally.rows == 0]
        if empty:
            raise NothingToWrite(empty, len(paths))
        for writer in writers:
            writer.commit()
        wrote_rejects = None
        if rejects is not None:
            rejects.commit() if rejects.rows else rejects.abort()
            wrote_rejects = rejects_path if rejects.rows else None
    except BaseException:
        for writer in writers:
            writer.abort()
        if rejects is not None:
            rejects.abort()
        hashing.shutdown(wait=True, cancel_futures=True)
        raise
    output_sums = [hashing.submit(sha256_of, p) for p in paths]  # beside what is left of the inputs' hashing
    input_sums = [(p, c.result()) for p, c in zip(inputs, checksums)]
    results = []
    for output, path, tally, checksum in zip(outputs, paths, tallies, output_sums):
        description = dict(output.description)
        if len(paths) > 1:
            description["written_with"] = [str(p) for p in paths if p != path]
        if ray_address is not False:
            description["engine"] = "ray"
        elif processes > 1:
            description["processes"] = processes
        manifest_path = sidecar_path(path, "manifest")
        write_json(manifest_path, manifest(input_sums, (path, checksum.result()), rejects=wrote_rejects,
                                           counts=tally.as_dict(), run=description,
                                           seconds=time.perf_counter() - started))
        results.append(RunResult(tally, path, manifest_path, wrote_rejects, time.perf_counter() - started))
    hashing.shutdown(wait=True)
    return results


def execute(
    inputs: Sequence[str | Path],
    makers: Sequence[Callable[[], Step]],
    sinks: Sequence[Any],
    *,
    drop_reason: Callable[[dict], str | None] | None = None,
    on_reject: Callable[[RolloutError], None] | None = None,
    progress: bool | None = None,
    workers: int = 1,
    start_method: str | None = None,
    scratch: str | Path | None = None,
    ray_address: str | bool | None = False,
) -> tuple[Tally, list[Step]]:
    """Push every record of the inputs to a step per output, and finish the steps.

    Args:
        inputs: rollout files.
        makers: a picklable factory per output, making its {class}`~reference_impl.step.Step`.
        sinks: where each step's rows go: a writer (``write(row)``), or ``None`` for a step
            that writes no rows (the statistics).
        drop_reason: a record filter; the records it drops are counted in the shared tally.
        on_reject: what to do with each rejected line; ``None`` stops at the first one.
        progress: show a progress bar (default: only on a terminal).
        workers: worker processes over byte ranges of the one input file (1: no worker).
        start_method: how workers start (default: the system's).
        scratch: where the workers' parts are written (default: the system's temporary folder).
        ray_address: run the workers as Ray tasks instead of processes of this machine: on
            the Ray cluster at this address, or ``None`` for a local one (``False``: no Ray).
            The input must be where every node can read it.

    Returns:
        The tally of what every output shares (lines read, rejected, dropped by the filter),
        and the finished steps, each with its own tally.
    """
    steps = [make().start(Tally(), sink.write if sink is not None else _no_rows) for make, sink in zip(makers, sinks)]
    if ray_address is not False:
        from .ray_engine import ray_map_ranges, ray_workers

        ray_map = partial(ray_map_ranges, ray_address, _work)
        spans = line_aligned_spans(inputs[0], ray_workers(ray_address))
        return _run_in_ranges(str(inputs[0]), spans, makers, steps, sinks, drop_reason, on_reject, progress,
                              ray_map, None)
    spans = line_aligned_spans(inputs[0], workers) if workers > 1 else []
    if len(spans) < 2:
        shared = Tally()
        last = _push_all(read_rollouts(inputs, shared, on_reject, progress), steps, drop_reason, shared)
        _finish(steps, last)
        return shared, steps
    return _run_in_ranges(str(inputs[0]), spans, makers, steps, sinks, drop_reason, on_reject, progress,
                          partial(_map_in_processes, start_method), scratch or tempfile.gettempdir(), start_method)


def _push_all(records: Iterable[Rollout], steps: Sequence[Step], drop_reason, shared: Tally) -> Rollout | None:
    """The one loop: each record the filter keeps goes to every step. Returns the last record.

    Raises:
        InternalError: a step raised something it should not have; the record is named.
    """
    pushes = [step.push for step in steps]
    rollout = None
    try:
        with _fewer_collections():
            for rollout in records:
                if drop_reason is not None:
                    reason = drop_reason(rollout.record)
                    if reason is not None:
                        shared.skip(reason)
                        continue
                for push in pushes:
                    push(rollout)
    except Exception as exc:
        _raise_blamed(exc, rollout)
    return rollout


def _finish(steps: Sequence[Step], last: Rollout | None, shared: _SharedFinish | None = None,
            sinks: Sequence = ()) -> None:
    """End every step, writing the rows each held back. With ``shared``, a step that can share
    out the making of those rows (``finish_jobs``: preference pairs) does it in worker
    processes, and its rows go to its sink (of ``sinks``, in the order of ``steps``)."""
    try:
        for index, step in enumerate(steps):
            if shared is not None and hasattr(step, "finish_jobs"):
                shared.run(step, sinks[index])
                continue
            for row in step.finish():
                step.emit(row)
    except Exception as exc:
        _raise_blamed(exc, last)


def _raise_blamed(exc: Exception, rollout: Rollout | None) -> NoReturn:
    """Raise an exception this package did not expect as an {class}`InternalError` naming the
    record; bad input, I/O errors and lack of memory as they are."""
    if isinstance(exc, (InvalidInput, RunStopped, InternalError, OSError, MemoryError)):
        raise exc
    where = f"{rollout.path}:{rollout.line}" if rollout is not None else "before the first record"
    raise InternalError(where, exc) from exc


def _picklable(value) -> bool:
    """Whether workers can be given this (a filter holding a loaded tokenizer cannot)."""
    import pickle

    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def _no_rows(row) -> None:
    raise TypeError("this step has no output to write rows to")


def _pull(inputs, convert: Converter, writer, drop_reason, on_reject, progress) -> tuple[Tally, list[Tally]]:
    """A pull-style converter's one pass: it takes the records and yields the rows."""
    shared, tally, last = Tally(), Tally(), [None]

    def records() -> Iterator[Rollout]:
        for rollout in read_rollouts(inputs, shared, on_reject, progress):
            last[0] = rollout
            if drop_reason is not None and (reason := drop_reason(rollout.record)) is not None:
                shared.skip(reason)
                continue
            yield rollout

    try:
        for row in convert(records(), tally):
            writer.write(row)
    except Exception as exc:
        _raise_blamed(exc, last[0])
    return shared, [tally]


class _Numbered:
    """A writer that sets each row's number (at a dotted field) before writing it."""

    def __init__(self, writer, dotted: str):
        self.writer, self.dotted = writer, dotted

    def write(self, row: dict) -> None:
        from .formats.base import number_row

        self.writer.write(number_row(row, self.dotted, self.writer.rows))

    def __getattr__(self, name):
        if name == "write_file":  # rows copied as they are would keep their numbers
            raise AttributeError(name)
        return getattr(self.writer, name)


def _numbered(writer, dotted: str | None):
    return _Numbered(writer, dotted) if dotted else writer


# The parallel runner.


def worker_count(inputs: Sequence[str | Path], workers: int | None = None, given: Any = None) -> int:
    """How many worker processes read the input: one per core for one large, uncompressed
    file (``workers`` overrides the count), and none if what they would be ``given`` (the
    steps' factories, the filter) cannot be sent to them (a filter holding a loaded tokenizer)."""
    path = Path(inputs[0])
    if len(inputs) != 1 or not path.is_file() or path.suffix == ".gz" or not _picklable(given):
        return 1
    if workers is not None:
        return workers
    return _cores() if path.stat().st_size >= SPLIT_MIN_BYTES else 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def line_aligned_spans(path: str | Path, parts: int) -> list[tuple[int, int]]:
    """Split a file into about ``parts`` byte ranges that start at the start of a line.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = p.write_bytes(b"aaaa\\nbb\\ncccccc\\nd\\n")
    >>> line_aligned_spans(p, 2)
    [(0, 8), (8, 17)]
    """
    size = os.path.getsize(path)
    starts = [0]
    with open(path, "rb") as handle:
        for k in range(1, parts):
            handle.seek(max(size * k // parts - 1, starts[-1]))
            handle.readline()  # to the start of the next line
            if handle.tell() < size and handle.tell() > starts[-1]:
                starts.append(handle.tell())
    return [(start, end) for start, end in zip(starts, starts[1:] + [size])]


@dataclass(frozen=True)
class _Range:
    """What a worker is given: plain data."""

    number: int
    path: str
    span: tuple[int, int]
    makers: tuple
    drop_reason: Any
    list_rejects: bool
    progress: bool | None
    folder: str | None
    """Where to leave the parts; ``None``: send them back as bytes (from another machine)."""


@dataclass
class _RangeResult:
    """What a worker gives back: the shared tally, each step's tally and part (rows as JSON
    Lines, ``(file or bytes, rows)``, or a combining step's state), and its rejected lines."""

    shared: Tally
    tallies: list
    parts: list
    rejects: str | bytes | None


def _work(job: _Range) -> _RangeResult:
    """In a worker process: push the records of one byte range to fresh steps.

    Rows go to a file per output (``record``), as do the rows of the first rollout of each
    task, with the task's key (``task``: the parent keeps the first of each task); a
    ``combine`` step's state is sent back.
    """
    folder = Path(job.folder or tempfile.mkdtemp(prefix=".parts-"))
    writers: list = []
    rejects = JsonlWriter(folder / f"rejects-{job.number}.jsonl") if job.list_rejects else None
    try:
        steps = []
        for index, make in enumerate(job.makers):
            step = make()
            writer = None if step.shape == "combine" else JsonlWriter(folder / f"{index}-{job.number}.jsonl")
            writers.append(writer)
            if step.shape == "task":
                step.in_range = True
            steps.append(step.start(Tally(), writer.write if writer is not None else _no_rows))
        shared = Tally()
        on_reject = (lambda error: rejects.write(error.as_row())) if rejects is not None else None
        _push_all(read_rollouts([job.path], shared, on_reject, job.progress, job.span), steps, job.drop_reason, shared)
        parts = []
        for step, writer in zip(steps, writers):
            if writer is None:
                parts.append(step.state)
            else:
                writer.finish()
                parts.append((_handed_back(writer.tmp_path, job.folder), writer.rows))
        if rejects is not None:
            rejects.finish()
        rejected = _handed_back(rejects.tmp_path, job.folder) if rejects is not None else None
    except BaseException:
        for writer in writers:
            if writer is not None:
                writer.abort()
        if rejects is not None:
            rejects.abort()
        raise
    finally:
        if job.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
    return _RangeResult(shared, [step.tally for step in steps], parts, rejected)


def _handed_back(path: Path, folder: str | None) -> str | bytes:
    """A finished part: its path in the shared folder, or its bytes when there is none."""
    return str(path) if folder is not None else path.read_bytes()


def _map_in_processes(start_method: str | None, jobs: list, work: Callable = _work, first_here: bool = False) -> list:
    """Run a worker process per job (a range, by default), all at once; the results in order
    (the first job's error is raised, as one pass would meet it first). With ``first_here``,
    this process does the first job meanwhile: one process fewer."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    others = jobs[1:] if first_here else jobs
    if not others:
        return [work(job) for job in jobs]
    context = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(max_workers=len(others), mp_context=context) as pool:
        later = pool.map(work, others)
        here = [work(jobs[0])] if first_here else []
        return here + list(later)


@dataclass(frozen=True)
class _FinishPart:
    """What a worker is given to make a part of a step's last rows: the job, and where to write."""

    number: int
    job: Callable[[Callable[[Any], None]], Tally]
    folder: str


def _finish_part(part: _FinishPart) -> tuple[str, int, Tally]:
    """In a worker process: run a finishing job, its rows into a file of the shared folder."""
    writer = JsonlWriter(Path(part.folder) / f"finish-{part.number}.jsonl")
    try:
        tally = part.job(writer.write)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    return str(writer.tmp_path), writer.rows, tally


@dataclass
class _SharedFinish:
    """How the parallel runner shares out a step's finishing: its jobs, one process each (the
    first in the parent), their rows joined in order into the step's output."""

    start_method: str | None
    processes: int
    folder: str

    def run(self, step: Step, sink) -> None:
        import gc

        parts = [_FinishPart(n, job, self.folder) for n, job in enumerate(step.finish_jobs(self.processes))]
        # What the parent holds by now (every task's extremes and keys) is frozen out of the
        # collector, whose walks in a forked child would copy its pages.
        gc.freeze()
        try:
            results = _map_in_processes(self.start_method, parts, _finish_part, first_here=True)
        finally:
            gc.unfreeze()
        for path, rows, tally in results:
            step.tally.merge(tally)
            _append_part(sink, path, rows)


def _append_part(sink, part: str | bytes, rows: int) -> None:
    """Add a part's rows (a file or bytes of JSON Lines) to an output: the bytes as they are
    to a JSON Lines writer that can take them, else row by row."""
    if hasattr(sink, "write_file"):
        sink.write_file(part, rows)
    else:
        for row in _rows_of(part):
            sink.write(row)


def _run_in_ranges(path: str, spans, makers, steps: list[Step], sinks, drop_reason, on_reject, progress,
                   map_ranges, scratch, start_method: str | None = None) -> tuple[Tally, list[Step]]:
    """Run a worker per byte range (``map_ranges``), then join each output in file order.

    The workers leave their parts in a folder made in ``scratch``; with ``scratch=None``
    (workers on other machines) they send them back as bytes. With a ``scratch`` folder,
    the steps that can share out their finishing do it in processes started with ``start_method``."""
    folder = tempfile.mkdtemp(prefix=".parts-", dir=scratch) if scratch is not None else None
    try:
        jobs = [_Range(n, path, span, tuple(makers), drop_reason, on_reject is not None, progress if n == 0 else False,
                       folder) for n, span in enumerate(spans)]
        results = map_ranges(jobs)
        shared = Tally()
        for result in results:
            shared.merge(result.shared)
            if result.rejects is not None and on_reject is not None:
                for row in _rows_of(result.rejects):
                    on_reject(RolloutError(row["file"], row["line"], row["reason"]))
        last = None
        try:
            for index, (step, sink) in enumerate(zip(steps, sinks)):
                for result in results:
                    step.tally.merge(result.tallies[index])
                    part = result.parts[index]
                    if step.shape == "combine":
                        step.merge(part)
                    elif step.shape == "task":  # each range's first rollout of each task: the first of all is kept
                        for entry in _rows_of(part[0]):
                            last = Rollout(path, entry[0], {})
                            step.take(path, entry)
                    else:
                        _append_part(sink, *part)
        except Exception as exc:
            _raise_blamed(exc, last)
        sharing = _SharedFinish(start_method, len(spans), folder) if folder is not None else None
        _finish(steps, last, sharing, sinks)
        return shared, steps
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _rows_of(part: str | bytes) -> Iterator[Any]:
    """The rows of a part: a file, or its bytes."""
    if isinstance(part, bytes):
        yield from map(orjson.loads, part.splitlines())
        return
    with open(part, "rb") as handle:
        for line in handle:
            yield orjson.loads(line)


def _sha256_in_the_background(path: str | Path) -> str | None:
    """{func}`~reference_impl.io.input_sha256` in a thread that yields the processor to the run.

    On Linux the thread lowers its own priority, so that hashing takes what the run leaves
    of the cores rather than slowing it down.
    """
    if sys.platform.startswith("linux"):
        import threading

        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass
    return input_sha256(path)


@contextmanager
def _fewer_collections(young: int = 20_000):
    """Let the cyclic garbage collector run less often while records stream through.

    Records are trees, freed by reference counting as soon as they are written; the
    collector finds nothing in them, yet with its default threshold it runs every 700
    allocations and, now and then, walks every object of the process (pyarrow's included).
    Modules loaded so far are frozen out of its walks, and it runs every ``young``
    allocations instead; both are undone afterwards.
    """
    import gc

    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
