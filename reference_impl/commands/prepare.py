"""``prepare_for_<target>.py`` and ``prepare_custom.py``: rollouts to one framework's training format."""

from __future__ import annotations

import argparse
from typing import Sequence

from .common import (
    add_convert_arguments, add_io_arguments, BadOutput, fail, flag, format_output, options_from_args,
    quiet_broken_pipe, reports_internal_errors, run_and_report)

__all__ = ["prepare_parser", "prepare_main"]


def prepare_parser(target: str) -> argparse.ArgumentParser:
    """The parser of ``prepare_for_<target>.py``."""
    from ..formats import TARGETS

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
    add_convert_arguments(parser)
    if target == "trl":
        parser.add_argument(*flag("prompt-completion"), dest="prompt_completion", action="store_true",
                            help="SFT as prompt/completion instead of messages")
    if "sft-tokens" in algorithms:
        parser.add_argument("--tokenizer", help="sft-tokens: the tokenizer the ids come from (hub id or folder); "
                                                "recorded in the manifest, and every id checked below its vocabulary size")
        parser.add_argument("--retokenize", action="store_true",
                            help="sft-tokens: render rollouts that carry no token ids through --tokenizer's chat "
                                 "template instead of skipping them (token_source: chat_template, counted apart)")
    return parser


@reports_internal_errors
def prepare_main(target: str, argv: Sequence[str] | None = None) -> int:
    """The whole of ``prepare_for_<target>.py``: parse, convert, write, report.

    Returns:
        0 on success, 1 on bad input or a bad argument (the process's exit status).
    """
    quiet_broken_pipe()
    from ..formats.custom import MappingError

    parser = prepare_parser(target)
    args = parser.parse_args(argv)
    options, extra = options_from_args(args), None
    if getattr(args, "retokenize", False) and not args.tokenizer:
        parser.error("--retokenize needs --tokenizer (whose chat template renders the rollouts without ids)")
    if getattr(args, "tokenizer", None):
        from ..formats.tokens import ALGORITHM, with_tokenizer

        if args.algorithm != ALGORITHM:
            parser.error(f"--tokenizer is only used with --algorithm {ALGORITHM}")
        try:
            options, extra = with_tokenizer(options, args.tokenizer, args.retokenize)
        except (OSError, ValueError) as exc:
            return fail(f"cannot load the tokenizer {args.tokenizer!r}: {exc}")
    try:
        output = format_output(target, args.algorithm, args.output, options, extra, named=f"--output {args.output}")
    except (BadOutput, MappingError, OSError) as exc:
        return fail(str(exc))
    return run_and_report(args.input, [output], args)
