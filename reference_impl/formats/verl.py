"""VeRL 0.9.1: RL prompt parquet for ``RLHFDataset`` and SFT parquet for ``MultiTurnSFTDataset``.

Read from the ``verl`` 0.9.1 wheel:

* ``verl/utils/dataset/rl_dataset.py`` (``RLHFDataset``): ``.parquet`` (or ``.json``/``.jsonl``)
  rows with ``prompt`` as a list of chat messages (``data.prompt_key``), ``data_source``
  (``data.reward_fn_key``), ``reward_model.ground_truth`` (read by the reward managers in
  ``verl/experimental/reward_loop/reward_manager/naive.py``) and ``extra_info.index``;
  ``examples/data_preprocess/gsm8k.py`` is the canonical writer;
* ``verl/utils/dataset/multiturn_sft_dataset.py`` (``MultiTurnSFTDataset``): parquet read with
  ``pd.read_parquet``; ``messages`` and ``tools`` go to ``apply_chat_template`` as they are.

Parquet has one schema per file, so rows with different tool schemas or tool-call
arguments would be null-filled into one struct. The SFT writer therefore stores ``tools``
and tool-call ``arguments`` as JSON strings, and
{mod}`reference_impl.formats.verl_sft_dataset` (set as ``data.custom_cls``) decodes them
before VeRL renders the conversation.
"""

from __future__ import annotations

import orjson

from ..tally import Skip, Tally
from ..rollouts import task_key
from .base import Algorithm, ConvertOptions, RowSpec, per_record, per_task
from .common import conversation, ground_truth_of, plain_messages, prompt_conversation, sft_messages

TARGET = "verl"
SOURCE = "verl 0.9.1: verl/utils/dataset/rl_dataset.py, verl/utils/dataset/multiturn_sft_dataset.py"


def data_source_of(record: dict, options: ConvertOptions) -> str:
    """VeRL's ``data_source``: the option, or ``nemo_gym/<agent name>``.

    >>> data_source_of({"agent_ref": {"name": "math_with_judge_simple_agent"}}, ConvertOptions())
    'nemo_gym/math_with_judge_simple_agent'
    >>> data_source_of({}, ConvertOptions(data_source="my_math"))
    'my_math'
    """
    if options.data_source:
        return options.data_source
    name = (record.get("agent_ref") or {}).get("name") or record.get("task_source") or "rollouts"
    return f"nemo_gym/{name}"


def rl_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A task as an ``RLHFDataset`` row; ``extra_info.index`` is the row's number in the file,
    set by the writer (the algorithm's ``row_number``), so the same records give the same rows.

    >>> rl_row({"responses_create_params": {"input": "2+2?"}, "expected_answer": "4", "_ng_task_index": 0},
    ...        ConvertOptions(), Tally())["extra_info"]
    {'index': 0, 'split': 'train', 'task': 'task-0/9c18c3e4c7f38119'}
    """
    prompt, _ = prompt_conversation(record, options, tally)
    return {
        "data_source": data_source_of(record, options),
        "prompt": plain_messages(prompt),
        "ability": options.ability,
        "reward_model": {"style": "rule", "ground_truth": ground_truth_of(record, options)},
        "extra_info": {"index": 0, "split": options.split, "task": task_key(record)},
    }


def rl_converter(options: ConvertOptions):
    """``RLHFDataset`` rows, one per task."""
    return per_task(lambda record, tally: rl_row(record, options, tally))


def _sft_message(message: dict) -> dict:
    """A message in the one shape every SFT parquet row shares; arguments as JSON strings."""
    calls = message.get("tool_calls")
    return {
        "role": message["role"],
        "content": message.get("content") or "",
        "reasoning_content": message.get("reasoning_content"),
        "tool_calls": [
            {
                "id": call["id"],
                "type": "function",
                "function": {
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"]
                    if isinstance(call["function"]["arguments"], str)
                    else orjson.dumps(call["function"]["arguments"]).decode(),
                },
            }
            for call in calls
        ]
        if calls
        else None,
        "tool_call_id": message.get("tool_call_id"),
        "name": message.get("name"),
    }


def sft_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A rollout as a ``MultiTurnSFTDataset`` row: ``messages`` and ``tools`` (a JSON string)."""
    prompt, trajectory, tools = conversation(record, options, tally)
    messages = sft_messages(prompt, trajectory, tally)
    return {
        "messages": [_sft_message(m) for m in messages],
        "tools": orjson.dumps(tools).decode() if tools else None,
    }


def rl_schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", pa.struct([("index", pa.int64()), ("split", pa.string()), ("task", pa.string())])),
        ]
    )


def sft_schema():
    import pyarrow as pa

    call = pa.struct(
        [
            ("id", pa.string()),
            ("type", pa.string()),
            ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())])),
        ]
    )
    message = pa.struct(
        [
            ("role", pa.string()),
            ("content", pa.string()),
            ("reasoning_content", pa.string()),
            ("tool_calls", pa.list_(call)),
            ("tool_call_id", pa.string()),
            ("name", pa.string()),
        ]
    )
    return pa.schema([("messages", pa.list_(message)), ("tools", pa.string())])


# The rows each writer above produces, checked by validate_training_data.py.
RL_ROWS = (RowSpec({"data_source": "str", "prompt": "messages", "ability": "str", "reward_model": "object",
                    "reward_model.style": "str", "reward_model.ground_truth": "str", "extra_info": "object",
                    "extra_info.index": "int", "extra_info.split": "str?", "extra_info.task": "str?"},
                   unique="extra_info.index"),)
SFT_ROWS = (RowSpec({"messages": "sft_messages", "tools": "json_list?"}),)


ALGORITHMS = {
    "grpo": Algorithm(
        TARGET, "grpo", rl_converter, (".parquet", ".jsonl"),
        "RLHFDataset prompts: data_source, prompt, ability, reward_model.ground_truth, extra_info.index", SOURCE,
        rl_schema, RL_ROWS, unit="task", row_number="extra_info.index",
    ),
    "ppo": Algorithm(
        TARGET, "ppo", rl_converter, (".parquet", ".jsonl"),
        "the same prompt parquet as grpo (PPO and GRPO differ in the trainer, not the data)", SOURCE,
        rl_schema, RL_ROWS, unit="task", row_number="extra_info.index",
    ),
    "sft": Algorithm(
        TARGET, "sft", lambda o: per_record(lambda r, t: sft_row(r, o, t)), (".parquet",),
        "MultiTurnSFTDataset parquet: messages and tools (JSON strings, decoded by our custom_cls)", SOURCE,
        sft_schema, SFT_ROWS, unit="record",
    ),
}
