"""What every script's command line shares: the flags, the bad-input policy, the report of a run, and how an
unexpected exception is reported (an internal error, never a data problem)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["flag", "add_io_arguments", "add_convert_arguments", "options_from_args", "quiet_broken_pipe",
           "NEEDS_TRANSFORMERS", "NEEDS_RAY", "INTERNAL_ERROR", "reports_internal_errors", "fail", "check_inputs",
           "report_malformed", "run_and_report", "nothing_to_write_hint", "BadOutput", "format_output",
           "add_record_filter_arguments", "filter_options_from_args", "filters_given", "checked_filter_options"]


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
                        help="comma-separated record fields to keep as task columns (default: the known ones; "
                             "NeMo RL GRPO: every field but the rollout's own)")
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
    from ..formats import ConvertOptions
    from ..messages import MessageOptions

    mapping = None
    if getattr(args, "mapping", None):
        from ..formats.custom import load_mapping

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
        from ..pipeline import InternalError

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
    from ..rollouts import RolloutError, iter_rollouts

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
    from ..io import OutputExistsAsInput
    from ..pipeline import InvalidInput, NothingToWrite, RunStopped, run_many, sidecar_path

    problem = check_inputs(inputs)
    if problem:
        return fail(problem)
    try:
        ray = getattr(args, "engine", "local") == "ray"
        results = run_many(inputs, outputs, drop_reason=drop_reason, skip_invalid=args.skip_invalid,
                           progress=args.progress, ray_address=args.ray_address if ray else False)
    except NothingToWrite as exc:
        return _nothing_to_write(exc)
    except RunStopped as exc:  # the input changed while it was read, ...: nothing was written
        return fail(str(exc))
    except InvalidInput:
        return report_malformed(inputs, "nothing was written", f"write the valid records and list the rejected ones, "
                                f"with their reasons, in {sidecar_path(outputs[0].path, 'rejects')}")
    except (OutputExistsAsInput, ValueError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write the output: {exc}")
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


def _nothing_to_write(refused) -> int:
    """Say why a run that would have written a file without rows wrote nothing
    ({class}`~reference_impl.tally.NothingToWrite`); return 1."""
    for path, tally in refused.empty:
        print(f"{path}:", file=sys.stderr)
        print(tally.report(), file=sys.stderr)
        print(f"error: nothing to write to {path}: {nothing_to_write_hint(tally)}", file=sys.stderr)
    if refused.outputs > len(refused.empty):
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
    reference_impl.commands.common.BadOutput: trl sft is written as .jsonl (parquet keeps one schema per file, and would null-fill the tool calls and fields that differ between rows); sft.parquet ends in .parquet
    """
    from functools import partial

    from ..formats import format_step, get_algorithm
    from ..io import open_writer
    from ..pipeline import Output

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


def filter_options_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """Check the filter arguments against each other and build the options (loading a tokenizer if asked).

    A parser without the group filters (``--top-k``...) leaves them off."""
    from ..filters import FilterOptions, tokenizer_counter

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


def checked_filter_options(parser: argparse.ArgumentParser, args: argparse.Namespace):
    """{func}`filter_options_from_args`, or why it cannot be had: ``(options, None)`` or
    ``(None, message)`` (transformers missing, or a tokenizer that cannot be loaded)."""
    try:
        return filter_options_from_args(parser, args), None
    except ImportError:
        return None, NEEDS_TRANSFORMERS
    except (OSError, ValueError) as exc:  # a tokenizer that cannot be loaded
        return None, f"cannot load the tokenizer {args.tokenizer!r}: {exc}"


def filters_given(args: argparse.Namespace) -> dict:
    """The filter and option arguments a run was given, for its manifest."""
    return {k: v for k, v in vars(args).items()
            if k not in ("input", "output", "to", "progress", "skip_invalid") and v not in (None, False)}
