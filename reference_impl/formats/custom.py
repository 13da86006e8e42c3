"""Custom frameworks: any JSONL or parquet layout, described by a field mapping.

A mapping names each output column and where its value comes from::

    fields:
      prompt: prompt_messages        # the prompt as chat messages
      completion: trajectory_messages
      score: reward
      answer: field:expected_answer  # any top-level field of the record

The sources are listed in {data}`SOURCES`. This is the field-mapping table
of the guide made executable: ``responses_create_params.input`` is the prompt, ``response.output`` the
trajectory, ``reward`` the verifier's score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..tally import Skip, Tally
from ..rollouts import reward_of, task_key
from .base import Algorithm, ConvertOptions, per_record
from .common import conversation, sft_messages

TARGET = "custom"
SOURCE = "your framework's loader: describe its columns in a mapping file"


def _last_text(messages: list[dict], role: str) -> str:
    return next((m.get("content") or "" for m in reversed(messages) if m["role"] == role), "")


SOURCES: dict[str, Callable[[dict, ConvertOptions, Tally], Any]] = {
    "prompt_messages": lambda r, o, t: conversation(r, o, t)[0],
    "trajectory_messages": lambda r, o, t: conversation(r, o, t)[1],
    "messages": lambda r, o, t: sft_messages(*conversation(r, o, t)[:2], t),
    "tools": lambda r, o, t: conversation(r, o, t)[2],
    "prompt_text": lambda r, o, t: _last_text(conversation(r, o, t)[0], "user"),
    "completion_text": lambda r, o, t: _last_text(conversation(r, o, t)[1], "assistant"),
    "reward": lambda r, o, t: reward_of(r),
    "task": lambda r, o, t: task_key(r),
    "rollout_index": lambda r, o, t: r.get("_ng_rollout_index"),
}
"""The values a mapping can take, besides ``field:<name>`` (a top-level field) and
``reward_component:<name>`` (a ``reward_components`` key)."""

SOURCE_HELP = {
    "prompt_messages": "the prompt (responses_create_params.input) as chat messages",
    "trajectory_messages": "the trajectory (response.output) as chat messages",
    "messages": "prompt and trajectory, ending with the last assistant turn",
    "tools": "the tool schemas, in chat-completions form",
    "prompt_text": "the text of the last user message of the prompt",
    "completion_text": "the text of the last assistant message",
    "reward": "the verifier's reward",
    "task": "the task key (_ng_task_index, or a hash of the prompt)",
    "rollout_index": "_ng_rollout_index",
}
"""One line for each of {data}`SOURCES`, for help texts and the docs."""


class MappingError(ValueError):
    """A mapping file that cannot be used; the message says which key and why."""


def parse_mapping(mapping: dict) -> dict[str, str]:
    """Check a mapping (the parsed YAML) and return its ``fields``.

    >>> parse_mapping({"fields": {"prompt": "prompt_text", "answer": "field:expected_answer"}})
    {'prompt': 'prompt_text', 'answer': 'field:expected_answer'}
    >>> parse_mapping({"fields": {"prompt": "input"}})
    Traceback (most recent call last):
    ...
    reference_impl.formats.custom.MappingError: fields.prompt: unknown source 'input'; use one of completion_text, messages, prompt_messages, prompt_text, reward, rollout_index, task, tools, trajectory_messages, field:<name>, reward_component:<name>
    """
    if not isinstance(mapping, dict) or not isinstance(mapping.get("fields"), dict) or not mapping["fields"]:
        raise MappingError("the mapping needs a 'fields' table: output column -> source")
    fields = {}
    for column, source in mapping["fields"].items():
        if not isinstance(source, str):
            raise MappingError(f"fields.{column}: the source must be a string, not {source!r}")
        if source not in SOURCES and not source.startswith(("field:", "reward_component:")):
            known = ", ".join(sorted(SOURCES))
            raise MappingError(
                f"fields.{column}: unknown source {source!r}; use one of {known}, field:<name>, reward_component:<name>"
            )
        fields[str(column)] = source
    return fields


def load_mapping(path: str | Path) -> dict[str, str]:
    """Read and check a mapping YAML file."""
    import yaml

    try:
        mapping = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML ({exc})") from None
    try:
        return parse_mapping(mapping)
    except MappingError as exc:
        raise MappingError(f"{path}: {exc}") from None


def mapped_row(record: dict, fields: dict[str, str], options: ConvertOptions, tally: Tally) -> dict:
    """One record through a mapping.

    >>> rec = {"responses_create_params": {"input": "2+2?"}, "reward": 1.0, "expected_answer": "4",
    ...        "response": {"output": [{"type": "message", "role": "assistant", "content": "4"}]}}
    >>> mapped_row(rec, {"question": "prompt_text", "answer": "completion_text", "score": "reward",
    ...                  "truth": "field:expected_answer"}, ConvertOptions(), Tally())
    {'question': '2+2?', 'answer': '4', 'score': 1.0, 'truth': '4'}
    """
    row = {}
    for column, source in fields.items():
        if source.startswith("field:"):
            row[column] = record.get(source[6:])
        elif source.startswith("reward_component:"):
            value = reward_of(record, source[17:])
            if value is None:
                raise Skip(f"no reward component {source[17:]!r}")
            row[column] = value
        else:
            row[column] = SOURCES[source](record, options, tally)
    return row


def mapping_converter(options: ConvertOptions):
    """The converter for ``options.mapping``."""
    if not options.mapping:
        raise MappingError("the custom target needs a mapping (prepare_custom.py --mapping mapping.yaml)")
    fields = parse_mapping({"fields": options.mapping})
    return per_record(lambda r, t: mapped_row(r, fields, options, t))


ALGORITHMS = {
    "mapping": Algorithm(
        TARGET, "mapping", mapping_converter, (".jsonl", ".parquet"),
        "any columns, from a mapping file (prepare_custom.py --mapping)", SOURCE, unit="record",
    ),
}
