"""TRL 1.16: SFT, DPO, KTO and GRPO datasets.

Read from the ``trl`` 1.16.0 wheel:

* ``trl/data_utils.py`` (``is_conversational``, ``apply_chat_template``): the key sets TRL
  recognises, conversational when the value is a list of ``{"role", "content"}`` dicts;
* ``trl/trainer/sft_trainer.py``: ``messages`` (or ``prompt``/``completion``), and a per-row
  ``tools`` column that may be a JSON string (``json.loads`` when it is a ``str``), which
  keeps Arrow from null-filling tool schemas that differ from row to row;
* ``trl/trainer/dpo_trainer.py``: ``prompt``/``chosen``/``rejected``;
* ``trl/trainer/kto_trainer.py``: ``prompt``/``completion``/``label`` (a boolean);
* ``trl/trainer/grpo_trainer.py``: ``prompt``, and every other column is handed to the reward
  functions as a keyword argument (``_calculate_rewards``).

All are JSON Lines that ``datasets.load_dataset("json", data_files=...)`` reads; parquet
works too.
"""

from __future__ import annotations

import orjson

from ..tally import Tally
from .base import Algorithm, ConvertOptions, RowSpec, per_record, per_task
from .common import (PairedConversation, conversation, pairs_converter, prompt_conversation, require_ground_truth,
                     reward_for, sft_messages, task_fields)

TARGET = "trl"
SOURCE = "trl 1.16.0: trl/trainer/{sft,dpo,kto,grpo}_trainer.py, trl/data_utils.py"


def tools_column(tools: list[dict]) -> str | None:
    """The ``tools`` column as TRL reads it: a JSON string (or ``None`` without tools).

    >>> tools_column([{"type": "function", "function": {"name": "f", "parameters": {}}}])
    '[{"type":"function","function":{"name":"f","parameters":{}}}]'
    >>> tools_column([]) is None
    True
    """
    return orjson.dumps(tools).decode() if tools else None


def sft_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """One rollout as a TRL SFT row: ``messages`` (or ``prompt``/``completion``) and ``tools``.

    >>> rec = {"responses_create_params": {"input": "2+2?"}, "reward": 1.0,
    ...        "response": {"output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "4"}]}]}}
    >>> sft_row(rec, ConvertOptions(), Tally())
    {'messages': [{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '4'}], 'tools': None}
    >>> sft_row(rec, ConvertOptions(prompt_completion=True), Tally())
    {'prompt': [{'role': 'user', 'content': '2+2?'}], 'completion': [{'role': 'assistant', 'content': '4'}], 'tools': None}
    """
    prompt, trajectory, tools = conversation(record, options, tally)
    messages = sft_messages(prompt, trajectory, tally)
    if options.prompt_completion:
        return {"prompt": prompt, "completion": messages[len(prompt) :], "tools": tools_column(tools)}
    return {"messages": messages, "tools": tools_column(tools)}


def kto_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """One rollout as a TRL KTO row: ``prompt``, ``completion`` and ``label`` (reward >= threshold)."""
    prompt, trajectory, tools = conversation(record, options, tally)
    messages = sft_messages(prompt, trajectory, tally)
    return {
        "prompt": prompt,
        "completion": messages[len(prompt) :],
        "label": reward_for(record, options) >= options.kto_threshold,
        "tools": tools_column(tools),
    }


def grpo_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """One task as a TRL GRPO row: the conversational ``prompt`` plus the task's fields.

    ``GRPOTrainer`` hands every column to the reward functions; a task without a ground
    truth (see {func}`~reference_impl.formats.common.require_ground_truth`) is skipped.

    >>> grpo_row({"responses_create_params": {"input": "2+2?"}, "expected_answer": "4", "extracted_answer": "5"},
    ...          ConvertOptions(), Tally())
    {'prompt': [{'role': 'user', 'content': '2+2?'}], 'expected_answer': '4'}
    """
    require_ground_truth(record, options)
    prompt, _ = prompt_conversation(record, options, tally)
    return {"prompt": prompt, **task_fields(record, options)}


def dpo_row(paired: PairedConversation) -> dict:
    """Conversational DPO: ``prompt``, ``chosen`` and ``rejected`` message lists (best vs worst rollout of a task)."""
    return {"prompt": paired.prompt, "chosen": paired.chosen, "rejected": paired.rejected,
            "tools": tools_column(paired.tools)}


# The rows each writer above produces, checked by validate_training_data.py.
SFT_ROWS = (RowSpec({"messages": "sft_messages", "tools": "json_list?"}),
            RowSpec({"prompt": "messages", "completion": "completion", "tools": "json_list?"}))
DPO_ROWS = (RowSpec({"prompt": "messages", "chosen": "completion", "rejected": "completion", "tools": "json_list?"},
                    rules=("chosen_differs_from_rejected",)),)
KTO_ROWS = (RowSpec({"prompt": "messages", "completion": "completion", "label": "bool", "tools": "json_list?"}),)
GRPO_ROWS = (RowSpec({"prompt": "messages"}, open=True),)


ALGORITHMS = {
    "sft": Algorithm(
        TARGET, "sft", lambda o: per_record(lambda r, t: sft_row(r, o, t)), (".jsonl",),
        "conversational messages (+ tools as a JSON string) for SFTTrainer", SOURCE, row_specs=SFT_ROWS, unit="record",
    ),
    "dpo": Algorithm(
        TARGET, "dpo", pairs_converter(dpo_row), (".jsonl",),
        "prompt / chosen / rejected message lists for DPOTrainer (best vs worst rollout of a task)", SOURCE,
        row_specs=DPO_ROWS,
    ),
    "kto": Algorithm(
        TARGET, "kto", lambda o: per_record(lambda r, t: kto_row(r, o, t)), (".jsonl",),
        "prompt / completion / label (reward >= threshold) for KTOTrainer", SOURCE, row_specs=KTO_ROWS, unit="record",
    ),
    "grpo": Algorithm(
        TARGET, "grpo", lambda o: per_task(lambda r, t: grpo_row(r, o, t)), (".jsonl",),
        "one prompt per task plus its fields (passed to reward functions) for GRPOTrainer", SOURCE,
        row_specs=GRPO_ROWS, unit="task",
    ),
}
