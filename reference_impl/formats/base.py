"""What a format is: its options, its row shapes, and how its rows are made from records.

The framework modules (``trl``, ``nemo_rl``, ``verl``, ``openrlhf``, ``custom``) build their
{class}`Algorithm` entries from the pieces here; {mod}`reference_impl.formats` gathers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from ..messages import MessageOptions
from ..rollouts import Rollout
from ..tally import Skip, Tally

__all__ = ["Algorithm", "ConvertOptions", "RowSpec", "checked", "INVALID_ROW", "Converter", "rows_from",
           "trainable", "per_record", "per_task"]


Converter = Callable[[Iterable[Rollout], Tally], Iterator[dict]]
"""A converter takes rollouts and the run's tally and yields output rows.

It counts what it does with every record: ``tally.used += n`` for records that go into a
row, ``tally.skip(reason)`` for the others."""


@dataclass(frozen=True)
class ConvertOptions:
    """Options shared by the format writers; each uses the ones that apply to it.

    Attributes:
        messages: how to render trajectories as chat messages.
        reward_component: read the reward from this ``reward_components`` key.
        kto_threshold: a rollout whose reward is at least this is "desirable" (KTO labels).
        min_margin: the smallest reward gap that makes a preference pair (exclusive).
        task_fields: the record fields that describe the task (``expected_answer``...);
            ``None`` picks the known ones present in each record.
        ground_truth_field: the field that holds the answer a reward function checks;
            ``None`` takes the first present of {data}`~reference_impl.rollouts.GROUND_TRUTH_FIELDS`.
        agent_name: the NeMo Gym agent for NeMo RL GRPO rows without ``agent_ref``.
        data_source: VeRL ``data_source`` / OpenRLHF ``datasource``; ``None`` derives it.
        ability: VeRL's ``ability`` tag.
        split: the split name written into VeRL's ``extra_info``.
        prompt_completion: write TRL SFT as ``prompt``/``completion`` instead of ``messages``.
        mapping: the custom target's columns, ``{column: source}`` (see {mod}`reference_impl.formats.custom`).
        keep_imageless: keep records whose prompt has images (or audio, files), written without
            them; by default they are skipped, since the text is not the prompt the model saw.
    """

    messages: MessageOptions = field(default_factory=MessageOptions)
    reward_component: str | None = None
    kto_threshold: float = 0.5
    min_margin: float = 0.0
    task_fields: tuple[str, ...] | None = None
    ground_truth_field: str | None = None
    agent_name: str | None = None
    data_source: str | None = None
    ability: str = "nemo_gym"
    split: str = "train"
    prompt_completion: bool = False
    mapping: dict | None = None
    keep_imageless: bool = False


@dataclass(frozen=True)
class RowSpec:
    """What one row of a format holds, declared beside its writer and checked by
    {mod}`reference_impl.validate` (``validate_training_data.py``).

    It is plain data, so the writer and the validator read the same declaration; a test
    runs every writer and checks that its rows have exactly the declared fields.

    Attributes:
        fields: dotted field name -> kind (a key of ``reference_impl.validate.KINDS``:
            ``str``, ``messages``, ``sft_messages``, ...). A kind ending in ``?`` is optional:
            the field may be absent or null.
        rules: row rules by name (keys of ``reference_impl.validate.RULES``), such as
            ``chosen_differs_from_rejected``.
        unique: a dotted field whose value must not repeat within a file.
        open: other top-level columns are allowed (task fields handed to reward functions).

    >>> spec = RowSpec({"messages": "sft_messages", "tools": "json_list?"})
    >>> spec.required, spec.optional
    ({'messages': 'sft_messages'}, {'tools': 'json_list'})
    """

    fields: dict[str, str]
    rules: tuple[str, ...] = ()
    unique: str | None = None
    open: bool = False

    @property
    def required(self) -> dict[str, str]:
        return {name: kind for name, kind in self.fields.items() if not kind.endswith("?")}

    @property
    def optional(self) -> dict[str, str]:
        return {name: kind[:-1] for name, kind in self.fields.items() if kind.endswith("?")}


@dataclass(frozen=True)
class Algorithm:
    """One framework's format for one algorithm.

    Attributes:
        target: the framework (``trl``, ``verl``...).
        name: the algorithm (``sft``, ``dpo``, ``grpo``...).
        build: ``build(options)`` returns the {data}`Converter`.
        suffixes: the output suffixes its loader reads; the first is the default.
        summary: one line for ``--help`` and the docs.
        source: the loader this format was read from (file and version).
        parquet_schema: a function returning the ``pyarrow`` schema of the parquet file,
            for formats whose rows must share one schema; ``None`` infers it.
        row_specs: the shapes a row may take ({class}`RowSpec`; the first is what the
            writer writes by default); empty when the columns are the user's (custom).
        unit: what each row comes from: ``"record"`` (one record alone: SFT, KTO), ``"task"``
            (the first rollout of a task, without its trajectory: prompts) or ``"stream"``
            (preference pairs); the first two let a large input be read in byte ranges on
            several cores (see {func}`reference_impl.pipeline.run_many`).
    """

    target: str
    name: str
    build: Callable[[ConvertOptions], Converter]
    suffixes: tuple[str, ...]
    summary: str
    source: str
    parquet_schema: Callable[[], Any] | None = None
    row_specs: tuple[RowSpec, ...] = ()
    unit: str = "stream"

    def converter(self, options: ConvertOptions = ConvertOptions()) -> Converter:
        """The converter for these options; it writes only rows that pass {attr}`row_specs`
        (see {func}`checked`)."""
        return checked(self.build(options), self.row_specs, 2 if self.unit == "stream" else 1)


INVALID_ROW = "its row would not pass validation: "
"""The start of the skip reason of a record whose row breaks its format's {class}`RowSpec`."""


def checked(convert: Converter, specs: tuple[RowSpec, ...], records_per_row: int = 1) -> Converter:
    """A converter that writes only the rows ``validate_training_data.py`` accepts.

    A row that breaks its format's specification (an empty assistant turn, a tool call left
    unanswered, chosen equal to rejected...) is not written: the records it was made from
    are counted as skipped, with the problem as the reason. So every file a writer makes
    passes validation.

    Args:
        convert: the format's converter.
        specs: its row shapes; empty checks nothing.
        records_per_row: how many records one row uses (2 for a preference pair).

    >>> from reference_impl.formats.trl import SFT_ROWS
    >>> rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
    ...         {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]}]
    >>> def convert(rollouts, tally):
    ...     tally.used += 2
    ...     yield from rows
    >>> t = Tally()
    >>> len(list(checked(convert, SFT_ROWS)([], t))), t.used, dict(t.skipped)
    (1, 1, {'its row would not pass validation: messages: message N: an empty assistant turn': 1})
    """
    if not specs:
        return convert
    from ..rows import problem_kind, row_problem

    def converter(rollouts, tally: Tally) -> Iterator[dict]:
        for row in convert(rollouts, tally):
            problem = row_problem(row, specs)
            if problem is None:
                yield row
                continue
            tally.used -= records_per_row
            tally.skip(INVALID_ROW + problem_kind(problem), records_per_row)

    return converter


def rows_from(rollouts: Iterable, to_row: Callable[[dict, Tally], dict], tally: Tally) -> Iterator[dict]:
    """Apply a function of one record to each rollout, counting each as used or skipped.

    The function returns the row, or raises {class}`~reference_impl.tally.Skip` with
    the reason, which is counted.
    """
    for rollout in rollouts:
        try:
            row = to_row(rollout.record, tally)
        except Skip as skip:
            tally.skip(skip.reason)
            continue
        tally.used += 1
        yield row


def trainable(rollouts: Iterable, tally: Tally) -> Iterator:
    """The rollouts that can become training data; the others are counted with their
    {func}`~reference_impl.rollouts.skip_reason`."""
    from ..rollouts import skip_reason

    for rollout in rollouts:
        reason = skip_reason(rollout.record)
        if reason is None:
            yield rollout
        else:
            tally.skip(reason)


def per_record(to_row: Callable[[dict, Tally], dict]) -> Converter:
    """A converter that writes one row per trainable rollout (SFT, KTO)."""
    return lambda rollouts, tally: rows_from(trainable(rollouts, tally), to_row, tally)


def per_task(to_row: Callable[[dict, Tally], dict]) -> Converter:
    """A converter that writes one row per task (its prompt), from the task's first rollout.

    Prompt datasets (GRPO, PPO) need each task once; a rollout needs no ``response`` or
    ``reward`` to give its task's prompt, and ``to_row`` must not read them: a run in byte
    ranges hands it the first rollouts of its tasks without their trajectories (formats
    built with this declare ``unit="task"``).
    """
    from ..pairs import first_per_task

    return lambda rollouts, tally: rows_from(first_per_task(rollouts, tally), to_row, tally)
