"""``filter_rollouts.py``: keep rollouts by reward, task group and length, copying kept lines byte for byte."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from .common import (
    add_io_arguments, add_record_filter_arguments, checked_filter_options, fail, filters_given, flag,
    quiet_broken_pipe, reports_internal_errors, run_and_report)

__all__ = ["filter_parser", "filter_main"]


def filter_parser() -> argparse.ArgumentParser:
    """The parser of ``filter_rollouts.py``."""
    parser = argparse.ArgumentParser(
        prog="filter_rollouts.py",
        description="Keep the rollouts worth training on. Filters compose; kept records are copied byte for byte, "
        "and every record dropped is counted with its reason (read = written + skipped + rejected).",
    )
    add_io_arguments(parser)
    add_record_filter_arguments(parser)
    group = parser.add_argument_group("task groups (two passes over the input)")
    group.add_argument(*flag("top-k"), dest="top_k", type=int, help="keep the k best rollouts of each task")
    group.add_argument(*flag("drop-uniform-groups"), dest="drop_uniform_groups", action="store_true",
                       help="drop tasks whose rollouts all got the same reward (they teach GRPO nothing)")
    group.add_argument("--dedupe", action="store_true",
                       help="drop rollouts whose trajectory repeats an earlier one of the same task")
    return parser


@reports_internal_errors
def filter_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``filter_rollouts.py``: parse, filter, copy the kept lines, report.

    Returns:
        0 on success, 1 on bad input (the process's exit status); 2 for bad arguments.
    """
    quiet_broken_pipe()
    from functools import partial

    from ..filters import RawLineWriter, filter_step
    from ..pipeline import Output

    parser = filter_parser()
    args = parser.parse_args(argv)
    if Path(args.output).suffix != ".jsonl":
        parser.error(f"filter_rollouts.py copies rollout lines as they are: --output must end in .jsonl, not "
                     f"{Path(args.output).suffix or 'nothing'}")
    options, problem = checked_filter_options(parser, args)
    if problem:
        return fail(problem)
    description = {"script": "filter_rollouts.py", "filters": filters_given(args),
                   "order": "record filters (masked, reward, length), then --dedupe, --drop-uniform-groups, --top-k"}
    output = Output(Path(args.output), partial(filter_step, options), RawLineWriter, description)
    return run_and_report(args.input, [output], args)  # an input that changes between passes stops as RunStopped
