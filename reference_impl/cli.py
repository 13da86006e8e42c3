"""The command-line arguments and the ``main`` functions that the scripts in ``scripts/`` share.

Every script follows one policy for bad input: strict by default (the first malformed
line stops the run with ``file:line: reason``, exit status 1, nothing written), and
``--skip-invalid`` to write the valid records and reject the rest, each with its reason,
into a rejects file beside the output. Flags are spelled with dashes; the underscore
spellings (``--min_reward``) work too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["flag", "add_io_arguments", "add_convert_arguments", "add_record_filter_arguments", "prepare_parser",
           "options_from_args", "format_output", "prepare_main", "prepare_many_main", "parse_to", "fail",
           "report_malformed", "filter_main", "validate_main", "stats_main"]


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


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    """The conversion options every format writer shares (``--reasoning``, ``--reward-component``...)."""
    parser.add_argument("--reasoning", choices=["keep", "drop"], default="keep",
                        help="keep the model's reasoning as reasoning_content on its turn, or drop it")
    parser.add_argument(*flag("reward-component"), dest="reward_component",
                        help="use this reward_components key instead of reward (preference pairs, KTO)")
    parser.add_argument(*flag("min-margin"), dest="min_margin", type=float, default=0.0,
                        help="preference pairs need a reward gap greater than this (default: 0, no ties)")
    parser.add_argument(*flag("kto-threshold"), dest="kto_threshold", type=float, default=0.5,
                        help="KTO: reward >= this is desirable (default: 0.5)")
    parser.add_argument(*flag("ground-truth-field"), dest="ground_truth_field", default=None,
                        help="the record field holding the answer rewards check (default: the first present of "
                             "expected_answer, expected_action, expected_output, answer, ground_truth, "
                             "verifier_metadata, target, solution, label)")
    parser.add_argument(*flag("task-fields"), dest="task_fields",
                        help="comma-separated record fields to keep as task columns (default: the known ones)")
    parser.add_argument(*flag("agent-name"), dest="agent_name",
                        help="NeMo Gym agent for rows without agent_ref (NeMo RL GRPO)")
    parser.add_argument(*flag("data-source"), dest="data_source",
                        help="VeRL data_source / OpenRLHF datasource (default: nemo_gym/<agent name>)")
    parser.add_argument("--split", default="train", help="split name for VeRL's extra_info")
    parser.add_argument(*flag("keep-imageless"), dest="keep_imageless", action="store_true",
                        help="keep records whose prompt has images (or audio, files), written without them "
                             "(default: skip them, counted: the text alone is not the prompt the model saw)")


def options_from_args(args: argparse.Namespace):
    """Build {class}`~reference_impl.formats.base.ConvertOptions` from parsed arguments."""
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
        keep_imageless=args.keep_imageless,
    )


def quiet_broken_pipe() -> None:
    """Let ``script | head`` end quietly, as command-line tools do, instead of with a traceback."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


NEEDS_TRANSFORMERS = ("--tokenizer needs the transformers package: pip install 'transformers==5.23.0' "
                      "(or pip install -e '.[train]' in this project)")
"""The message for an optional dependency that is missing, with its install command."""

NEEDS_RAY = "--engine ray needs Ray Data: pip install 'ray[data]==2.60.0' (or pip install -e '.[ray]' in this project)"

INTERNAL_ERROR = 3
"""The exit status of a run stopped by a bug in this package (1 is bad input or arguments)."""


def reports_internal_errors(main):
    """Make a script's ``main`` report an exception it did not expect as an internal error.

    The message names the record being converted (``file:line``) and the exception's type,
    and says that this is a bug in the tool, not a problem with the data; the traceback
    follows, for the bug report. The exit status is {data}`INTERNAL_ERROR`.
    """
    import functools

    @functools.wraps(main)
    def guarded(*args, **kwargs) -> int:
        from .pipeline import InternalError

        try:
            return main(*args, **kwargs)
        except KeyboardInterrupt:
            print("interrupted: nothing was written", file=sys.stderr)
            return 130
        except InternalError as exc:
            return _internal(f"while converting the record at {exc}", exc.error)
        except Exception as exc:  # noqa: BLE001 (the point: nothing escapes as a raw traceback alone)
            return _internal(f"{type(exc).__name__}: {exc}", exc)

    return guarded


def _internal(what: str, error: BaseException) -> int:
    import traceback

    print(f"internal error {what}", file=sys.stderr)
    print("This is a bug in this tool, not a problem with your data; nothing was written. Please report it "
          "with the record and the details below.", file=sys.stderr)
    print("".join(traceback.format_exception(error)).rstrip(), file=sys.stderr)
    return INTERNAL_ERROR


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


def report_malformed(inputs: Sequence[str], consequence: str, remedy: str, limit: int = 20) -> int:
    """After a strict run stopped at a malformed line: list every malformed line of the inputs
    (``file:line: reason``, the first ``limit``), say what happened and what to do; return 1."""
    from .rollouts import RolloutError, iter_rollouts

    found = read = 0
    for path in inputs:
        for item in iter_rollouts(path):
            read += 1
            if isinstance(item, RolloutError):
                found += 1
                if found <= limit:
                    print(f"error: {item}", file=sys.stderr)
    if found > limit:
        print(f"error: ... and {found - limit} more malformed lines", file=sys.stderr)
    print(f"{found} malformed {'line' if found == 1 else 'lines'} of {read} read; {consequence}. Fix "
          f"{'it' if found == 1 else 'them'}, or rerun with --skip-invalid to {remedy}", file=sys.stderr)
    return 1


def run_and_report(inputs, outputs, args, drop_reason=None) -> int:
    """Run a conversion with the bad-input policy, print its counts, and return the exit status.

    Args:
        inputs: the rollout files.
        outputs: the {class}`~reference_impl.pipeline.Output` files, written from one read.
        args: the parsed arguments (``skip_invalid``, ``progress``).
        drop_reason: a record filter (see {func}`~reference_impl.pipeline.run_many`).
    """
    from .io import OutputExistsAsInput
    from .pipeline import InvalidInput, run_many, sidecar_path

    problem = check_inputs(inputs)
    if problem:
        return fail(problem)
    try:
        ray = getattr(args, "engine", "local") == "ray"
        results = run_many(inputs, outputs, drop_reason=drop_reason, skip_invalid=args.skip_invalid,
                           progress=args.progress, ray_address=args.ray_address if ray else False)
    except InvalidInput:
        return report_malformed(inputs, "nothing was written", f"write the valid records and list the rejected ones, "
                                f"with their reasons, in {sidecar_path(outputs[0].path, 'rejects')}")
    except (OutputExistsAsInput, ValueError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write the output: {exc}")
    empty = [result for result in results if result.tally.rows == 0]
    if empty:
        return _nothing_to_write(results, empty, args)
    for result in results:
        if len(results) > 1:
            print(f"{result.output}:")
        print(result.tally.report())
        print(f"wrote {result.output}")
        print(f"manifest: {result.manifest}")
    if results[0].rejects:
        print(f"rejected lines, with their reasons: {results[0].rejects}")
    return 0


def nothing_to_write_hint(tally) -> str:
    """What to do when a run wrote no row, read from why its records were skipped.

    >>> from collections import Counter
    >>> from reference_impl.pipeline import Tally
    >>> print(nothing_to_write_hint(Tally(read=5, skipped=Counter({"only rollout of its task": 5}))))
    preference pairs need several rollouts of a task whose rewards differ by more than --min-margin: collect several rollouts per task (gym eval run ... +num_repeats=4)
    """
    reasons = " ".join(tally.skipped)
    if "only rollout of its task" in reasons or "tied rewards" in reasons or "reward gap" in reasons:
        return ("preference pairs need several rollouts of a task whose rewards differ by more than --min-margin: "
                "collect several rollouts per task (gym eval run ... +num_repeats=4)")
    if "ground truth" in reasons:
        return "no record has a ground truth for the reward functions: name its field with --ground-truth-field"
    if "agent_ref" in reasons:
        return "no record names its agent (agent_ref.name): pass --agent-name"
    if tally.read == 0:
        return "the input has no records"
    if sum(tally.rejected.values()) == tally.read:
        return "every line was rejected as malformed"
    [(reason, count)] = tally.skipped.most_common(1)
    return f"every record was skipped; the most common reason ({count} of {tally.read}): {reason}"


def _nothing_to_write(results, empty, args) -> int:
    """A run that would write a file without rows fails: nothing is left in place."""
    for result in results:
        for path in (result.output, result.manifest, result.rejects):
            if path is not None:
                Path(path).unlink(missing_ok=True)
    for result in empty:
        print(f"{result.output}:", file=sys.stderr)
        print(result.tally.report(), file=sys.stderr)
        print(f"error: nothing to write to {result.output}: {nothing_to_write_hint(result.tally)}", file=sys.stderr)
    if len(results) > len(empty):
        print("error: no output was written", file=sys.stderr)
    return 1


class BadOutput(ValueError):
    """An output a format cannot be written as (its suffix), or options it cannot take."""


def format_output(target: str, algorithm_name: str, path: str, options, extra: dict | None = None,
                  named: str | None = None):
    """The {class}`~reference_impl.pipeline.Output` that writes one format to ``path``.

    ``named`` is how an error message names the path (default: the path itself).

    Raises:
        BadOutput: the format is not written with this suffix.

    >>> from reference_impl.formats import ConvertOptions
    >>> format_output("verl", "grpo", "prompts.parquet", ConvertOptions()).description["source"][:10]
    'verl 0.9.1'
    >>> format_output("trl", "sft", "sft.parquet", ConvertOptions())
    Traceback (most recent call last):
    ...
    reference_impl.cli.BadOutput: trl sft is written as .jsonl (parquet keeps one schema per file, and would null-fill the tool calls and fields that differ between rows); sft.parquet ends in .parquet
    """
    from functools import partial

    from .formats import format_step, get_algorithm
    from .io import open_writer
    from .pipeline import Output

    algorithm = get_algorithm(target, algorithm_name)
    suffix = Path(path).suffix
    if suffix not in algorithm.suffixes:
        why = "" if ".parquet" in algorithm.suffixes else (
            " (parquet keeps one schema per file, and would null-fill the tool calls and fields that differ between rows)")
        raise BadOutput(f"{target} {algorithm_name} is written as {' or '.join(algorithm.suffixes)}{why}; "
                        f"{named or path} ends in {suffix or 'nothing'}")
    schema = algorithm.parquet_schema() if algorithm.parquet_schema and suffix == ".parquet" else None
    description = {"target": target, "algorithm": algorithm_name, "source": algorithm.source, **(extra or {})}
    return Output(Path(path), partial(format_step, target, algorithm_name, options), partial(open_writer, schema=schema),
                  description, algorithm.row_number)


@reports_internal_errors
def prepare_main(target: str, argv: Sequence[str] | None = None) -> int:
    """The whole of ``prepare_for_<target>.py``: parse, convert, write, report.

    Returns:
        0 on success, 1 on bad input or a bad argument (the process's exit status).
    """
    quiet_broken_pipe()
    from .formats.custom import MappingError

    parser = prepare_parser(target)
    args = parser.parse_args(argv)
    options, extra = options_from_args(args), None
    if getattr(args, "retokenize", False) and not args.tokenizer:
        parser.error("--retokenize needs --tokenizer (whose chat template renders the rollouts without ids)")
    if getattr(args, "tokenizer", None):
        from .formats.tokens import ALGORITHM, with_tokenizer

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


def prepare_many_parser() -> argparse.ArgumentParser:
    """The parser of ``prepare.py``: several formats from one read, with the record filters."""
    from .formats import TARGETS

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
    from .formats import TARGETS, UnknownFormat

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

    from .filters import record_drop_reason
    from .formats import UnknownFormat

    parser = prepare_many_parser()
    args = parser.parse_args(argv)
    if args.engine == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            return fail(NEEDS_RAY)
    try:
        filters = _filter_options(parser, args)
    except ImportError:
        return fail(NEEDS_TRANSFORMERS)
    except (OSError, ValueError) as exc:  # a tokenizer that cannot be loaded
        return fail(f"cannot load the tokenizer {args.tokenizer!r}: {exc}")
    options = options_from_args(args)
    given = {k: v for k, v in _filters_given(args).items()
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


def add_record_filter_arguments(parser: argparse.ArgumentParser, reward_component: bool = True) -> None:
    """The record filters (reward range, masked records, length): one record at a time, one pass.

    ``reward_component=False`` leaves out ``--reward-component``, for a parser that has it already.
    """
    group = parser.add_argument_group("reward")
    group.add_argument(*flag("min-reward"), dest="min_reward", type=float, help="keep rewards >= this")
    group.add_argument(*flag("max-reward"), dest="max_reward", type=float, help="keep rewards <= this")
    if reward_component:
        group.add_argument(*flag("reward-component"), dest="reward_component",
                           help="read the reward from this reward_components key (for the range, --top-k and "
                                "--drop-uniform-groups)")
    group.add_argument(*flag("keep-masked"), dest="keep_masked", action="store_true",
                       help="keep masked (mask_sample) and failed (_ng_failure_class) records; dropped by default, "
                            "as the trainers and the prepare scripts drop them")
    group = parser.add_argument_group("length")
    group.add_argument(*flag("max-turns"), dest="max_turns", type=int,
                       help="drop trajectories with more assistant turns")
    group.add_argument(*flag("max-chars"), dest="max_chars", type=int,
                       help="drop conversations (prompt and trajectory) with more characters of text")
    group.add_argument(*flag("max-tokens"), dest="max_tokens", type=int,
                       help="drop conversations with more tokens, rendered with the tokenizer's chat template "
                            "(needs --tokenizer)")
    group.add_argument("--tokenizer", help="a Hugging Face tokenizer (hub id or local folder) for --max-tokens")


def _filter_options(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """Check the filter arguments against each other and build the options (loading a tokenizer if asked).

    A parser without the group filters (``--top-k``...) leaves them off."""
    from .filters import FilterOptions, tokenizer_counter

    top_k = getattr(args, "top_k", None)
    if args.max_tokens is not None and not args.tokenizer:
        parser.error("--max-tokens needs --tokenizer")
    if args.tokenizer and args.max_tokens is None:
        parser.error("--tokenizer is only used with --max-tokens")
    for name, value in (("top_k", top_k), ("max_turns", args.max_turns), ("max_chars", args.max_chars),
                        ("max_tokens", args.max_tokens)):
        if value is not None and value < (1 if name == "top_k" else 0):
            parser.error(f"--{name.replace('_', '-')} must be at least {1 if name == 'top_k' else 0}")
    if args.min_reward is not None and args.max_reward is not None and args.min_reward > args.max_reward:
        parser.error(f"--min-reward {args.min_reward:g} is above --max-reward {args.max_reward:g}: nothing would be kept")
    return FilterOptions(
        min_reward=args.min_reward, max_reward=args.max_reward, reward_component=args.reward_component,
        keep_masked=args.keep_masked, top_k=top_k, drop_uniform_groups=getattr(args, "drop_uniform_groups", False),
        dedupe=getattr(args, "dedupe", False), max_turns=args.max_turns, max_chars=args.max_chars,
        max_tokens=args.max_tokens,
        count_tokens=tokenizer_counter(args.tokenizer) if args.max_tokens is not None else None,
    )


def _filters_given(args: argparse.Namespace) -> dict:
    """The filter and option arguments a run was given, for its manifest."""
    return {k: v for k, v in vars(args).items()
            if k not in ("input", "output", "to", "progress", "skip_invalid") and v not in (None, False)}


@reports_internal_errors
def filter_main(argv: Sequence[str] | None = None) -> int:
    """The whole of ``filter_rollouts.py``: parse, filter, copy the kept lines, report.

    Returns:
        0 on success, 1 on bad input (the process's exit status); 2 for bad arguments.
    """
    quiet_broken_pipe()
    from functools import partial

    from .filters import InputChanged, RawLineWriter, filter_step
    from .pipeline import Output

    parser = filter_parser()
    args = parser.parse_args(argv)
    if Path(args.output).suffix != ".jsonl":
        parser.error(f"filter_rollouts.py copies rollout lines as they are: --output must end in .jsonl, not "
                     f"{Path(args.output).suffix or 'nothing'}")
    try:
        options = _filter_options(parser, args)
    except ImportError:
        return fail(NEEDS_TRANSFORMERS)
    except (OSError, ValueError) as exc:  # a tokenizer that cannot be loaded
        return fail(f"cannot load the tokenizer {args.tokenizer!r}: {exc}")
    description = {"script": "filter_rollouts.py", "filters": _filters_given(args),
                   "order": "record filters (masked, reward, length), then --dedupe, --drop-uniform-groups, --top-k"}
    try:
        output = Output(Path(args.output), partial(filter_step, options), RawLineWriter, description)
        return run_and_report(args.input, [output], args)
    except InputChanged as exc:
        return fail(str(exc))


def validate_parser() -> argparse.ArgumentParser:
    """The parser of ``validate_training_data.py``."""
    from .validate import SPECS

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
    from .io import same_file, write_json
    from .validate import SPECS, validate_file

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

    from .io import JsonlWriter, same_file, sha256_of, write_json
    from .pipeline import InvalidInput, worker_count, execute, sidecar_path
    from .stats import StatsStep, draw_plots, report_table, task_table

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
    report = stats.as_dict()
    print(report_table(report))
    if args.per_task:
        print(task_table(report))
    plots = draw_plots(stats, args.plots, args.plot_format) if args.plots else []
    for path in plots:
        print(f"plot: {path}")
    if wrote_rejects:
        print(f"rejected lines, with their reasons: {wrote_rejects}")
    if args.report:
        write_json(args.report, report)
        manifest = sidecar_path(args.report, "manifest")
        write_json(manifest, {
            "inputs": [{"path": str(p), "sha256": sha256_of(p)} for p in args.input],
            "output": {"path": str(args.report), "sha256": sha256_of(args.report)},
            "plots": [{"path": str(p), "sha256": sha256_of(p)} for p in plots],
            "rejects": str(wrote_rejects) if wrote_rejects else None,
            "counts": tally.as_dict(),
            "run": {"script": "rollout_stats.py", "pass_threshold": args.threshold,
                    "reward_component": args.reward_component},
            "seconds": round(time.perf_counter() - started, 3),
        })
        print(f"report: {args.report}")
        print(f"manifest: {manifest}")
    return 0
