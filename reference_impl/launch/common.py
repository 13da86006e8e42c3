"""What the launchers share: where the reward file is, and running a command or saying why not."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shlex
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["LaunchError", "guarded", "missing_modules", "TRAIN_EXTRA", "reward_file", "shell_line", "gpu_count",
           "check_prepared", "empty_data_fix", "launch_or_explain", "stamped", "why_keep",
           "batch_problems_for"]

TRAIN_EXTRA = "pip install -e '.[train]'  (from the project's folder: torch, trl, transformers, datasets, accelerate)"
"""How to install what training with TRL needs (``pyproject.toml``'s ``train`` extra)."""

FRAMEWORK_PINS = {"verl": "pip install verl==0.9.1", "openrlhf": "pip install openrlhf==0.11.2"}
"""How to install the framework a launcher runs, at the version its commands were checked against."""


class LaunchError(Exception):
    """An expected failure (a bad config, missing or empty data, a missing dependency); the message says the fix."""


def missing_modules(modules: Sequence[str]) -> list[str]:
    """The top-level modules of ``modules`` that are not installed.

    >>> missing_modules(["json", "no_such_module_here"])
    ['no_such_module_here']
    """
    return [name for name in modules if importlib.util.find_spec(name) is None]


def guarded(prog: str, body: Callable[[], int]) -> int:
    """Run a script's body with the errors policy of the launchers.

    Expected failures ({class}`LaunchError`) print ``error: <what and the fix>`` and return 1.
    Anything else is a fault, not a finding about the user's data: its traceback and
    ``internal error: <type>: <message>`` are printed and ``INTERNAL_ERROR`` (3) is returned,
    as the data scripts do (2 is argparse's, for bad arguments).

    >>> guarded("x.py", lambda: 0)
    0
    >>> guarded("x.py", lambda: (_ for _ in ()).throw(LaunchError("data.jsonl: no such file")))
    1
    """
    from ..commands.common import INTERNAL_ERROR, fail

    try:
        return body()
    except LaunchError as exc:
        return fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - the point: report every unexpected exception as one
        traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc}\n({prog} or a library it called failed unexpectedly; "
              "this is not a finding about your data. The traceback above shows where.)", file=sys.stderr)
        return INTERNAL_ERROR


def reward_file() -> str:
    """The absolute path of :mod:`reference_impl.rewards`, which VeRL and OpenRLHF load by path."""
    return str((Path(__file__).resolve().parents[1] / "rewards.py"))


def shell_line(command: list[str]) -> str:
    """A command as one copyable shell line, each argument quoted where it needs it.

    >>> shell_line(["python3", "-m", "x", "trainer.logger=[console]", "--data.dataset", "/d/sft.jsonl"])
    "python3 -m x 'trainer.logger=[console]' --data.dataset /d/sft.jsonl"
    """
    return " ".join(shlex.quote(part) for part in command)


def gpu_count() -> int:
    """CUDA GPUs on this machine (0 without torch)."""
    if importlib.util.find_spec("torch") is None:
        return 0
    import torch

    return torch.cuda.device_count()


def empty_data_fix(target: str, algorithm: str) -> str:
    """What to do about a prepared file with no rows, for the algorithm it was prepared for.

    >>> empty_data_fix("trl", "dpo")[:60]
    'a preference pair needs a task with two rollouts whose rewar'
    """
    script = f"prepare_for_{target}.py"
    if algorithm in ("dpo", "rm"):
        return ("a preference pair needs a task with two rollouts whose rewards differ by more than --min-margin: "
                "collect several rollouts per task (NeMo Gym's +num_repeats=4 or more) and prepare again")
    if algorithm in ("grpo", "ppo"):
        return (f"{script} writes a prompt row only for a task with a ground truth: check what it reported as skipped "
                "(--ground-truth-field names the field your environment writes)")
    return f"{script} wrote no row: check what it reported as skipped, and its input"


def check_prepared(path: str, target: str, algorithm: str) -> tuple[str | None, int]:
    """Why a prepared file cannot go to the trainer (``None`` when it can), and its row count.

    A missing file, a file with no rows (with what to do, see {func}`empty_data_fix`) and rows
    the validator rejects are reasons; duplicate rows are allowed here (the validator reports them).
    """
    from ..validate import validate_file

    if not Path(path).is_file():
        return f"{path}: no such file (write it with prepare_for_{target}.py)", 0
    report = validate_file(path, target, algorithm)
    if report.rows == 0:
        return f"{path} has no rows, nothing to train on: {empty_data_fix(target, algorithm)}", 0
    if not report.loadable:
        absent = sorted(kind.removeprefix("missing ") for kind, count in report.kinds.items()
                        if kind.startswith("missing ") and count == report.rows)
        if absent:
            return (f"{path}: no row has {', '.join(absent)}, which {target} {algorithm} reads (the first row has "
                    f"{', '.join(_first_columns(path)) or 'no columns'}); was it prepared for another algorithm? "
                    f"prepare_for_{target}.py --algorithm {algorithm} writes them"), report.rows
        shown = report.problems[:10]
        more = report.problem_count - len(shown)
        tail = f"\n  ... and {more} more (validate_training_data.py lists them all)" if more > 0 else ""
        return f"{path} is not {target} {algorithm} data:\n  " + "\n  ".join(shown) + tail, report.rows
    return None, report.rows


def _first_columns(path: str) -> list[str]:
    """The columns of a prepared file's first row (JSONL or parquet)."""
    from ..validate import iter_rows

    for _, row, _ in iter_rows(path):
        return sorted(row) if isinstance(row, dict) else []
    return []


def launch_or_explain(command: list[str], module: str, dry_run: bool) -> int:
    """Run ``command`` when ``module`` is importable and a GPU is here; otherwise print why not."""
    print("launch command:")
    print("  " + shell_line(command))
    if dry_run:
        reason = "--dry_run was given"
    elif importlib.util.find_spec(module.split(".")[0]) is None:
        name = module.split(".")[0]
        reason = f"{name} is not installed here ({FRAMEWORK_PINS.get(name, f'pip install {name}')})"
    elif gpu_count() == 0:
        reason = "no CUDA GPU on this machine"
    else:
        return subprocess.call(command)
    print(f"not launched: {reason}")
    return 0


STAMP_PREFIX = "# written by "


def stamped(text: str, prog: str) -> str:
    """``text`` with a first line that says which script wrote it and the checksum of the rest,
    so that a later run can tell its own file from one a user edited (see {func}`why_keep`).

    >>> stamped("a: 1\\n", "train_nemo_rl.py").splitlines()[0][:60]
    '# written by train_nemo_rl.py; sha256 of the lines below: 37'
    """
    digest = hashlib.sha256(text.encode()).hexdigest()
    return (f"{STAMP_PREFIX}{prog}; sha256 of the lines below: {digest}; "
            f"edit freely: {prog} will then not overwrite this file without --overwrite\n{text}")


def why_keep(path: str | Path, prog: str) -> str | None:
    """Why the file at ``path`` must not be replaced, or ``None`` when it may be (it is absent,
    or it is what ``prog`` wrote, unchanged since: see {func}`stamped`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> why_keep(p, "x.py") is None
    True
    >>> _ = p.write_text(stamped("a: 1\\n", "x.py")); why_keep(p, "x.py") is None
    True
    >>> _ = p.write_text(p.read_text() + "b: 2\\n"); why_keep(p, "x.py")
    'it was edited after x.py wrote it'
    >>> _ = p.write_text("a: 1\\n"); why_keep(p, "x.py")
    'x.py did not write it'
    """
    path = Path(path)
    if not path.exists():
        return None
    if not path.is_file():
        return "it is not a file"
    text = path.read_text(errors="replace")
    first, _, rest = text.partition("\n")
    match = re.match(rf"{re.escape(STAMP_PREFIX + prog)}; sha256 of the lines below: ([0-9a-f]{{64}});", first)
    if not match:
        return f"{prog} did not write it"
    if hashlib.sha256(rest.encode()).hexdigest() != match.group(1):
        return f"it was edited after {prog} wrote it"
    return None


def batch_problems_for(path: str, rows: int, key: str, batch: int, dropped: str, *, multiple: int = 1,
                       why_multiple: str = "", unit: str = "rows") -> list[str]:
    """What cannot work when a trainer takes ``batch`` rows (its setting ``key``) a step from a
    file of ``rows`` rows, each with the ``--batch-size`` that fixes it.

    Args:
        path: the data file, for the messages.
        rows: its rows.
        key: the trainer's setting, as the trainer names it.
        batch: its value.
        dropped: what the trainer does with fewer rows than a batch (with the source that says so).
        multiple: what ``batch`` must be a multiple of (the data-parallel ranks).
        why_multiple: the trainer's check that requires it.
        unit: what one of the ``batch`` is (``rows``, ``prompts``).

    >>> batch_problems_for("d.jsonl", 10, "data.train_batch_size", 256, "no step would run")
    ['d.jsonl has 10 rows, fewer than data.train_batch_size = 256: no step would run. Pass --batch-size 10 or less (rows per step), or prepare more data']
    >>> batch_problems_for("d.jsonl", 100, "--train.batch_size", 12, "", multiple=8, why_multiple="one share per GPU")
    ['--train.batch_size = 12 must be a multiple of 8 (one share per GPU): pass --batch-size 8']
    >>> batch_problems_for("d.jsonl", 5, "--train.batch_size", 128, "none would run", multiple=8, why_multiple="one share per GPU")[0][-102:]
    'none would run. A step needs a multiple of 8 rows (one share per GPU): prepare more, or use fewer GPUs'
    """
    fits = rows - rows % multiple
    if rows < batch:
        if multiple == 1:
            fix = f"Pass --batch-size {rows} or less ({unit} per step), or prepare more data"
        elif fits:
            fix = f"Pass --batch-size {fits} ({unit} per step, a multiple of {multiple}: {why_multiple}), or prepare more data"
        else:
            fix = f"A step needs a multiple of {multiple} {unit} ({why_multiple}): prepare more, or use fewer GPUs"
        return [f"{path} has {rows} rows, fewer than {key} = {batch}: {dropped}. {fix}"]
    if batch % multiple:
        return [f"{key} = {batch} must be a multiple of {multiple} ({why_multiple}): pass --batch-size "
                f"{max(batch - batch % multiple, multiple)}"]
    return []
