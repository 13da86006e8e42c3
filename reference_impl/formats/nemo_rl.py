"""NeMo RL: SFT (``openai_format``), DPO (``PreferenceDataset``) and GRPO (NeMo Gym task rows).

Read from ``NVIDIA-NeMo/RL`` (main, data code unchanged since v0.7.0; NeMo RL is not on
PyPI, so its formats are checked against this schema rather than its loader):

* ``nemo_rl/data/datasets/response_datasets/oai_format_dataset.py`` (``OpenAIFormatDataset``):
  JSONL rows with ``messages`` whose last message is the assistant's (it asserts so), and
  ``tools``;
* ``nemo_rl/data/datasets/preference_datasets/preference_dataset.py``: ``context`` plus exactly
  two ``completions`` ``{"rank", "completion"}``, the lower rank preferred, no ties;
* ``nemo_rl/data/datasets/response_datasets/nemogym_dataset.py`` with
  ``nemo_rl/environments/nemo_gym.py``: one NeMo Gym task per line,
  ``responses_create_params`` (a dict, with flat Responses-API ``tools``) and
  ``agent_ref.name``, which ``run_rollouts`` reads directly, plus the task's own fields, which
  the agent passes to the environment's ``verify()``.
"""

from __future__ import annotations

from ..rollouts import task_row
from ..tally import Skip, Tally
from .base import Algorithm, ConvertOptions, RowSpec, per_record, per_task
from .common import PairedConversation, conversation, pairs_converter, sft_messages

TARGET = "nemo_rl"
SOURCE = "NVIDIA-NeMo/RL v0.7.0: nemo_rl/data/datasets/{response_datasets,preference_datasets}/, nemo_rl/environments/nemo_gym.py"


def sft_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A rollout as an ``openai_format`` row: ``messages`` ending with the assistant, and ``tools``.

    >>> rec = {"responses_create_params": {"input": "2+2?", "tools": []}, "reward": 1.0,
    ...        "response": {"output": [{"type": "message", "role": "assistant", "content": "4"}]}}
    >>> sft_row(rec, ConvertOptions(), Tally())
    {'messages': [{'role': 'user', 'content': '2+2?'}, {'role': 'assistant', 'content': '4'}], 'tools': []}
    """
    prompt, trajectory, tools = conversation(record, options, tally)
    return {"messages": sft_messages(prompt, trajectory, tally), "tools": tools}


def dpo_row(paired: PairedConversation) -> dict:
    """``PreferenceDataset``: ``context`` and two ranked ``completions`` (rank 0 preferred)."""
    return {"context": paired.prompt, "completions": [{"rank": 0, "completion": paired.chosen},
                                                      {"rank": 1, "completion": paired.rejected}]}


def gym_task_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A rollout's task as a NeMo Gym row for ``NemoGymDataset``: the task row it was run from.

    NeMo RL hands each row to the NeMo Gym agent, which passes its fields to the
    environment's ``verify()``, so every field of the task goes along, with its JSON value
    as it is ({func}`~reference_impl.rollouts.task_row`; ``options.task_fields`` names them
    instead). The request keeps its Responses-API shape (flat tools), without the ``null``
    fields the collector serialised; ``agent_ref`` is the record's (a mix of environments
    keeps each row's own agent), or ``options.agent_name`` for records that have none.

    >>> row = gym_task_row({"responses_create_params": {"input": "Write 2 paragraphs.", "tools": [], "temperature": None},
    ...                     "agent_ref": {"name": "if_simple_agent"}, "instruction_id_list": ["length:paragraphs"],
    ...                     "kwargs": [{"num_paragraphs": 2}], "reward": 1.0, "_ng_task_index": 0},
    ...                    ConvertOptions(), Tally())
    >>> row
    {'responses_create_params': {'input': 'Write 2 paragraphs.', 'tools': []}, 'agent_ref': {'type': 'responses_api_agents', 'name': 'if_simple_agent'}, 'instruction_id_list': ['length:paragraphs'], 'kwargs': [{'num_paragraphs': 2}]}
    """
    params = {k: v for k, v in (record.get("responses_create_params") or {}).items() if v is not None}
    name = (record.get("agent_ref") or {}).get("name") or options.agent_name
    if not name:
        raise Skip("no agent_ref.name (pass --agent-name for such rows)")
    row = {"responses_create_params": params, "agent_ref": {"type": "responses_api_agents", "name": name}}
    if options.task_fields is not None:
        fields = {k: record[k] for k in options.task_fields if k in record}
    else:
        fields = task_row(record)
    row.update((k, v) for k, v in fields.items() if k not in row)
    return row


# The rows each writer above produces, checked by validate_training_data.py.
SFT_ROWS = (RowSpec({"messages": "sft_messages", "tools": "list?"}),)
DPO_ROWS = (RowSpec({"context": "messages", "completions": "list"}, rules=("two_ranked_completions",)),)
GRPO_ROWS = (RowSpec({"responses_create_params": "object", "responses_create_params.input": "str_or_list",
                      "agent_ref": "object", "agent_ref.name": "str"}, open=True),)


ALGORITHMS = {
    "sft": Algorithm(
        TARGET, "sft", lambda o: per_record(lambda r, t: sft_row(r, o, t)), (".jsonl",),
        "openai_format rows: messages ending with the assistant turn, and tools", SOURCE, row_specs=SFT_ROWS, unit="record",
    ),
    "dpo": Algorithm(
        TARGET, "dpo", pairs_converter(dpo_row), (".jsonl",),
        "PreferenceDataset rows: context + two ranked completions (best vs worst of a task)", SOURCE,
        row_specs=DPO_ROWS,
    ),
    "grpo": Algorithm(
        TARGET, "grpo", lambda o: per_task(lambda r, t: gym_task_row(r, o, t)), (".jsonl",),
        "NeMo Gym task rows (responses_create_params, agent_ref, the task's fields) for NemoGymDataset", SOURCE,
        row_specs=GRPO_ROWS, unit="task",
    ),
}
