"""``prepare.py``: the record filters and several formats from one read of the input."""

from __future__ import annotations

import argparse
from typing import Sequence

from .common import (
    add_convert_arguments, add_record_filter_arguments, BadOutput, checked_filter_options, fail, filters_given, flag,
    format_output, NEEDS_RAY, options_from_args, quiet_broken_pipe, reports_internal_errors, run_and_report)

__all__ = ["prepare_many_parser", "parse_to", "prepare_many_main"]


def prepare_many_parser() -> argparse.ArgumentParser:
    """The parser of ``prepare.py``: several formats from one read, with the record filters."""
    from ..formats import TARGETS

    formats = "\n".join(f"  {t:9} {', '.join(a for a in TARGETS[t])}" for t in TARGETS if t != "custom")
    parser = argparse.ArgumentParser(
        prog="prepare.py",
        description="Filter NeMo Gym rollouts and write several training formats from one read of the input: "
        "each record is parsed once, filtered once, and handed to every format's writer.\n\n"
        f"formats (--to TARGET:ALGORITHM=PATH):\n{formats}\n\n"
        "The group filters (--top-k, --drop-uniform-groups, --dedupe) need whole tasks: run filter_rollouts.py "
        "first for those.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", nargs="+", required=True, metavar="ROLLOUTS",
                        help="rollout JSONL files (.jsonl or .jsonl.gz), read in order")
    parser.add_argument("--to", action="append", required=True, metavar="TARGET:ALGORITHM=PATH",
                        help="write this format to PATH, e.g. trl:sft=sft.jsonl or verl:grpo=prompts.parquet "
                             "(repeat for each output)")
    parser.add_argument(*flag("skip-invalid"), dest="skip_invalid", action="store_true",
                        help="write the valid records and put each malformed line, with its reason, "
                             "into <first output>.rejects.jsonl (default: stop at the first one)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: only on a terminal)")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local: this machine's cores (default); ray: Ray tasks over byte ranges of the input, "
                             "on a Ray cluster (--ray-address) or a local one (needs pip install -e '.[ray]')")
    parser.add_argument(*flag("ray-address"), dest="ray_address", default=None,
                        help="with --engine ray: the address of a running Ray cluster (default: start a local one)")
    add_convert_arguments(parser)
    parser.add_argument(*flag("prompt-completion"), dest="prompt_completion", action="store_true",
                        help="TRL SFT as prompt/completion instead of messages")
    add_record_filter_arguments(parser, reward_component=False)
    return parser


def parse_to(spec: str) -> tuple[str, str, str]:
    """Split ``--to TARGET:ALGORITHM=PATH``; the algorithm may be left out for the target's default.

    >>> parse_to("verl:grpo=out/prompts.parquet")
    ('verl', 'grpo', 'out/prompts.parquet')
    >>> parse_to("trl=sft.jsonl")
    ('trl', 'sft', 'sft.jsonl')
    """
    from ..formats import TARGETS, UnknownFormat

    name, equals, path = spec.partition("=")
    if not equals or not path:
        raise UnknownFormat(f"--to {spec}: expected TARGET:ALGORITHM=PATH, such as trl:sft=sft.jsonl")
    target, _, algorithm = name.partition(":")
    if target not in TARGETS or target == "custom":
        raise UnknownFormat(f"--to {spec}: unknown target {target!r}; known: "
                            f"{', '.join(t for t in sorted(TARGETS) if t != 'custom')}")
    if not algorithm:
        algorithms = TARGETS[target]
        algorithm = "sft" if "sft" in algorithms else next(iter(algorithms))
    return target, algorithm, path


@reports_internal_errors
def prepare_many_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``prepare.py``: parse, filter, write every ``--to`` format from one read, report.

    Returns:
        0 on success, 1 on bad input or a bad output, 2 for bad arguments.
    """
    quiet_broken_pipe()
    from functools import partial

    from ..filters import record_drop_reason
    from ..formats import UnknownFormat

    parser = prepare_many_parser()
    args = parser.parse_args(argv)
    if args.engine == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            return fail(NEEDS_RAY)
    filters, problem = checked_filter_options(parser, args)
    if problem:
        return fail(problem)
    options = options_from_args(args)
    given = {k: v for k, v in filters_given(args).items()
             if k in ("min_reward", "max_reward", "keep_masked", "max_turns", "max_chars", "max_tokens", "tokenizer")}
    outputs = []
    try:
        for spec in args.to:
            target, algorithm, path = parse_to(spec)
            extra = {"script": "prepare.py", "filters": given}
            outputs.append(format_output(target, algorithm, path, options, extra))
    except (UnknownFormat, BadOutput) as exc:
        return fail(str(exc))
    drop_reason = partial(record_drop_reason, options=filters) if given else None
    return run_and_report(args.input, outputs, args, drop_reason)
