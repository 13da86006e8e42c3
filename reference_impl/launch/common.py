"""What the launchers share: where the reward file is, and running a command or saying why not."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
from pathlib import Path

__all__ = ["reward_file", "shell_line", "gpu_count", "check_prepared", "launch_or_explain"]


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


def check_prepared(path: str, target: str, algorithm: str) -> tuple[str | None, int]:
    """Why a prepared file cannot go to the trainer (``None`` when it can), and its row count.

    Duplicate rows are allowed here; the validator reports them.
    """
    from ..validate import validate_file

    if not Path(path).is_file():
        return f"{path}: no such file (write it with prepare_for_{target}.py)", 0
    report = validate_file(path, target, algorithm)
    if not report.loadable:
        return f"{path} is not {target} {algorithm} data:\n" + "\n".join(report.problems[:20]), report.rows
    return None, report.rows


def launch_or_explain(command: list[str], module: str, dry_run: bool) -> int:
    """Run ``command`` when ``module`` is importable and a GPU is here; otherwise print why not."""
    print("launch command:")
    print("  " + shell_line(command))
    if dry_run:
        reason = "--dry_run was given"
    elif importlib.util.find_spec(module.split(".")[0]) is None:
        reason = f"{module.split('.')[0]} is not installed here"
    elif gpu_count() == 0:
        reason = "no CUDA GPU on this machine"
    else:
        return subprocess.call(command)
    print(f"not launched: {reason}")
    return 0
