"""How far a text pipeline's tokens drift from what the policy generated: measured, rollout by rollout.

A text pipeline (every format but ``sft-tokens``) writes the conversation as messages; the
trainer renders them with a chat template and tokenizes them again. Here that is done as
TRL 1.16 does with ``assistant_only_loss=True`` (``trl/trainer/sft_trainer.py``, ``tokenize_fn``:
``apply_chat_template(messages, tools=..., return_dict=True, return_assistant_tokens_mask=True)``)
on our TRL ``sft`` row of each rollout, and the result is compared with the ids the model
server recorded ({func}`reference_impl.tokens.token_sequence`):

* **input_ids differ**: the trainer's sequence is not the one the policy read and wrote;
* **trained tokens differ**: the tokens in the loss are not the generated ones;
* **beyond the end-of-turn newline**: the same, not counting a newline right after an
  end-of-turn token (templates close each turn with ``<|im_end|>\\n``, and put that newline in
  the assistant's mask; the policy stopped at ``<|im_end|>``): what is left is content that
  changed, such as earlier reasoning a template dropped.

Imports ``transformers`` (through the tokenizer it is given) when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .tokens import NotTokenExact, token_sequence

__all__ = ["Drift", "measure_drift"]


@dataclass
class Drift:
    """Counts over the rollouts whose ids pass the build rule.

    Attributes:
        rows: rollouts compared.
        ids_differ: rows whose input_ids differ from the recorded sequence.
        trained_differ: rows whose trained tokens differ from the generated ones.
        content_differ: rows whose trained tokens differ beyond the end-of-turn newline.
    """

    rows: int = 0
    ids_differ: int = 0
    trained_differ: int = 0
    content_differ: int = 0


def _without_closing_newlines(ids: list[int], end_of_turn: int, newline: list[int]) -> list[int]:
    return [t for i, t in enumerate(ids) if not ([t] == newline and i and ids[i - 1] == end_of_turn)]


def measure_drift(records: Iterable[dict], tokenizer, template: str | None = None, *,
                  token_exact: bool = False) -> Drift:
    """Compare a pipeline's tokens with the recorded ones, for every rollout that passes the build rule.

    Args:
        records: rollout records with token ids.
        tokenizer: the tokenizer the ids come from.
        template: the chat template the text pipeline renders with (default: the tokenizer's).
        token_exact: measure our ``sft-tokens`` rows instead of the text pipeline.

    Returns:
        The {class}`Drift` counts.
    """
    from .formats.base import ConvertOptions
    from .formats.tokens import text_pipeline_tokens, trl_row
    from .tally import Tally

    end_of_turn = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    newline = tokenizer.encode("\n", add_special_tokens=False)
    drift = Drift()
    for record in records:
        if record.get("mask_sample"):
            continue
        try:
            sequence = token_sequence(record)
        except NotTokenExact:
            continue
        generated = [t for t, m in zip(sequence.input_ids, sequence.assistant_masks) if m]
        if token_exact:
            row = trl_row(record, ConvertOptions(), Tally())
            ids, mask = row["input_ids"], row["assistant_masks"]
        else:
            ids, mask = text_pipeline_tokens(record, tokenizer, template)
        trained = [t for t, m in zip(ids, mask) if m]
        drift.rows += 1
        drift.ids_differ += ids != sequence.input_ids
        drift.trained_differ += trained != generated
        drift.content_differ += _without_closing_newlines(trained, end_of_turn, newline) != generated
    return drift
