"""Token-exact SFT (``sft-tokens``): the very ids the policy read and generated, for TRL, VeRL and NeMo RL.

Every other format is text, which a trainer renders again with a chat template and
tokenizes again; for multi-turn agent rollouts that can differ from what the model
produced. These rows carry the ids themselves, built by the contiguity rule of
{mod}`reference_impl.tokens`; a rollout that breaks it is skipped with the reason, never
rendered as text instead.

* **TRL 1.16** (``trl/trainer/sft_trainer.py``, ``SFTTrainer._prepare_dataset``): a dataset
  with an ``input_ids`` column "is processed" and is not tokenized again; its labels are
  built from ``assistant_masks`` always, but from ``completion_mask`` only when
  ``completion_only_loss=True``, so the mask is written as ``assistant_masks``. Other
  columns (``generation_log_probs``, ``token_source``) are dropped by the Trainer's
  ``remove_unused_columns`` before the model sees a batch.
* **VeRL 0.9.1**: the same columns in parquet, read by
  {mod}`reference_impl.formats.verl_token_dataset` set as ``data.custom_cls``, which returns
  ``input_ids``, ``attention_mask``, ``position_ids`` and ``loss_mask`` as VeRL's own
  ``MultiTurnSFTDataset.__getitem__`` does.
* **NeMo RL**: ``messages`` that alternate ``user`` (what came between) and ``assistant``
  (what was generated), each with its ``token_ids`` (and the assistant's
  ``generation_logprobs``), the message log ``nemo_rl/environments/nemo_gym.py`` builds
  online; {mod}`reference_impl.formats.nemo_rl_token_processor` is the data processor that
  turns them into tensors.
"""

from __future__ import annotations

import orjson

from ..tally import Skip, Tally
from ..tokens import EMPTY_IDS, NO_IDS, NotTokenExact, TokenSequence, id_above_vocabulary, segments, token_sequence
from .base import Algorithm, ConvertOptions, RowSpec, per_record

__all__ = ["ALGORITHM", "GENERATED", "RENDERED", "RETOKENIZED", "checked_sequence", "rendered_sequence",
           "with_tokenizer", "trl_row", "nemo_rl_row", "verl_schema", "TOKEN_ROWS", "NEMO_RL_TOKEN_ROWS", "TRL", "VERL",
           "NEMO_RL", "ALGORITHMS"]

ALGORITHM = "sft-tokens"
"""The one name of the token-exact format, the same for every target."""

GENERATED = "generation"
"""``token_source`` of a row whose ids are the model server's own."""

RENDERED = "chat_template"
"""``token_source`` of a row re-tokenized through a chat template (``--retokenize``): not token-exact."""

RETOKENIZED = "no token ids: re-tokenized through the chat template (token_source: chat_template, not token-exact)"
"""How the rows of ``--retokenize`` are counted, apart from the token-exact ones (in ``dropped_parts``)."""


def text_pipeline_tokens(record: dict, tokenizer, template: str | None = None) -> tuple[list[int], list[int]]:
    """The ids and assistant mask a text pipeline trains on: our TRL ``sft`` row, rendered as TRL renders it."""
    from .trl import sft_row

    row = sft_row(record, ConvertOptions(), Tally())
    tools = orjson.loads(row["tools"]) if row["tools"] else None
    out = tokenizer.apply_chat_template(row["messages"], tools=tools, chat_template=template, tokenize=True,
                                        return_dict=True, return_assistant_tokens_mask=True)
    return list(out["input_ids"]), list(out["assistant_masks"])


def rendered_sequence(record: dict, tokenizer) -> TokenSequence:
    """A record without token ids, rendered and tokenized as TRL renders a ``messages`` row
    (``assistant_only_loss``): the mask is what the template marks ``{% generation %}``.

    Raises:
        Skip: the template marks no assistant token.
    """
    ids, mask = text_pipeline_tokens(record, tokenizer)
    if 1 not in mask:
        raise Skip("re-tokenized, but the chat template marks no assistant token ({% generation %})")
    return TokenSequence(ids, mask, [None] * len(ids), 0)


def checked_sequence(record: dict, options: ConvertOptions, tally: Tally | None = None) -> TokenSequence:
    """The token-exact sequence of a record, its ids checked against the vocabulary when it is known.

    A record with no token ids at all is rendered through ``options.retokenize``'s chat template
    when it is given ({func}`rendered_sequence`), and counted in ``tally.dropped`` as
    {data}`RETOKENIZED`; its log-probs are all ``None``.

    Raises:
        Skip: the build rule failed (the reason is one of {mod}`reference_impl.tokens`'s),
            or an id is not below ``options.vocab_size``.
    """
    try:
        sequence = token_sequence(record)
    except NotTokenExact as failed:
        if options.retokenize is None or failed.reason not in (NO_IDS, EMPTY_IDS):
            raise Skip(failed.reason) from None
        sequence = rendered_sequence(record, options.retokenize)
    if options.vocab_size is not None and id_above_vocabulary(sequence.input_ids, options.vocab_size) is not None:
        raise Skip(f"a token id is not below the tokenizer's vocabulary size ({options.vocab_size}): "
                   "the ids come from another tokenizer")
    if not sequence.calls and tally is not None:
        tally.dropped[RETOKENIZED] += 1
    return sequence


def with_tokenizer(options: ConvertOptions, name: str, retokenize: bool = False) -> tuple[ConvertOptions, dict]:
    """The options that check every id against a tokenizer's vocabulary (and, with
    ``retokenize``, render the rollouts without ids through its chat template), and what the
    manifest records of it.

    Loads the tokenizer with ``transformers`` (only when a run names one).

    Raises:
        OSError, ValueError: the tokenizer cannot be loaded.
    """
    from dataclasses import replace

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name)
    size = len(tokenizer)
    recorded = {"name": name, "vocab_size": size, "retokenize_rollouts_without_ids": retokenize}
    return replace(options, vocab_size=size, retokenize=tokenizer if retokenize else None), {"tokenizer": recorded}


def trl_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A rollout as a pre-tokenized TRL SFT row (VeRL's parquet holds the same columns).

    >>> call = {"type": "message", "prompt_token_ids": [1, 2], "generation_token_ids": [3],
    ...         "generation_log_probs": [-0.5]}
    >>> trl_row({"response": {"output": [call]}, "reward": 1.0}, ConvertOptions(), Tally())
    {'input_ids': [1, 2, 3], 'assistant_masks': [0, 0, 1], 'generation_log_probs': [None, None, -0.5], 'token_source': 'generation'}
    """
    sequence = checked_sequence(record, options, tally)
    return {"input_ids": sequence.input_ids, "assistant_masks": sequence.assistant_masks,
            "generation_log_probs": sequence.generation_log_probs, "token_source": _source(sequence)}


def nemo_rl_row(record: dict, options: ConvertOptions, tally: Tally) -> dict:
    """A rollout as NeMo RL's message log: ``user`` and ``assistant`` messages with their ``token_ids``.

    >>> call = {"type": "message", "prompt_token_ids": [1, 2], "generation_token_ids": [3],
    ...         "generation_log_probs": [-0.5]}
    >>> nemo_rl_row({"response": {"output": [call]}, "reward": 1.0}, ConvertOptions(), Tally())["messages"]
    [{'role': 'user', 'content': '', 'token_ids': [1, 2]}, {'role': 'assistant', 'content': '', 'token_ids': [3], 'generation_logprobs': [-0.5]}]
    """
    messages = []
    sequence = checked_sequence(record, options, tally)
    for mask, ids, log_probs in segments(sequence):
        if mask:
            messages.append({"role": "assistant", "content": "", "token_ids": ids,
                             "generation_logprobs": None if None in log_probs else log_probs})
        else:
            messages.append({"role": "user", "content": "", "token_ids": ids})
    return {"messages": messages, "token_source": _source(sequence)}


def _source(sequence: TokenSequence) -> str:
    return GENERATED if sequence.calls else RENDERED


def verl_schema():
    """One parquet schema for every row (log-probs are null where nothing was generated)."""
    import pyarrow as pa

    return pa.schema([("input_ids", pa.list_(pa.int64())), ("assistant_masks", pa.list_(pa.int8())),
                      ("generation_log_probs", pa.list_(pa.float64())), ("token_source", pa.string())])


# The rows each writer above produces, checked by validate_training_data.py.
TOKEN_ROWS = (RowSpec({"input_ids": "token_ids", "assistant_masks": "token_mask",
                       "generation_log_probs": "token_log_probs", "token_source": "str"},
                      rules=("token_columns_align",)),)
NEMO_RL_TOKEN_ROWS = (RowSpec({"messages": "token_messages", "token_source": "str"}),)

SOURCE_TRL = "trl 1.16.0: trl/trainer/sft_trainer.py (SFTTrainer._prepare_dataset: input_ids, assistant_masks)"
SOURCE_VERL = ("verl 0.9.1: verl/trainer/sft_trainer.py (create_sft_dataset, data.custom_cls), "
               "verl/utils/dataset/multiturn_sft_dataset.py (the item it returns)")
SOURCE_NEMO_RL = ("NVIDIA-NeMo/RL v0.7.0: nemo_rl/environments/nemo_gym.py (the message log of token ids), "
                  "nemo_rl/data/processors.py (register_processor)")


def _converter(to_row):
    return lambda options: per_record(lambda record, tally: to_row(record, options, tally))


TRL = Algorithm("trl", ALGORITHM, _converter(trl_row), (".jsonl", ".parquet"),
                "token-exact: input_ids, assistant_masks (1 on generated tokens), generation_log_probs",
                SOURCE_TRL, verl_schema, TOKEN_ROWS, unit="record")
VERL = Algorithm("verl", ALGORITHM, _converter(trl_row), (".parquet",),
                 "token-exact parquet (input_ids, assistant_masks, generation_log_probs) for our data.custom_cls",
                 SOURCE_VERL, verl_schema, TOKEN_ROWS, unit="record")
NEMO_RL = Algorithm("nemo_rl", ALGORITHM, _converter(nemo_rl_row), (".jsonl",),
                    "token-exact message log (user/assistant token_ids) for our registered data processor",
                    SOURCE_NEMO_RL, row_specs=NEMO_RL_TOKEN_ROWS, unit="record")

ALGORITHMS = (TRL, VERL, NEMO_RL)
"""The token-exact format of each target, registered into ``TARGETS`` by the package."""
