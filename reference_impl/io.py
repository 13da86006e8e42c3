"""Atomic JSONL and parquet writers, checksums and the run manifest.

Every output is written to a temporary file beside its destination and renamed into
place only when the run succeeds, so an interrupted run never leaves a half-written
training file, and a failed one leaves nothing. Parquet is written in batches of rows
(``pyarrow.parquet.ParquetWriter``), so memory stays flat however large the input.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Sequence

import orjson

__all__ = [
    "OutputExistsAsInput",
    "SchemaDrift",
    "same_file",
    "AtomicWriter",
    "JsonlWriter",
    "ParquetWriter",
    "open_writer",
    "sha256_of",
    "write_json",
    "manifest",
    "input_sha256",
    "shows_progress",
]


def shows_progress(progress: bool | None) -> bool:
    """Whether to draw a progress bar: as asked, or (``None``) only when standard error is a
    terminal, never in logs or pipes.

    >>> shows_progress(True), shows_progress(False)
    (True, False)
    """
    import sys

    return sys.stderr.isatty() if progress is None else progress


class OutputExistsAsInput(ValueError):
    """Raised when an output path is one of the input files."""


class SchemaDrift(ValueError):
    """Rows of a parquet file whose shape differs from the first rows' (parquet would drop fields)."""


def _schema_difference(before, after) -> str:
    changed = [f"{field.name}: {field.type}" for field in after if field not in before]
    return "; ".join(changed)[:300]


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same file (after resolving links).

    >>> same_file("pyproject.toml", "./pyproject.toml")
    True
    >>> same_file("pyproject.toml", "does-not-exist.jsonl")
    False
    """
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_made_folders: set[Path] = set()
"""Folders that {class}`AtomicWriter` made for its files; an aborted run removes them again."""


class AtomicWriter:
    """A binary file written under a temporary name and renamed into place on success.

    Use it as a context manager: leaving the block normally renames the file, leaving it
    by an exception deletes the temporary file and leaves the destination as it was.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        folder = self.path.parent
        while not folder.exists():  # the folders this makes, removed again if the run writes nothing there
            _made_folders.add(folder)
            folder = folder.parent
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.tmp_path = Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the output is an ordinary file
        self.handle = os.fdopen(fd, "wb", buffering=1 << 20)
        self.rows = 0

    def finish(self) -> None:
        """Write out what is buffered and close the temporary file (it is not yet in place)."""
        self.handle.close()

    def commit(self) -> None:
        self.finish()
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        """Delete the temporary file, and the folders the writers made for it if they are empty now."""
        self.handle.close()
        self.tmp_path.unlink(missing_ok=True)
        folder = self.path.parent
        while folder in _made_folders:
            try:
                folder.rmdir()
            except OSError:  # another file is there (another output of the run, not yet aborted)
                break
            _made_folders.discard(folder)
            folder = folder.parent

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


class JsonlWriter(AtomicWriter):
    """Write rows as JSON Lines (UTF-8, one object per line), atomically.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
    >>> with JsonlWriter(out) as w:
    ...     w.write({"prompt": "2+2?", "completion": "4"})
    >>> out.read_text()
    '{"prompt":"2+2?","completion":"4"}\\n'
    """

    def write(self, row: dict | bytes) -> None:
        """Write a row; a row given as bytes is a line already serialised, copied as it is."""
        if isinstance(row, bytes):
            self.handle.write(row if row.endswith(b"\n") else row + b"\n")
        else:
            self.handle.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY))
        self.rows += 1

    def write_file(self, path: str | Path | bytes, rows: int) -> None:
        """Append a file (or its bytes) of ``rows`` lines already written by another JSON Lines
        writer. The file is used up: if nothing was written before, it becomes this writer's
        file (a rename, when it is on the same file system); else the kernel copies it.

        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> parts = [folder / "a.part", folder / "b.part"]
        >>> _ = parts[0].write_bytes(b'{"n":1}\\n'), parts[1].write_bytes(b'{"n":2}\\n')
        >>> with JsonlWriter(folder / "rows.jsonl") as w:
        ...     w.write_file(parts[0], 1)
        ...     w.write_file(parts[1], 1)
        ...     w.write({"n": 3})
        >>> (folder / "rows.jsonl").read_text(), w.rows
        ('{"n":1}\\n{"n":2}\\n{"n":3}\\n', 3)
        """
        if isinstance(path, bytes):
            self.handle.write(path)
        elif not (self.rows == 0 and self.handle.tell() == 0 and self._take(Path(path))):
            self.handle.flush()
            with open(path, "rb") as source:
                _copy(source, self.handle)
        self.rows += rows

    def _take(self, path: Path) -> bool:
        """Make ``path`` this writer's temporary file, if a rename can (same file system)."""
        try:
            os.replace(path, self.tmp_path)
        except OSError:
            return False
        self.handle.close()  # it wrote nothing to the file replaced
        self.handle = open(self.tmp_path, "ab", buffering=1 << 20)
        return True

    def write_raw(self, line: bytes) -> None:
        """Write an already-serialised line (it must end with a newline)."""
        self.handle.write(line)
        self.rows += 1


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    """Copy the rest of one open file to the end of another: in the kernel where it can
    (``os.copy_file_range``, Linux), else through a buffer."""
    if hasattr(os, "copy_file_range"):
        try:
            while os.copy_file_range(source.fileno(), target.fileno(), 1 << 30):
                pass
            return
        except OSError:  # a file system that cannot: copy what is left through a buffer
            pass
    import shutil

    shutil.copyfileobj(source, target, 1 << 20)


class ParquetWriter(AtomicWriter):
    """Write rows as a parquet file in batches, atomically.

    The schema is given, or taken from the first batch. A later batch with fields or types
    the schema lacks raises {class}`SchemaDrift`, naming them: ``pyarrow`` would otherwise
    drop them without a word.

    Args:
        path: the destination ``.parquet`` file.
        batch_rows: rows held in memory before a row group is written.
    """

    def __init__(self, path: str | Path, batch_rows: int = 2048, schema=None):
        super().__init__(path)
        self.batch_rows = batch_rows
        self.buffer: list[dict] = []
        self.writer = None
        self.schema = schema
        self.inferred = False

    def write(self, row: dict) -> None:
        self.buffer.append(row)
        self.rows += 1
        if len(self.buffer) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.schema is None:
            table = pa.Table.from_pylist(self.buffer)
            self.schema = table.schema
            self.inferred = True
        elif self.inferred:
            table = pa.Table.from_pylist(self.buffer)
            if not table.schema.equals(self.schema):
                widened = pa.unify_schemas([self.schema, table.schema], promote_options="permissive")
                if not widened.equals(self.schema):
                    raise SchemaDrift(
                        f"{self.path}: rows {self.rows - len(self.buffer) + 1}-{self.rows} have fields or types the "
                        f"first rows did not ({_schema_difference(self.schema, widened)}); parquet keeps one schema "
                        "per file and would drop or null-fill them: write JSON Lines instead"
                    )
                table = pa.Table.from_pylist(self.buffer, schema=self.schema)
        else:
            table = pa.Table.from_pylist(self.buffer, schema=self.schema)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.handle, self.schema, compression="zstd")
        self.writer.write_table(table)
        self.buffer.clear()

    def finish(self) -> None:
        self.flush()
        if self.writer is None:  # no rows at all: still a valid, empty file
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(self.schema.empty_table() if self.schema is not None else pa.table({}), self.handle)
        else:
            self.writer.close()
        super().finish()

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # the temporary file is deleted anyway
                pass
        super().abort()


def open_writer(path: str | Path, batch_rows: int = 2048, schema=None) -> JsonlWriter | ParquetWriter:
    """A writer for ``path``, chosen by its suffix: ``.parquet`` or JSON Lines.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> writers = [open_writer(folder / "x.parquet"), open_writer(folder / "x.jsonl")]
    >>> [type(w).__name__ for w in writers]
    ['ParquetWriter', 'JsonlWriter']
    >>> for w in writers:
    ...     w.abort()
    >>> list(folder.iterdir())
    []
    """
    if Path(path).suffix == ".parquet":
        return ParquetWriter(path, batch_rows, schema)
    return JsonlWriter(path)


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> sha256_of(p)[:12]
    'e3b0c44298fc'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_sha256(path: str | Path) -> str | None:
    """The SHA-256 of an input file for its manifest, or ``None`` for a pipe (``--input
    <(zcat rollouts.jsonl.gz)``), which can be read only once.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = p.write_bytes(b"")
    >>> input_sha256(p)[:12], input_sha256("/dev/null")
    ('e3b0c44298fc', None)
    """
    return sha256_of(path) if Path(path).is_file() else None


def manifest(
    inputs: Sequence[tuple[str | Path, str]],
    output: tuple[str | Path, str],
    *,
    rejects: str | Path | None,
    counts: dict,
    run: dict,
    seconds: float,
    plots: Sequence[tuple[str | Path, str]] | None = None,
) -> dict:
    """The manifest written beside an output: what was read, written and counted, and how.

    Args:
        inputs: ``(path, sha256)`` of each input file, in order.
        output: ``(path, sha256)`` of the output file.
        rejects: the rejects file written beside it, or ``None``.
        counts: the run's counts ({meth}`~reference_impl.tally.Tally.as_dict`).
        run: what the run was given (script, target, options...).
        seconds: how long the run took.
        plots: ``(path, sha256)`` of pictures drawn with the output; ``None`` leaves the key out.

    Returns:
        The manifest, its keys in the order written.

    >>> m = manifest([("in.jsonl", "ab12")], ("out.jsonl", "cd34"), rejects=None, counts={"read": 1},
    ...              run={"target": "trl"}, seconds=0.12345)
    >>> m["inputs"], m["output"], m["seconds"]
    ([{'path': 'in.jsonl', 'sha256': 'ab12'}], {'path': 'out.jsonl', 'sha256': 'cd34'}, 0.123)
    >>> list(manifest([], ("r.json", "ef56"), rejects="r.rejects.jsonl", counts={}, run={}, seconds=1, plots=[]))
    ['inputs', 'output', 'plots', 'rejects', 'counts', 'run', 'seconds']
    """
    value: dict = {"inputs": [{"path": str(path), "sha256": sha256} for path, sha256 in inputs],
                   "output": {"path": str(output[0]), "sha256": output[1]}}
    if plots is not None:
        value["plots"] = [{"path": str(path), "sha256": sha256} for path, sha256 in plots]
    value.update(rejects=str(rejects) if rejects else None, counts=counts, run=run, seconds=round(seconds, 3))
    return value


def write_json(path: str | Path, value: Any, last: tuple[str, Iterable[tuple[str, Any]]] | None = None) -> None:
    """Write a JSON document atomically, indented for people to read.

    Args:
        path: the file.
        value: the document, an object.
        last: ``(key, items)``: a last member whose value is an object too large to hold,
            written from its ``(key, value)`` items one at a time. The bytes are those of
            ``value`` with ``{key: dict(items)}`` added.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "report.json"
    >>> write_json(out, {"tasks": 2}, ("per_task", iter([("a", {"n": [1]}), ("b", {})])))
    >>> out.read_bytes() == orjson.dumps({"tasks": 2, "per_task": {"a": {"n": [1]}, "b": {}}},
    ...                                  option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    True
    """
    indented = orjson.OPT_INDENT_2
    with AtomicWriter(path) as writer:
        if last is None:
            writer.handle.write(orjson.dumps(value, option=indented | orjson.OPT_APPEND_NEWLINE))
            return
        key, items = last
        head = orjson.dumps({**value, key: {}}, option=indented)
        assert head.endswith(b"{}\n}")
        writer.handle.write(head[: -len(b"{}\n}")])
        separator = b"{\n    "
        for name, item in items:  # a member at depth 2: four spaces in, and its own lines too
            writer.handle.write(separator + orjson.dumps(name) + b": "
                                + orjson.dumps(item, option=indented).replace(b"\n", b"\n    "))
            separator = b",\n    "
        writer.handle.write(b"{}\n}\n" if separator == b"{\n    " else b"\n  }\n}\n")

