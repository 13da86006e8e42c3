"""``rollout_stats.py``: rewards, pass rates, pass@k, turns and tool calls, and two pictures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .common import (
    check_inputs, fail, flag, nothing_to_write_hint, quiet_broken_pipe, report_malformed, reports_internal_errors)

__all__ = ["stats_parser", "stats_main"]


def stats_parser() -> argparse.ArgumentParser:
    """The parser of ``rollout_stats.py``."""
    parser = argparse.ArgumentParser(
        prog="rollout_stats.py",
        description="Rewards, pass rates, pass@k, turns and tool calls of rollout files: a table, a JSON report "
        "and two pictures.")
    parser.add_argument("--input", nargs="+", required=True, metavar="ROLLOUTS",
                        help="rollout JSONL files (.jsonl or .jsonl.gz), read in order")
    parser.add_argument("--report", help="write the report as JSON here (with a manifest beside it)")
    parser.add_argument("--plots", help="draw reward_histogram and pass_rate pictures into this folder")
    parser.add_argument(*flag("plot-format"), dest="plot_format", choices=["png", "svg"], default="png")
    parser.add_argument(*flag("pass-threshold"), dest="threshold", type=float, default=1.0,
                        help="a rollout passes when its reward is at least this (default: 1.0)")
    parser.add_argument(*flag("reward-component"), dest="reward_component",
                        help="report on this reward_components key instead of reward")
    parser.add_argument(*flag("per-task"), dest="per_task", action="store_true",
                        help="also print one line per task (always in the report)")
    parser.add_argument(*flag("skip-invalid"), dest="skip_invalid", action="store_true",
                        help="report on the valid records; list each malformed line, with its reason, in "
                             "<report>.rejects.jsonl (or on standard error without --report)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: only on a terminal)")
    return parser


@reports_internal_errors
def stats_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``rollout_stats.py``: a table, a JSON report with its manifest, and pictures.

    Returns:
        0 on success, 1 on bad input (nothing written, in strict mode) or when no record
        could be scored, 2 for bad arguments.
    """
    quiet_broken_pipe()
    import time

    from functools import partial

    from ..io import JsonlWriter, input_sha256, manifest, same_file, sha256_of, write_json
    from ..pipeline import InvalidInput, worker_count, execute, sidecar_path
    from ..stats import StatsStep, draw_plots, report_table, task_table

    args = stats_parser().parse_args(argv)
    started = time.perf_counter()
    problem = check_inputs(args.input)
    if problem:
        return fail(problem)
    outputs = [args.report] if args.report else []
    if args.plots:
        outputs += [str(Path(args.plots) / f"{name}.{args.plot_format}") for name in ("reward_histogram", "pass_rate")]
    for output in outputs:
        if any(same_file(output, p) for p in args.input):
            return fail(f"refusing to write {output}: it is an input file")
    rejects = JsonlWriter(sidecar_path(args.report, "rejects")) if args.skip_invalid and args.report else None
    shown = []

    def reject(error) -> None:
        if rejects is not None:
            rejects.write(error.as_row())
        elif len(shown) < 20:
            shown.append(error)
            print(f"rejected: {error}", file=sys.stderr)

    try:
        shared, [step] = execute(args.input, [partial(StatsStep, args.threshold, args.reward_component)], [None],
                                 on_reject=reject if args.skip_invalid else None, progress=args.progress,
                                 workers=worker_count(args.input, None))
    except InvalidInput:
        if rejects is not None:
            rejects.abort()
        return report_malformed(args.input, "no report was written", "report on the valid records")
    tally, stats = step.tally.merge(shared), step.stats
    if tally.used == 0:
        if rejects is not None:
            rejects.abort()
        print(tally.report(), file=sys.stderr)
        return fail(f"nothing to report: no record could be scored ({nothing_to_write_hint(tally)})")
    wrote_rejects = None
    if rejects is not None:
        if rejects.rows:
            rejects.commit()
            wrote_rejects = rejects.path
        else:
            rejects.abort()
    summary = stats.summary()  # the report without per_task, which is written task by task
    print(report_table(summary))
    if args.per_task:
        print(task_table({"per_task": stats.per_task()}))
    plots = draw_plots(stats, args.plots, args.plot_format) if args.plots else []
    for path in plots:
        print(f"plot: {path}")
    if wrote_rejects:
        print(f"rejected lines, with their reasons: {wrote_rejects}")
    if args.report:
        write_json(args.report, summary, ("per_task", stats.per_task_items()))
        manifest_path = sidecar_path(args.report, "manifest")
        write_json(manifest_path, manifest(
            [(p, input_sha256(p)) for p in args.input], (args.report, sha256_of(args.report)),
            plots=[(p, sha256_of(p)) for p in plots], rejects=wrote_rejects, counts=tally.as_dict(),
            run={"script": "rollout_stats.py", "pass_threshold": args.threshold,
                 "reward_component": args.reward_component},
            seconds=time.perf_counter() - started))
        print(f"report: {args.report}")
        print(f"manifest: {manifest_path}")
    return 0
