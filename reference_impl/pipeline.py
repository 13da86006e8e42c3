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

import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

from .io import AtomicWriter, JsonlWriter, OutputExistsAsInput, open_writer, same_file, sha256_of, write_json
from .rollouts import Rollout, RolloutError, group_key, iter_rollouts
from .tally import InternalError, InvalidInput, Skip, Tally, reason_kind

__all__ = ["Skip", "Tally", "InvalidInput", "InternalError", "Converter", "read_rollouts", "run", "run_many", "Output", "RunResult",
           "sidecar_path"]


Converter = Callable[[Iterable[Rollout], Tally], Iterator[dict]]
"""A converter takes rollouts and the run's tally and yields output rows (see {data}`reference_impl.formats.Converter`)."""


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
            {class}`InvalidInput` (the strict policy).
        progress: show a progress bar; ``None`` shows it only on a terminal.
        span: read only the lines that start in this byte range of the one input file.

    Yields:
        The good records.
    """
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
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
                    if on_reject is None:
                        tally.rejected[reason_kind(item.reason)] += 1
                        raise InvalidInput(item)
                    tally.rejected[reason_kind(item.reason)] += 1
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
        convert: the {data}`Converter` that makes its rows.
        write_rows: a writer factory taking the path (default: by suffix, {func}`~reference_impl.io.open_writer`).
        description: what to record in its manifest about the run (target, options...).
    """

    path: Path
    convert: Converter
    write_rows: Callable = open_writer
    description: dict = field(default_factory=dict)
    unit: str = "stream"
    """What each row comes from: ``"record"``, one record alone (SFT, KTO); ``"task"``, the
    first rollout of a task, without its trajectory (GRPO prompts); ``"stream"``, anything
    (preference pairs need whole tasks). The first two let a large input be read in byte
    ranges on several cores (see {func}`run_many`)."""


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
    target = Output(Path(output), convert, write_rows or open_writer, description or {})
    [result] = run_many(inputs, [target], skip_invalid=skip_invalid, progress=progress)
    return result


def run_many(
    inputs: Sequence[str | Path],
    outputs: Sequence[Output],
    *,
    drop_reason: Callable[[dict], str | None] | None = None,
    skip_invalid: bool = False,
    progress: bool | None = None,
    parallel: str | None = None,
) -> list[RunResult]:
    """Read rollout files once, filter them, and write several outputs from that one read.

    The work is shared out over the cores by forked worker processes (nothing is copied;
    no record crosses between processes). A large, uncompressed input is cut at line
    boundaries into one byte range per core, and each range's worker parses and filters its
    lines once for every output whose rows come from one record (SFT, KTO: it writes them)
    or from a task's first rollout (prompts: it passes those on, trajectories left out, and
    the rows are made here, in file order). The parts are joined in file order, so the
    files are the ones a single pass writes. An output that needs whole tasks (preference
    pairs), or any output of an input that is not cut, is written by a worker of its own.
    Where processes cannot be forked, or with ``parallel="threads"``, the input is parsed
    once and each converter runs in a thread, fed batches through a short queue. Either way
    memory stays bounded whatever the converters hold back, and the outputs are put in
    place only when all of them succeeded. Each output gets its own manifest and tally, and
    each tally reconciles on its own: the records the filter dropped are counted as
    skipped, with their reasons, in every one.

    Args:
        inputs: rollout files.
        outputs: the files to write ({class}`Output`); none may be an input or another output.
        drop_reason: a record filter, ``record -> reason to drop it, or None`` (see
            {func}`reference_impl.filters.record_drop_reason`); ``None`` keeps every record.
        skip_invalid: write the valid records and list rejected lines in a rejects file
            beside the first output, instead of stopping at the first one.
        progress: show a progress bar (default: only on a terminal).
        parallel: ``"processes"`` or ``"threads"`` (see above); by default processes where
            the system can fork.

    Returns:
        One {class}`RunResult` per output, in order.

    Raises:
        InvalidInput: a malformed line, in strict mode. Nothing is written.
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
    writers: list = []
    rejects_path = sidecar_path(paths[0], "rejects")
    read = partial(_read_filtered, inputs, drop_reason=drop_reason)
    hashing = ThreadPoolExecutor(max_workers=2)
    checksums: list = []

    def hash_inputs() -> None:  # beside the run: hashlib lets go of the GIL (a pipe is hashed afterwards)
        checksums.extend(hashing.submit(_sha256_in_the_background, path) if Path(path).is_file() else None
                         for path in inputs)

    if parallel is None:
        parallel = "processes" if hasattr(os, "fork") else "threads"
    if not all(Path(path).is_file() for path in inputs):
        parallel = "threads"  # a pipe can be read only once: one reader for every output
    tasks = _plan(inputs, outputs) if parallel == "processes" else [((i,), None) for i in range(len(outputs))]
    rejects = None
    try:
        if len(tasks) > 1 and parallel == "processes":
            shared, tallies, rows, wrote_rejects = _run_processes(read, outputs, tasks, rejects_path, skip_invalid,
                                                                  progress, hash_inputs, str(inputs[0]))
        else:
            hash_inputs()
            rejects = JsonlWriter(rejects_path) if skip_invalid else None
            writers.extend(o.write_rows(p) for o, p in zip(outputs, paths))
            jobs = [(o.convert, Tally(), w) for o, w in zip(outputs, writers)]
            shared, tallies = _convert_here(read, jobs, rejects, progress)
            rows = [writer.rows for writer in writers]
            wrote_rejects = rejects_path if rejects is not None and rejects.rows else None
    except BaseException:
        for writer in writers:
            writer.abort()
        if rejects is not None:
            rejects.abort()
        hashing.shutdown(wait=True, cancel_futures=True)
        raise
    input_sums = [{"path": str(p), "sha256": c.result() if c else sha256_of(p)} for p, c in zip(inputs, checksums)]
    output_sums = [hashing.submit(sha256_of, p) for p in paths]
    results = []
    for index, (output, path, tally, written, checksum) in enumerate(zip(outputs, paths, tallies, rows, output_sums)):
        tally.read, tally.rows = shared.read, written
        tally.rejected.update(shared.rejected)
        tally.skipped.update(shared.skipped)
        description = dict(output.description)
        if len(paths) > 1:
            description["written_with"] = [str(p) for p in paths if p != path]
        processes = sum(1 for indexes, _ in tasks if index in indexes) if len(tasks) > 1 else 0
        if processes > 1:
            description["processes"] = processes
        manifest = sidecar_path(path, "manifest")
        write_json(manifest, {
            "inputs": input_sums,
            "output": {"path": str(path), "sha256": checksum.result()},
            "rejects": str(wrote_rejects) if wrote_rejects else None,
            "counts": tally.as_dict(),
            "run": description,
            "seconds": round(time.perf_counter() - started, 3),
        })
        results.append(RunResult(tally, path, manifest, wrote_rejects, time.perf_counter() - started))
    hashing.shutdown(wait=True)
    return results


def _sha256_in_the_background(path: str | Path) -> str:
    """{func}`~reference_impl.io.sha256_of` in a thread that yields the processor to the run.

    On Linux the thread lowers its own priority, so that hashing takes what the run leaves
    of the cores rather than slowing it down.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass
    return sha256_of(path)


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


def _read_filtered(inputs, shared: Tally, on_reject, progress, *, drop_reason, span=None) -> Iterator[Rollout]:
    """The input's records that the filter keeps (counting the others in ``shared``)."""
    records = read_rollouts(inputs, shared, on_reject, progress, span)
    return records if drop_reason is None else _kept(records, drop_reason, shared)


def _rejecter(rejects: JsonlWriter | None) -> Callable[[RolloutError], None] | None:
    """What to do with a rejected line: list it in the rejects file, or (``None``) stop the run."""
    if rejects is None:
        return None
    return lambda error: rejects.write(error.as_row())


def _convert_here(read, jobs: list, rejects, progress) -> tuple[Tally, list[Tally]]:
    """Read once in this process and write every output (in threads when there are several)."""
    shared = Tally()
    records = read(shared, _rejecter(rejects), progress)
    with _fewer_collections():
        if len(jobs) == 1:
            _write_rows(records, *jobs[0])
        else:
            _fan_out(records, jobs)
    for _, _, writer in jobs:
        writer.commit()
    if rejects is not None:
        rejects.commit() if rejects.rows else rejects.abort()
    return shared, [tally for _, tally, _ in jobs]


SPLIT_MIN_BYTES = 64 << 20
"""Inputs smaller than this are not split into byte ranges: starting processes would cost more."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _plan(inputs: Sequence[str | Path], outputs: Sequence[Output]) -> list[tuple[tuple[int, ...], tuple[int, int] | None]]:
    """The processes of a run: ``(the outputs it writes, the byte span of the input it reads,
    or None for all of it)``.

    A large, uncompressed input is cut into one byte range per core, and each range is read,
    parsed and filtered once by a process that serves every output whose rows come from one
    record (``unit="record"``, JSON Lines) or from each task's first rollout
    (``unit="task"``). An output that must see the whole stream (preference pairs) gets a
    process of its own, as does every output of an input that is not cut.
    """
    cores = _cores()
    path = Path(inputs[0]) if len(inputs) == 1 else None
    cut = cores > 1 and path is not None and path.suffix != ".gz" and path.stat().st_size >= SPLIT_MIN_BYTES
    shared = tuple(i for i, output in enumerate(outputs) if cut and _unit(output) != "stream")
    tasks: list[tuple[tuple[int, ...], tuple[int, int] | None]] = [
        ((i,), None) for i in range(len(outputs)) if i not in shared]
    if shared:
        tasks += [(shared, span) for span in line_aligned_spans(path, cores)]
    return tasks


def _unit(output: Output) -> str:
    """How an output's rows depend on the records: ``record``, ``task`` or ``stream``."""
    if output.unit == "record" and Path(output.path).suffix == ".jsonl":
        return "record"
    return output.unit if output.unit == "task" else "stream"


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


def _add(total: Tally, part: Tally) -> Tally:
    return total.merge(part)


def _task_prompt(record: dict) -> dict:
    """What a per-task row is made from: the record without its trajectory."""
    return {k: v for k, v in record.items() if k not in ("response", "output")}


class _Outcome(NamedTuple):
    """What a worker sends back: ``ok`` with its counts and its finished temporary files
    (``(path, rows)`` per output, and its rejects), or ``invalid``/``error`` with ``detail``."""

    status: str
    detail: Any = None
    shared: Tally | None = None
    tallies: dict | None = None
    parts: dict | None = None
    rejects: tuple | None = None


def _task(send, read, outputs: Sequence[Output], indexes: tuple[int, ...], span, rejects_path: Path | None,
          count_rejects: bool, progress) -> None:
    """In a forked process: read (a span of) the input once, filter it, and write each output's
    part into a temporary file; send back the counts, or what went wrong.

    With a span, per-record outputs get their rows and per-task outputs get the first
    rollout of each task in the span, without its trajectory (the parent makes their rows
    in file order); without one, the one output is written whole.
    """
    shared, tallies = Tally(), {i: Tally() for i in indexes}
    writers: dict = {}
    rejects = JsonlWriter(rejects_path) if rejects_path is not None else None
    on_reject = _rejecter(rejects) if rejects is not None else (lambda error: None) if count_rejects else None
    try:
        for i in indexes:
            writers[i] = JsonlWriter(outputs[i].path) if span is not None and outputs[i].unit == "task" else (
                outputs[i].write_rows(Path(outputs[i].path)))
        records = read(shared, on_reject, progress, span=span)
        with _fewer_collections():
            if span is None:
                [i] = indexes
                _write_rows(records, outputs[i].convert, tallies[i], writers[i])
            else:
                _write_parts(records, [(outputs[i], tallies[i], writers[i]) for i in indexes])
        for writer in writers.values():
            writer.finish()
        if rejects is not None:
            rejects.finish()
        parts = {i: (writer.tmp_path, writer.rows) for i, writer in writers.items()}
        send.send(_Outcome("ok", shared=shared, tallies=tallies, parts=parts,
                           rejects=(rejects.tmp_path, rejects.rows) if rejects is not None else None))
    except BaseException as exc:
        for writer in writers.values():
            writer.abort()
        if rejects is not None:
            rejects.abort()
        if isinstance(exc, InvalidInput):
            send.send(_Outcome("invalid", (exc.error.path, exc.error.line, exc.error.reason)))
        else:
            try:
                send.send(_Outcome("error", exc))
            except Exception:  # an exception that cannot be pickled
                send.send(_Outcome("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        send.close()


def _write_parts(records: Iterable[Rollout], parts: list[tuple[Output, Tally, Any]]) -> None:
    """One pass over a span for several outputs: rows of per-record outputs, and the first
    rollout of each task (trajectory left out) for per-task outputs, as
    {func}`~reference_impl.pairs.first_per_task` picks them."""
    from .pairs import ANOTHER_ROLLOUT

    per_record = [(output.convert, tally, writer) for output, tally, writer in parts if output.unit == "record"]
    per_task = [(tally, writer) for output, tally, writer in parts if output.unit == "task"]
    seen: set[tuple[str, str]] = set()
    last: list = [None]
    with _blaming(last):
        for rollout in _tracked(records, last):
            one = (rollout,)
            for convert, tally, writer in per_record:
                for row in convert(one, tally):
                    writer.write(row)
            if per_task:
                key = group_key(rollout)
                if key in seen:
                    for tally, _ in per_task:
                        tally.skip(ANOTHER_ROLLOUT)
                    continue
                seen.add(key)
                prompt = _task_prompt(rollout.record)
                for _, writer in per_task:
                    writer.write(prompt)


def _run_processes(read, outputs, tasks, rejects_path: Path, skip_invalid: bool, progress, while_waiting,
                   source: str):
    """Run the planned tasks in forked processes, all at once; if all succeeded, join each
    output's parts in file order and put every file in place, else remove them all.

    The tasks that cover the input once between them (the ranges, or else the first task)
    list rejected lines and give the counts of what was read; the others count rejects
    only. Only the first task shows a progress bar.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    primary = [n for n, (_, span) in enumerate(tasks) if span is not None] or [0]
    children = []
    for number, (indexes, span) in enumerate(tasks):
        receive, send = context.Pipe(duplex=False)
        lists_rejects = skip_invalid and number in primary
        child = context.Process(target=_task, daemon=True, args=(
            send, read, outputs, indexes, span, rejects_path if lists_rejects else None, skip_invalid,
            progress if number == 0 else False))
        child.start()
        send.close()
        children.append((child, receive))
    while_waiting()
    outcomes = []
    for child, receive in children:
        try:
            outcomes.append(receive.recv())
        except EOFError:
            child.join()
            outcomes.append(_Outcome("error", RuntimeError(f"a worker process died (exit status {child.exitcode})")))
        receive.close()
        child.join()
    leftovers = [Path(path) for outcome in outcomes if outcome.status == "ok"
                 for path, _ in [*outcome.parts.values(), *([outcome.rejects] if outcome.rejects else [])]]
    try:
        invalid = [outcome.detail for outcome in outcomes if outcome.status == "invalid"]
        if invalid:
            raise InvalidInput(RolloutError(*min(invalid, key=lambda detail: detail[1])))
        for outcome in outcomes:
            if outcome.status == "error":
                raise outcome.detail
        shared = Tally()
        for number in primary:
            _add(shared, outcomes[number].shared)
        tallies, rows = [Tally() for _ in outputs], [0] * len(outputs)
        in_spans = set(tasks[-1][0]) if tasks[-1][1] is not None else set()
        # Per-task outputs first: their rows are made here, and may fail before anything is in place.
        for index, output in sorted(enumerate(outputs), key=lambda item: item[1].unit != "task"):
            parts = []
            for (indexes, span), outcome in zip(tasks, outcomes):
                if index in indexes:
                    _add(tallies[index], outcome.tallies[index])
                    parts.append(outcome.parts[index])
            if output.unit == "task" and index in in_spans:
                rows[index] = _rows_from_task_parts(output, [path for path, _ in parts], tallies[index], source)
            else:
                rows[index] = _join_parts(parts, Path(output.path))
        reject_parts = [outcomes[number].rejects for number in primary if outcomes[number].rejects]
        wrote_rejects = rejects_path if _join_parts(reject_parts, rejects_path, keep_empty=False) else None
    finally:
        for path in leftovers:
            path.unlink(missing_ok=True)
    return shared, tallies, rows, wrote_rejects


def _rows_from_task_parts(output: Output, parts: list[Path], tally: Tally, source: str) -> int:
    """Make a per-task output's rows from the first rollouts of each span's tasks, in file
    order (a task seen in an earlier span is skipped by the converter, as in one pass).
    The records keep ``source``, the input they were read from, as their path: it is part
    of what makes a task ({func}`~reference_impl.rollouts.group_key`)."""
    writer = output.write_rows(Path(output.path))
    try:
        records = (Rollout(source, item.line, item.record) for part in parts for item in iter_rollouts(part))
        _write_rows(records, output.convert, tally, writer)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return writer.rows


def _join_parts(parts: list[tuple[Path, int]], path: Path, keep_empty: bool = True) -> int:
    """Put finished temporary files in place as ``path``: one is renamed, several are
    concatenated in order (JSON Lines). Returns the rows; with ``keep_empty=False`` and no
    rows, nothing is written."""
    rows = sum(part_rows for _, part_rows in parts)
    if not parts or (rows == 0 and not keep_empty):
        return rows
    if len(parts) == 1:
        os.replace(parts[0][0], path)
        return rows
    import shutil

    with AtomicWriter(path) as joined:
        for part, _ in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, joined.handle, 1 << 20)
    return rows


def _kept(records: Iterable[Rollout], drop_reason: Callable[[dict], str | None], tally: Tally) -> Iterator[Rollout]:
    """The records the filter keeps; the others are counted in ``tally.skipped`` with the reason."""
    for rollout in records:
        reason = drop_reason(rollout.record)
        if reason is None:
            yield rollout
        else:
            tally.skipped[reason] += 1


def _tracked(records: Iterable[Rollout], last: list) -> Iterator[Rollout]:
    """The records, remembering the last one handed on (for the message of an internal error)."""
    for rollout in records:
        last[0] = rollout
        yield rollout


@contextmanager
def _blaming(last: list):
    """Turn an exception this package did not expect into an {class}`InternalError` that names
    the record read last (``last[0]``); bad input, I/O errors and lack of memory pass as they are."""
    try:
        yield
    except (InvalidInput, OSError, MemoryError):
        raise
    except Exception as exc:
        where = f"{last[0].path}:{last[0].line}" if last[0] is not None else "before the first record"
        raise InternalError(where, exc) from exc


def _write_rows(records: Iterable[Rollout], convert: Converter, tally: Tally, writer) -> None:
    """Convert records and write the rows (the whole of a one-output run).

    Raises:
        InternalError: the converter raised something it should not have; the record read
            last is named.
    """
    last: list = [None]
    with _blaming(last):
        for row in convert(_tracked(records, last), tally):
            writer.write(row)


class _Feed:
    """Batches of records from the reading thread to one converter's thread.

    The queue is short, so the reader waits for the slowest converter and memory stays
    bounded. A converter that fails, or stops reading early, still drains its queue, so
    that the reader never waits forever; its error is raised by the reader afterwards.
    """

    END = None

    def __init__(self, convert: Converter, tally: Tally, writer, depth: int = 4):
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.job = (convert, tally, writer)
        self.ended = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, daemon=True)

    def records(self) -> Iterator[Rollout]:
        while (batch := self.queue.get()) is not self.END:
            yield from batch
        self.ended = True

    def _work(self) -> None:
        convert, tally, writer = self.job
        try:
            _write_rows(self.records(), convert, tally, writer)
        except BaseException as error:  # raised again in the reading thread
            self.error = error
        while not self.ended:
            self.ended = self.queue.get() is self.END


def _fan_out(records: Iterable[Rollout], jobs: list, batch_size: int = 128) -> None:
    """Hand one stream of records to several converters, each in its own thread."""
    feeds = [_Feed(*job) for job in jobs]
    for feed in feeds:
        feed.thread.start()
    batch: list[Rollout] = []
    try:
        for rollout in records:
            batch.append(rollout)
            if len(batch) >= batch_size:
                for feed in feeds:
                    feed.queue.put(batch)
                batch = []
                if any(feed.error is not None for feed in feeds):
                    break  # no use reading on: the run fails
        if batch:
            for feed in feeds:
                feed.queue.put(batch)
    finally:
        for feed in feeds:
            feed.queue.put(_Feed.END)
        for feed in feeds:
            feed.thread.join()
    for feed in feeds:
        if feed.error is not None:
            raise feed.error
