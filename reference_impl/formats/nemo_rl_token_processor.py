"""NeMo RL's data processor for the token-exact rows that ``prepare_for_nemo_rl.py --algorithm sft-tokens`` writes.

NeMo RL's ``sft_processor`` (``nemo_rl/data/processors.py``, v0.7.0) renders ``messages`` with
the chat template and tokenizes each one. These rows carry the ids already, as the message
log that ``nemo_rl/environments/nemo_gym.py`` builds online from a NeMo Gym rollout: ``user``
messages holding what came between the generations (the prompt, tool results, user turns,
the template's frame) and ``assistant`` messages holding what the policy generated, each
with its ``token_ids`` and the assistant's ``generation_logprobs``. This processor turns
them into tensors and returns the ``DatumSpec`` that ``sft_processor`` returns; the SFT loop
then masks the ``assistant`` messages in (``add_loss_mask_to_message_log``, ``roles_to_train_on=["assistant"]``)
and concatenates the messages (``batched_message_log_to_flat_message``), which gives back
the very sequence the policy read and wrote.

``add_bos``, ``add_eos`` and ``add_generation_prompt`` are accepted and ignored: the ids are
the model's own, and adding tokens would change them. A row at least ``max_seq_length``
tokens long is cut and gets ``loss_multiplier`` 0, as ``sft_processor`` does.

Register it before NeMo RL builds its datasets, and name it in the data config::

    from reference_impl.formats.nemo_rl_token_processor import register
    register()  # then run NeMo RL's SFT with
    # data.train: {dataset_name: ResponseDataset, data_path: sft_tokens.jsonl, processor: nemo_gym_token_processor}

``ResponseDataset`` keeps the columns of a file that has ``messages`` and adds ``task_name``
(``nemo_rl/data/datasets/response_datasets/response_dataset.py``).

Imports torch when it runs, and NeMo RL only in {func}`register`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PROCESSOR_NAME", "nemo_gym_token_processor", "register"]

PROCESSOR_NAME = "nemo_gym_token_processor"


def nemo_gym_token_processor(datum_dict: dict[str, Any], task_data_spec: Any, tokenizer: Any, max_seq_length: int,
                             idx: int, add_bos: bool = True, add_eos: bool = True,
                             add_generation_prompt: bool = False) -> dict:
    """A token-exact row as NeMo RL's ``DatumSpec``: its message log, with tensors.

    Args:
        datum_dict: the row: ``messages`` (``role``, ``token_ids``, ``generation_logprobs``)
            and ``task_name``.
        task_data_spec: NeMo RL's ``TaskDataSpec`` (unused: nothing is rendered).
        tokenizer: unused (nothing is tokenized).
        max_seq_length: a longer row is cut and not trained on.
        idx: the row's index.
        add_bos: ignored (the ids are the model's own).
        add_eos: ignored.
        add_generation_prompt: ignored.

    Returns:
        ``message_log``, ``length``, ``extra_env_info``, ``loss_multiplier``, ``idx`` and ``task_name``.

    >>> row = {"messages": [{"role": "user", "content": "", "token_ids": [1, 2]},
    ...                     {"role": "assistant", "content": "", "token_ids": [3], "generation_logprobs": [-0.5]}],
    ...        "task_name": "t"}
    >>> datum = nemo_gym_token_processor(row, None, None, 1024, 0)
    >>> [(m["role"], m["token_ids"].tolist()) for m in datum["message_log"]], datum["length"], datum["loss_multiplier"]
    ([('user', [1, 2]), ('assistant', [3])], 3, 1.0)
    """
    import torch

    message_log = []
    for message in datum_dict["messages"]:
        entry = {"role": message["role"], "content": message.get("content") or "",
                 "token_ids": torch.tensor(message["token_ids"], dtype=torch.long)}
        if message["role"] == "assistant" and message.get("generation_logprobs") is not None:
            entry["generation_logprobs"] = torch.tensor(message["generation_logprobs"], dtype=torch.float32)
        message_log.append(entry)
    length = sum(len(m["token_ids"]) for m in message_log)
    loss_multiplier = 1.0
    if length >= max_seq_length:  # as sft_processor: make it smaller and mask it out
        for message in message_log:
            keep = min(4, max_seq_length // len(message_log))
            message["token_ids"] = message["token_ids"][:keep]
            if "generation_logprobs" in message:
                message["generation_logprobs"] = message["generation_logprobs"][:keep]
        loss_multiplier = 0.0
    return {"message_log": message_log, "length": length, "extra_env_info": None, "loss_multiplier": loss_multiplier,
            "idx": idx, "task_name": datum_dict.get("task_name")}


def register(name: str = PROCESSOR_NAME) -> str:
    """Add the processor to NeMo RL's ``PROCESSOR_REGISTRY`` (``register_processor``); return its name.

    Registering twice is harmless (NeMo RL refuses a second registration of a name).
    """
    from nemo_rl.data.processors import PROCESSOR_REGISTRY, register_processor

    if PROCESSOR_REGISTRY.get(name) is not nemo_gym_token_processor:
        register_processor(name, nemo_gym_token_processor)
    return name
