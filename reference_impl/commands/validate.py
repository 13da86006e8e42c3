"""``validate_training_data.py``: check prepared files against the format they claim to be."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .common import (
    check_inputs, fail, flag, quiet_broken_pipe, reports_internal_errors)

__all__ = ["validate_parser", "validate_main"]


def validate_parser() -> argparse.ArgumentParser:
    """The parser of ``validate_training_data.py``."""
    from ..validate import SPECS

    formats = "\n".join(f"  {t:9} {', '.join(sorted(a for tt, a in SPECS if tt == t))}"
                        for t in sorted({t for t, _ in SPECS}))
    parser = argparse.ArgumentParser(
        prog="validate_training_data.py",
        description="Check prepared training files against the format they are for: required fields and types, "
        "empty values, role order and tool-call ids, pairs that differ, ranks, labels and margins, NaN and infinity, "
        f"duplicate rows. Problems are printed as file:line: what (the row number for parquet).\n\nformats:\n{formats}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", required=True, help="JSONL or parquet files written by the prepare scripts")
    parser.add_argument("--target", required=True, choices=sorted({t for t, _ in SPECS}))
    parser.add_argument("--algorithm", required=True)
    parser.add_argument(*flag("max-problems"), dest="max_problems", type=int, default=50,
                        help="print at most this many problems per file (all are counted; default: 50)")
    parser.add_argument(*flag("no-duplicates"), dest="no_duplicates", action="store_true",
                        help="fail on duplicate rows too (default: list them as notes; the prepare scripts write "
                             "every rollout, and two rollouts can be the same; filter_rollouts.py --dedupe drops them)")
    parser.add_argument(*flag("allow-duplicates"), dest="no_duplicates", action="store_false",
                        help=argparse.SUPPRESS)  # the default now; kept so that older commands still run
    parser.add_argument("--report", help="also write the counts and the first problems as JSON here")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: only on a terminal)")
    return parser


@reports_internal_errors
def validate_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``validate_training_data.py``.

    Returns:
        0 when every file is valid, 1 when one has problems (or duplicate rows, with
        ``--no-duplicates``), 2 for bad arguments.
    """
    quiet_broken_pipe()
    from ..io import same_file, write_json
    from ..validate import SPECS, validate_file

    parser = validate_parser()
    args = parser.parse_args(argv)
    if (args.target, args.algorithm) not in SPECS:
        known = sorted(a for t, a in SPECS if t == args.target)
        parser.error(f"{args.target} has no {args.algorithm!r} format; it has: {', '.join(known)}")
    problem = check_inputs(args.input)
    if problem:
        return fail(problem)
    if args.report and any(same_file(args.report, p) for p in args.input):
        return fail(f"refusing to write {args.report}: it is an input file")
    status = 0
    reports = []
    allow_duplicates = not args.no_duplicates
    for path in args.input:
        report = validate_file(path, args.target, args.algorithm, progress=args.progress)
        reports.append(report)
        duplicates = f", {report.duplicate_count} duplicate rows" if report.duplicate_count else ""
        if report.clean or (allow_duplicates and report.loadable):
            print(f"{path}: {report.rows} rows, valid {args.target} {args.algorithm} data{duplicates}")
            shown = min(args.max_problems, 5)
            for line in report.duplicates[:shown]:
                print(f"  note: {line}")
            if report.duplicate_count > shown:
                print(f"  note: ... and {report.duplicate_count - shown} more duplicate rows")
            continue
        status = 1
        found = report.problems + ([] if allow_duplicates else report.duplicates)
        for line in found[: args.max_problems]:
            print(line, file=sys.stderr)
        total = report.problem_count + (0 if allow_duplicates else report.duplicate_count)
        if total > args.max_problems:
            print(f"... and {total - args.max_problems} more", file=sys.stderr)
        print(f"{path}: {report.rows} rows, {report.problem_count} problems{duplicates}: not valid "
              f"{args.target} {args.algorithm} data", file=sys.stderr)
        for kind, n in report.kinds.most_common(10):
            print(f"  {n:>6}  {kind}", file=sys.stderr)
        if report.duplicate_count and not allow_duplicates:
            print(f"  {report.duplicate_count:>6}  duplicate rows (drop repeated trajectories with filter_rollouts.py "
                  "--dedupe; they are allowed without --no-duplicates)", file=sys.stderr)
    if args.report:
        write_json(args.report, {"target": args.target, "algorithm": args.algorithm, "valid": status == 0,
                                 "allow_duplicates": allow_duplicates, "files": [r.as_dict() for r in reports]})
    return status
