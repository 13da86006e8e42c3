"""OpenRLHF 0.11.2: SFT, DPO / reward-model pairs and PPO / GRPO prompts.

Read from the ``openrlhf`` 0.11.2 wheel (dotted ``--data.*`` flags since 0.10.2):

* ``openrlhf/datasets/sft_dataset.py`` (``SFTDataset``): with ``--data.apply_chat_template
  --data.multiturn`` the whole conversation sits under ``--data.input_key`` and every
  assistant message is trained. ``apply_chat_template`` is called **without** ``tools=``,
  so the tool schemas go into the system message;
* ``openrlhf/datasets/reward_dataset.py`` (``RewardDataset``, used by ``train_dpo`` and
  ``train_rm``): ``--data.prompt_key``, ``--data.chosen_key``, ``--data.rejected_key``;
  with a prompt key, chosen and rejected are the continuations of the prompt;
* ``openrlhf/datasets/prompts_dataset.py`` (``PromptDataset``): ``--data.input_key``,
  ``--data.label_key`` (handed untouched to ``reward_func``), optional ``datasource``.
"""

from __future__ import annotations

import orjson

from ..tally import Tally
from .base import Algorithm, ConvertOptions, RowSpec, per_record, per_task
from .common import PairedConversation, conversation, pairs_converter, plain_messages, sft_messages
from .common import ground_truth_of, prompt_conversation
from .verl import data_source_of

TARGET = "openrlhf"
SOURCE = "openrlhf 0.11.2: openrlhf/datasets/{sft_dataset,reward_dataset,prompts_dataset}.py"


def tools_system_text(tools: list[dict]) -> str:
    """The tool schemas as system-message text, in the ``<tools>`` form Qwen-style templates use.

    >>> print(tools_system_text([{"type": "function", "function": {"name": "f", "parameters": {}}}]))
    # Tools
    <BLANKLINE>
    You may call one or more functions to assist with the user query.
    <BLANKLINE>
    You are provided with function signatures within <tools></tools> XML tags:
    <tools>
    {"type":"function","function":{"name":"f","parameters":{}}}
    </tools>
    """
    lines = "\n".join(orjson.dumps(tool).decode() for tool in tools)
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        f"You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{lines}\n</tools>"
    )


def with_tools_in_system(messages: list[dict], tools: list[dict]) -> list[dict]:
    """Put the tool schemas into the system message (adding one if there is none).

    >>> with_tools_in_system([{"role": "user", "content": "hi"}], [])
    [{'role': 'user', 'content': 'hi'}]
    >>> with_tools_in_system([{"role": "system", "content": "Be brief."}], [{"type": "function", "function": {"name": "f"}}])[0]["content"].splitlines()[:3]
    ['Be brief.', '', '# Tools']
    """
    if not tools:
        return messages
    text = tools_system_text(tools)
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{text}"}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def sft_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A rollout as a multi-turn SFT row: the whole conversation under ``messages``."""
    prompt, trajectory, tools = conversation(record, options, tally)
    return {"messages": with_tools_in_system(sft_messages(prompt, trajectory, tally), tools)}


def pair_row(paired: PairedConversation) -> dict:
    """``RewardDataset``: ``prompt`` (tools in its system message), the ``chosen`` and ``rejected`` continuations, ``margin``."""
    return {"prompt": with_tools_in_system(paired.prompt, paired.tools), "chosen": paired.chosen,
            "rejected": paired.rejected, "margin": paired.pair.margin}


def prompt_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A task as a ``PromptDataset`` row: ``prompt`` messages, ``label`` (the ground truth) and ``datasource``."""
    prompt, tools = prompt_conversation(record, options, tally)
    return {
        "prompt": plain_messages(with_tools_in_system(prompt, tools)),
        "label": ground_truth_of(record, options),
        "datasource": data_source_of(record, options),
    }


# The rows each writer above produces, checked by validate_training_data.py.
SFT_ROWS = (RowSpec({"messages": "sft_messages"}),)
PAIR_ROWS = (RowSpec({"prompt": "messages", "chosen": "completion", "rejected": "completion", "margin": "number?"},
                     rules=("chosen_differs_from_rejected", "margin_not_negative")),)
PROMPT_ROWS = (RowSpec({"prompt": "messages", "label": "str", "datasource": "str?"}),)


ALGORITHMS = {
    "sft": Algorithm(
        TARGET, "sft", lambda o: per_record(lambda r, t: sft_row(r, o, t)), (".jsonl", ".parquet"),
        "the whole conversation under messages (tools in the system message), for --data.multiturn", SOURCE,
        row_specs=SFT_ROWS, unit="record",
    ),
    "dpo": Algorithm(
        TARGET, "dpo", pairs_converter(pair_row), (".jsonl", ".parquet"),
        "prompt / chosen / rejected message lists (+ margin) for train_dpo", SOURCE, row_specs=PAIR_ROWS,
    ),
    "rm": Algorithm(
        TARGET, "rm", pairs_converter(pair_row), (".jsonl", ".parquet"),
        "the same pairs for train_rm (margin is read by the reward-model loss)", SOURCE, row_specs=PAIR_ROWS,
    ),
    "ppo": Algorithm(
        TARGET, "ppo", lambda o: per_task(lambda r, t: prompt_row(r, o, t)), (".jsonl", ".parquet"),
        "prompt + label (+ datasource) for train_ppo_ray with a reward_func.py", SOURCE, row_specs=PROMPT_ROWS, unit="task",
    ),
    "grpo": Algorithm(
        TARGET, "grpo", lambda o: per_task(lambda r, t: prompt_row(r, o, t)), (".jsonl", ".parquet"),
        "the same prompts; GRPO is --algo.advantage.estimator group_norm", SOURCE, row_specs=PROMPT_ROWS, unit="task",
    ),
}
