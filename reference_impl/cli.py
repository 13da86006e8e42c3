"""The command-line arguments and the ``main`` functions that the scripts in ``scripts/`` share.

Every script follows one policy for bad input: strict by default (the first malformed
line stops the run with ``file:line: reason``, exit status 1, nothing written), and
``--skip-invalid`` to write the valid records and reject the rest, each with its reason,
into a rejects file beside the output. Flags are spelled with dashes; the underscore
spellings of the seed pages (``--min_reward``) work too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["flag", "add_io_arguments", "prepare_parser", "options_from_args", "prepare_main", "fail"]


def flag(name: str) -> list[str]:
    """Both spellings of a flag.

    >>> flag("min-reward")
    ['--min-reward', '--min_reward']
    """
    dashed = "--" + name.replace("_", "-")
    underscored = "--" + name.replace("-", "_")
    return [dashed] if dashed == underscored else [dashed, underscored]


def add_io_arguments(parser: argparse.ArgumentParser) -> None:
    """``--input``, ``--output``, ``--skip-invalid`` and ``--progress``, the same in every script."""
    parser.add_argument("--input", nargs="+", required=True, metavar="ROLLOUTS",
                        help="rollout JSONL files (.jsonl or .jsonl.gz), read in order")
    parser.add_argument("--output", required=True, help="the file to write; never one of the inputs")
    parser.add_argument(*flag("skip-invalid"), dest="skip_invalid", action="store_true",
                        help="write the valid records and put each malformed line, with its reason, "
                             "into <output>.rejects.jsonl (default: stop at the first one)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: only on a terminal)")


def prepare_parser(target: str) -> argparse.ArgumentParser:
    """The parser of ``prepare_for_<target>.py``."""
    from .formats import TARGETS

    algorithms = TARGETS[target]
    lines = "\n".join(f"  {name:5} {a.summary}" for name, a in algorithms.items())
    parser = argparse.ArgumentParser(
        prog=f"prepare_for_{target}.py" if target != "custom" else "prepare_custom.py",
        description=f"Convert NeMo Gym rollouts into {target} training data.\n\nalgorithms:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_io_arguments(parser)
    if target == "custom":
        parser.add_argument("--mapping", required=True, help="a YAML file: fields: {column: source}")
        parser.set_defaults(algorithm="mapping")
    else:
        default = "sft" if "sft" in algorithms else next(iter(algorithms))
        parser.add_argument("--algorithm", choices=list(algorithms), default=default,
                            help=f"the training algorithm the data is for (default: {default})")
    parser.add_argument("--reasoning", choices=["keep", "drop"], default="keep",
                        help="keep the model's reasoning as reasoning_content on its turn, or drop it")
    parser.add_argument(*flag("reward-component"), dest="reward_component",
                        help="use this reward_components key instead of reward (preference pairs, KTO)")
    parser.add_argument(*flag("min-margin"), dest="min_margin", type=float, default=0.0,
                        help="preference pairs need a reward gap greater than this (default: 0, no ties)")
    parser.add_argument(*flag("kto-threshold"), dest="kto_threshold", type=float, default=0.5,
                        help="KTO: reward >= this is desirable (default: 0.5)")
    parser.add_argument(*flag("ground-truth-field"), dest="ground_truth_field", default="expected_answer",
                        help="the record field holding the answer rewards check (default: expected_answer)")
    parser.add_argument(*flag("task-fields"), dest="task_fields",
                        help="comma-separated record fields to keep as task columns (default: the known ones)")
    parser.add_argument(*flag("agent-name"), dest="agent_name",
                        help="NeMo Gym agent for rows without agent_ref (NeMo RL GRPO)")
    parser.add_argument(*flag("data-source"), dest="data_source",
                        help="VeRL data_source / OpenRLHF datasource (default: nemo_gym/<agent name>)")
    parser.add_argument("--split", default="train", help="split name for VeRL's extra_info")
    if target == "trl":
        parser.add_argument(*flag("prompt-completion"), dest="prompt_completion", action="store_true",
                            help="SFT as prompt/completion instead of messages")
    return parser


def options_from_args(args: argparse.Namespace):
    """Build {class}`~reference_impl.formats.ConvertOptions` from parsed arguments."""
    from .formats import ConvertOptions
    from .messages import MessageOptions

    mapping = None
    if getattr(args, "mapping", None):
        from .formats.custom import load_mapping

        mapping = load_mapping(args.mapping)
    return ConvertOptions(
        messages=MessageOptions(reasoning=args.reasoning),
        reward_component=args.reward_component,
        kto_threshold=args.kto_threshold,
        min_margin=args.min_margin,
        task_fields=tuple(f.strip() for f in args.task_fields.split(",") if f.strip()) if args.task_fields else None,
        ground_truth_field=args.ground_truth_field,
        agent_name=args.agent_name,
        data_source=args.data_source,
        split=args.split,
        prompt_completion=getattr(args, "prompt_completion", False),
        mapping=mapping,
    )


def quiet_broken_pipe() -> None:
    """Let ``script | head`` end quietly, as command-line tools do, instead of with a traceback."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def fail(message: str, status: int = 1) -> int:
    """Print ``error: message`` on standard error and return the exit status."""
    print(f"error: {message}", file=sys.stderr)
    return status


def check_inputs(paths: Sequence[str]) -> str | None:
    """Why the input files cannot be read, or ``None``.

    >>> check_inputs(["no/such/file.jsonl"])
    'no/such/file.jsonl: no such file'
    """
    for path in paths:
        p = Path(path)
        if not p.exists():
            return f"{path}: no such file"
        if p.is_dir():
            return f"{path}: is a folder, not a rollout file"
    return None


def run_and_report(inputs, output, converter, args, description: dict, writer=None) -> int:
    """Run a conversion with the bad-input policy, print its counts, and return the exit status."""
    from .io import OutputExistsAsInput
    from .pipeline import InvalidInput, run

    problem = check_inputs(inputs)
    if problem:
        return fail(problem)
    try:
        result = run(inputs, output, converter, skip_invalid=args.skip_invalid,
                     description=description, progress=args.progress, write_rows=writer)
    except InvalidInput as exc:
        return fail(f"{exc}\nnothing was written; fix the line, or rerun with --skip-invalid "
                    f"to write the valid records and list the rejected ones in "
                    f"{Path(output).stem}.rejects.jsonl")
    except OutputExistsAsInput as exc:
        return fail(str(exc))
    print(result.tally.report())
    print(f"wrote {output}")
    if result.rejects:
        print(f"rejected lines, with their reasons: {result.rejects}")
    print(f"manifest: {result.manifest}")
    return 0


def prepare_main(target: str, argv: Sequence[str] | None = None) -> int:
    """The whole of ``prepare_for_<target>.py``: parse, convert, write, report.

    Returns:
        0 on success, 1 on bad input or a bad argument (the process's exit status).
    """
    quiet_broken_pipe()
    from .formats import get_algorithm
    from .formats.custom import MappingError
    from .io import open_writer

    args = prepare_parser(target).parse_args(argv)
    algorithm = get_algorithm(target, args.algorithm)
    suffix = Path(args.output).suffix
    if suffix not in algorithm.suffixes:
        why = "" if ".parquet" in algorithm.suffixes else (
            " (parquet keeps one schema per file, and would null-fill the tool calls and fields that differ between rows)")
        return fail(f"{target} {args.algorithm} is written as {' or '.join(algorithm.suffixes)}{why}; "
                    f"--output {args.output} ends in {suffix or 'nothing'}")
    try:
        options = options_from_args(args)
        converter = algorithm.converter(options)
    except (MappingError, OSError) as exc:
        return fail(str(exc))
    schema = algorithm.parquet_schema() if algorithm.parquet_schema and suffix == ".parquet" else None
    description = {"target": target, "algorithm": args.algorithm, "source": algorithm.source}
    return run_and_report(args.input, args.output, converter, args, description,
                          lambda path: open_writer(path, schema=schema))


def filter_parser() -> argparse.ArgumentParser:
    """The parser of ``filter_rollouts.py``."""
    parser = argparse.ArgumentParser(
        prog="filter_rollouts.py",
        description="Keep the rollouts worth training on. Filters compose; the output keeps the input's "
        "record shape, and every record dropped is counted with its reason.",
    )
    add_io_arguments(parser)
    parser.add_argument(*flag("min-reward"), dest="min_reward", type=float, help="keep rewards >= this")
    parser.add_argument(*flag("max-reward"), dest="max_reward", type=float, help="keep rewards <= this")
    parser.add_argument(*flag("reward-component"), dest="reward_component",
                        help="read the reward from this reward_components key")
    parser.add_argument(*flag("keep-masked"), dest="keep_masked", action="store_true",
                        help="keep masked and failed records (dropped by default)")
    parser.add_argument(*flag("top-k"), dest="top_k", type=int, help="keep the k best rollouts of each task")
    parser.add_argument(*flag("drop-uniform-groups"), dest="drop_uniform_groups", action="store_true",
                        help="drop tasks whose rollouts all have the same reward (they teach GRPO nothing)")
    parser.add_argument("--dedupe", action="store_true", help="drop repeated trajectories of a task")
    parser.add_argument(*flag("max-turns"), dest="max_turns", type=int, help="drop trajectories with more assistant turns")
    parser.add_argument(*flag("max-chars"), dest="max_chars", type=int, help="drop trajectories with more characters")
    parser.add_argument(*flag("max-tokens"), dest="max_tokens", type=int,
                        help="drop trajectories with more tokens (needs --tokenizer)")
    parser.add_argument("--tokenizer", help="a Hugging Face tokenizer (hub id or folder) for --max-tokens")
    return parser


def filter_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``filter_rollouts.py``."""
    quiet_broken_pipe()
    from .filters import FilterOptions, filter_converter, tokenizer_counter

    parser = filter_parser()
    args = parser.parse_args(argv)
    if args.max_tokens is not None and not args.tokenizer:
        parser.error("--max-tokens needs --tokenizer")
    if args.top_k is not None and args.top_k < 1:
        parser.error("--top-k must be at least 1")
    options = FilterOptions(
        min_reward=args.min_reward, max_reward=args.max_reward, reward_component=args.reward_component,
        keep_masked=args.keep_masked, top_k=args.top_k, drop_uniform_groups=args.drop_uniform_groups,
        dedupe=args.dedupe, max_turns=args.max_turns, max_chars=args.max_chars, max_tokens=args.max_tokens,
        count_tokens=tokenizer_counter(args.tokenizer) if args.max_tokens is not None else None,
    )
    description = {"script": "filter_rollouts.py", "filters": {k: v for k, v in vars(args).items()
                                                               if k not in ("input", "output", "progress") and v not in (None, False)}}
    return run_and_report(args.input, args.output, filter_converter(options), args, description)


def validate_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``validate_training_data.py``: exit 0 when clean, 1 with the problems otherwise."""
    quiet_broken_pipe()
    from .validate import SPECS, validate_file

    targets = sorted({t for t, _ in SPECS})
    parser = argparse.ArgumentParser(
        prog="validate_training_data.py",
        description="Check a prepared training file against the format it is for: fields and types, "
        "empty values, role order, pairs that differ, NaN, duplicates. Problems are printed as file:line: what.",
    )
    parser.add_argument("--input", nargs="+", required=True, help="JSONL or parquet files written by the prepare scripts")
    parser.add_argument("--target", required=True, choices=targets)
    parser.add_argument("--algorithm", required=True)
    parser.add_argument(*flag("max-problems"), dest="max_problems", type=int, default=50,
                        help="print at most this many problems (all are counted)")
    parser.add_argument(*flag("allow-duplicates"), dest="allow_duplicates", action="store_true",
                        help="report duplicate rows but do not fail on them")
    args = parser.parse_args(argv)
    if (args.target, args.algorithm) not in SPECS:
        known = sorted(a for t, a in SPECS if t == args.target)
        parser.error(f"{args.target} has no {args.algorithm!r} format; it has: {', '.join(known)}")
    problem = check_inputs(args.input)
    if problem:
        return fail(problem)
    status = 0
    for path in args.input:
        report = validate_file(path, args.target, args.algorithm)
        if report.clean or (args.allow_duplicates and report.loadable):
            note = f" ({len(report.duplicates)} duplicate rows)" if report.duplicates else ""
            print(f"{path}: {report.rows} rows, valid {args.target} {args.algorithm} data{note}")
            continue
        status = 1
        found = report.problems + ([] if args.allow_duplicates else report.duplicates)
        for line in found[: args.max_problems]:
            print(line, file=sys.stderr)
        if len(found) > args.max_problems:
            print(f"... and {len(found) - args.max_problems} more", file=sys.stderr)
        print(f"{path}: {report.rows} rows, {len(report.problems)} problems, {len(report.duplicates)} duplicate rows",
              file=sys.stderr)
    return status


def stats_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``rollout_stats.py``: a table, a JSON report, and pictures."""
    quiet_broken_pipe()
    from .io import JsonlWriter, same_file, write_json
    from .pipeline import InvalidInput, Tally, read_rollouts, sidecar_path
    from .stats import collect_stats, draw_plots, report_table

    parser = argparse.ArgumentParser(prog="rollout_stats.py",
                                     description="Rewards, pass rates, pass@k, turns and tool calls of rollout files.")
    parser.add_argument("--input", nargs="+", required=True, metavar="ROLLOUTS")
    parser.add_argument("--report", help="write the report as JSON here")
    parser.add_argument("--plots", help="draw reward_histogram.png and pass_rate.png into this folder")
    parser.add_argument(*flag("pass-threshold"), dest="threshold", type=float, default=1.0,
                        help="a rollout passes when its reward is at least this (default: 1.0)")
    parser.add_argument(*flag("reward-component"), dest="reward_component")
    parser.add_argument(*flag("skip-invalid"), dest="skip_invalid", action="store_true",
                        help="report on the valid records; list the malformed lines in <report>.rejects.jsonl")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    problem = check_inputs(args.input)
    if problem:
        return fail(problem)
    if args.report and any(same_file(args.report, p) for p in args.input):
        return fail(f"refusing to write {args.report}: it is an input file")
    tally = Tally()
    rejects = JsonlWriter(sidecar_path(args.report or "report.json", "rejects")) if args.skip_invalid else None
    on_reject = (lambda e: rejects.write({"file": e.path, "line": e.line, "reason": e.reason})) if rejects else None
    try:
        stats = collect_stats(read_rollouts(args.input, tally, on_reject, args.progress), tally, args.threshold,
                              args.reward_component)
    except InvalidInput as exc:
        return fail(f"{exc}\nno report written; fix the line, or rerun with --skip-invalid")
    finally:
        if rejects is not None:
            rejects.commit() if rejects.rows else rejects.abort()
    report = stats.as_dict()
    print(report_table(report))
    if args.report:
        write_json(args.report, report)
        print(f"report: {args.report}")
    if args.plots:
        for path in draw_plots(stats, args.plots):
            print(f"plot: {path}")
    return 0
