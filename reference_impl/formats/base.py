"""What a format is: its options, its row shapes, and how its rows are made from records.

The framework modules (``trl``, ``nemo_rl``, ``verl``, ``openrlhf``, ``custom``) build their
{class}`Algorithm` entries from the pieces here; {mod}`reference_impl.formats` gathers them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator

from ..messages import MessageOptions
from ..rows import problem_kind, row_problem
from ..rollouts import Rollout, group_key, skip_reason
from ..step import Step, pulled
from ..tally import Skip, Tally

__all__ = ["Algorithm", "ConvertOptions", "RowSpec", "INVALID_ROW", "Converter", "FormatStep", "PerRecord", "PerTask",
           "per_record", "per_task", "FormatConverter", "number_row", "rows_from", "trainable",
           "ANOTHER_ROLLOUT"]


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
            ``None`` picks the known ones present in each record (NeMo RL GRPO: every field
            but the rollout's own, see {func}`~reference_impl.rollouts.task_row`).
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
        vocab_size: token-exact formats (``sft-tokens``) skip a rollout with an id not below
            this (the tokenizer's ``len``); ``None`` checks nothing.
        retokenize: token-exact formats: a tokenizer whose chat template renders the rollouts
            that carry no token ids (``token_source: chat_template``, counted apart);
            ``None`` skips them.
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
    vocab_size: int | None = None
    retokenize: Any = None


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

    @cached_property  # every row written is checked against it
    def required(self) -> dict[str, str]:
        return {name: kind for name, kind in self.fields.items() if not kind.endswith("?")}

    @cached_property
    def optional(self) -> dict[str, str]:
        return {name: kind[:-1] for name, kind in self.fields.items() if kind.endswith("?")}


@dataclass(frozen=True)
class Algorithm:
    """One framework's format for one algorithm: plain data.

    Attributes:
        target: the framework (``trl``, ``verl``...).
        name: the algorithm (``sft``, ``dpo``, ``grpo``...).
        build: ``build(options)`` returns the {class}`FormatStep` that makes its rows:
            {func}`per_record`, {func}`per_task` or
            {func}`~reference_impl.formats.common.pairs_converter` of a row function.
        suffixes: the output suffixes its loader reads; the first is the default.
        summary: one line for ``--help`` and the docs.
        source: the loader this format was read from (file and version).
        parquet_schema: a function returning the ``pyarrow`` schema of the parquet file,
            for formats whose rows must share one schema; ``None`` infers it.
        row_specs: the shapes a row may take ({class}`RowSpec`; the first is what the
            writer writes by default); empty when the columns are the user's (custom).
        unit: kept for older callers; the step's own ``shape`` says how its rows come from
            the records.
        row_number: a dotted field that the writer sets to the row's number in the file
            (VeRL's ``extra_info.index``), so that the same records give the same rows.
    """

    target: str
    name: str
    build: Callable[[ConvertOptions], Any]
    suffixes: tuple[str, ...]
    summary: str
    source: str
    parquet_schema: Callable[[], Any] | None = None
    row_specs: tuple[RowSpec, ...] = ()
    unit: str = "stream"
    row_number: str | None = None

    def step(self, options: ConvertOptions = ConvertOptions()):
        """The step that makes this format's rows for these options, checking each against
        {attr}`row_specs` (a row that would not pass validation is skipped, with the problem
        as the reason). A format whose ``build`` gives a plain converter function gives it."""
        made = self.build(options)
        if isinstance(made, FormatStep):
            made.specs = self.row_specs
        return made

    def converter(self, options: ConvertOptions = ConvertOptions()) -> Converter:
        """The format as a pull-style {data}`Converter` (for {func}`reference_impl.pipeline.run`)."""
        return FormatConverter(self, options)


INVALID_ROW = "its row would not pass validation: "
"""The start of the skip reason of a record whose row breaks its format's {class}`RowSpec`."""


def number_row(row: dict, dotted: str, number: int) -> dict:
    """Set a row's number in its file at a dotted field (the writer numbers rows in file order).

    >>> number_row({"extra_info": {"index": None, "split": "train"}}, "extra_info.index", 7)
    {'extra_info': {'index': 7, 'split': 'train'}}
    """
    *path, last = dotted.split(".")
    inner = row
    for key in path:
        inner = inner[key]
    inner[last] = number
    return row


class FormatStep(Step):
    """A format's rows, push-style: rows that pass the format's {class}`RowSpec` are emitted,
    the records of the others are counted as skipped, with the problem.

    >>> from reference_impl.formats.trl import SFT_ROWS
    >>> step = per_record(lambda record, tally: {"messages": record["messages"]})
    >>> step.specs = SFT_ROWS
    >>> rows = []
    >>> t = Tally()
    >>> for text in ("a", " "):
    ...     step.start(t, rows.append).push(Rollout("x", 1, {"reward": 1.0, "response": {"output": [{}]},
    ...         "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}]}))
    >>> len(rows), t.used, dict(t.skipped)
    (1, 1, {'its row would not pass validation: messages: message N: an empty assistant turn': 1})
    """

    specs: tuple[RowSpec, ...] = ()
    records_per_row = 1

    def passes(self, row: dict, tally: Tally | None = None) -> bool:
        """Whether the row passes validation; if not, its records are counted as skipped (in
        ``tally``, the step's own by default).

        Records reach a step parsed by ``orjson``, which refuses NaN and infinity, so the
        check does not walk every value of the row for them (``parsed_input``)."""
        if self.specs:
            problem = row_problem(row, self.specs, parsed_input=True)
            if problem is not None:
                tally = self.tally if tally is None else tally
                tally.used -= self.records_per_row
                tally.skip(INVALID_ROW + problem_kind(problem), self.records_per_row)
                return False
        return True

    def write(self, row: dict) -> None:
        if self.passes(row):
            self.emit(row)

    def row_of(self, record: dict, tally: Tally) -> dict | None:
        """A record's row made with ``to_row`` if it passes, else ``None``; what happened is
        counted in ``tally`` (used, or skipped with the reason)."""
        try:
            row = self.to_row(record, tally)
        except Skip as skip:
            tally.skip(skip.reason)
            return None
        tally.used += 1
        return row if self.passes(row, tally) else None

    def make_row(self, record: dict) -> None:
        """Make a record's row and write it, or count why not (see {meth}`row_of`)."""
        row = self.row_of(record, self.tally)
        if row is not None:
            self.emit(row)


class PerRecord(FormatStep):
    """One row per trainable rollout (SFT, KTO), made by ``to_row(record, tally)``."""

    shape = "record"

    def __init__(self, to_row: Callable[[dict, Tally], dict]):
        self.to_row = to_row

    def push(self, rollout: Rollout) -> None:
        reason = skip_reason(rollout.record)
        if reason is not None:
            self.tally.skip(reason)
            return
        self.make_row(rollout.record)


ANOTHER_ROLLOUT = "another rollout of a task already written"
"""The skip reason of a task's later rollouts, where only its first gives a row."""


class PerTask(FormatStep):
    """One row per task (its prompt), made by ``to_row(record, tally)`` from the task's first
    rollout ({func}`~reference_impl.rollouts.group_key`); the others are skipped.

    Prompt datasets (GRPO, PPO) need each task once. When a large input is read in byte
    ranges, each range's step is ``in_range``: it makes the row of the first rollout of each
    task of its range, and passes on ``[line, task key, row or None, what making it counted]``
    instead of the row; the step of the whole run takes those in file order ({meth}`take`),
    keeping each task's first.

    >>> from reference_impl.formats.trl import grpo_row
    >>> def record(task, text):
    ...     return {"_ng_task_index": task, "responses_create_params": {"input": text}, "expected_answer": "4"}
    >>> ranges = [PerTask(lambda r, t: grpo_row(r, ConvertOptions(), t)) for _ in range(2)]
    >>> parts = [[], []]
    >>> for step, part, rollouts in zip(ranges, parts, [[(1, record(0, "2+2?")), (2, record(1, "3+1?"))],
    ...                                                   [(3, record(1, "3+1?")), (4, record(2, "1+3?"))]]):
    ...     step.in_range = True
    ...     step = step.start(Tally(), part.append)
    ...     for line, rec in rollouts:
    ...         step.push(Rollout("x.jsonl", line, rec))
    >>> whole, rows = PerTask(None), []
    >>> whole = whole.start(Tally(), rows.append)
    >>> for part in parts:
    ...     for entry in part:
    ...         whole.take("x.jsonl", entry)
    >>> [row["prompt"][0]["content"] for row in rows], whole.tally.used, dict(whole.tally.skipped)
    (['2+2?', '3+1?', '1+3?'], 3, {'another rollout of a task already written': 1})
    """

    shape = "task"
    in_range = False

    def __init__(self, to_row: Callable[[dict, Tally], dict]):
        self.to_row = to_row
        self.seen: set[tuple[str, str]] = set()

    def push(self, rollout: Rollout) -> None:
        key = group_key(rollout)
        if key in self.seen:
            self.tally.skip(ANOTHER_ROLLOUT)
            return
        self.seen.add(key)
        if not self.in_range:
            self.make_row(rollout.record)
            return
        counts = Tally()
        row = self.row_of(rollout.record, counts)
        self.emit([rollout.line, key[1], row, counts.used, counts.skipped, counts.dropped, counts.flagged])

    def take(self, path: str, entry: list) -> None:
        """A byte range's first rollout of a task (see ``in_range``): counted, and its row
        written, if it is the first of its task in the whole input; else skipped."""
        _, task, row, used, skipped, dropped, flagged = entry
        key = (path, task)
        if key in self.seen:
            self.tally.skip(ANOTHER_ROLLOUT)
            return
        self.seen.add(key)
        self.tally.merge(Tally(used=used, skipped=Counter(skipped), dropped=Counter(dropped), flagged=Counter(flagged)))
        if row is not None:
            self.emit(row)


def per_record(to_row: Callable[[dict, Tally], dict]) -> PerRecord:
    """A format that writes one row per trainable rollout (SFT, KTO)."""
    return PerRecord(to_row)


def per_task(to_row: Callable[[dict, Tally], dict]) -> PerTask:
    """A format that writes one row per task, from the task's first rollout (GRPO, PPO prompts)."""
    return PerTask(to_row)


@dataclass(frozen=True)
class FormatConverter:
    """A format as a pull-style {data}`Converter`: ``convert(rollouts, tally)`` yields its
    rows (numbered, if the format numbers them); {func}`reference_impl.pipeline.run` runs
    its {meth}`~reference_impl.formats.base.FormatConverter.step` instead."""

    algorithm: Algorithm
    options: ConvertOptions

    def step(self):
        return self.algorithm.step(self.options)

    def __call__(self, rollouts: Iterable[Rollout], tally: Tally) -> Iterator[dict]:
        made = self.step()
        rows = pulled(lambda: made)(rollouts, tally) if isinstance(made, Step) else made(rollouts, tally)
        dotted = self.algorithm.row_number
        for number, row in enumerate(rows):
            yield number_row(row, dotted, number) if dotted else row


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
    for rollout in rollouts:
        reason = skip_reason(rollout.record)
        if reason is None:
            yield rollout
        else:
            tally.skip(reason)
