"""TRL 1.16's SFTTrainer trains on the sft-tokens rows as they are, with the loss on the generated tokens only.

What TRL does with them, read in .venv/lib/python3.11/site-packages/trl/trainer/sft_trainer.py (1.16.0):

* ``_prepare_dataset``, line 1248: ``is_processed = "input_ids" in column_names``; a processed dataset
  is not rendered or tokenized again (lines 1273-1405 run only ``if not is_processed``);
* lines 1407-1433: ``labels`` are built from ``assistant_masks`` always, and from
  ``completion_mask`` only when ``self.completion_only_loss`` (lines 1414-1417), which defaults to
  True only for prompt/completion datasets (lines 961-962): a pre-tokenized ``completion_mask``
  row trains on its prompt under the defaults;
* ``_set_signature_columns_if_needed``, line 1496: only ``input_ids``, ``labels`` and
  ``seq_lengths`` reach the model; ``generation_log_probs`` and ``token_source`` are left out.
"""

from __future__ import annotations

import json

import pytest
from paths import ROOT

from reference_impl.cli import prepare_main

pytestmark = pytest.mark.slow
TOKEN_SAMPLES = ROOT / "samples" / "token_rollouts.jsonl"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from reference_impl.train.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", [ROOT / "samples" / "rollouts.jsonl"])


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    output = tmp_path_factory.mktemp("tokens") / "sft_tokens.jsonl"
    assert prepare_main("trl", ["--input", str(TOKEN_SAMPLES), "--output", str(output), "--algorithm", "sft-tokens",
                                "--no-progress"]) == 0
    return output


def trainer_for(model_dir, data_files, output_dir):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    dataset = load_dataset("json", data_files=str(data_files), split="train")
    config = SFTConfig(output_dir=str(output_dir), max_steps=2, per_device_train_batch_size=4, learning_rate=1e-3,
                       report_to=[], logging_steps=1, save_strategy="no", max_length=None, use_cpu=True)
    return SFTTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir), args=config, train_dataset=dataset,
                      processing_class=AutoTokenizer.from_pretrained(model_dir))


def test_sft_trainer_trains_with_the_loss_on_generated_tokens_only(model_dir, rows, tmp_path):
    written = {tuple(r["input_ids"]): r for r in map(json.loads, rows.read_text().splitlines())}
    trainer = trainer_for(model_dir, rows, tmp_path / "out")
    prepared = trainer.train_dataset
    assert len(prepared) == len(written) == len(rows.read_text().splitlines())
    for example in prepared:  # not re-tokenized: the very ids, and labels only where the policy generated
        row = written[tuple(example["input_ids"])]
        assert example["labels"] == [t if m else -100 for t, m in zip(row["input_ids"], row["assistant_masks"])]
    batch = next(iter(trainer.get_train_dataloader()))
    assert set(batch) <= {"input_ids", "labels", "attention_mask", "position_ids", "seq_lengths"}
    for ids, labels, attention in zip(batch["input_ids"].tolist(), batch["labels"].tolist(),
                                      batch["attention_mask"].tolist()):
        row = written[tuple(ids[: sum(attention)])]
        assert [label for label in labels if label != -100] == [t for t, m in zip(row["input_ids"],
                                                                                  row["assistant_masks"]) if m]
    result = trainer.train()
    assert result.global_step == 2
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)


def test_a_completion_mask_column_would_train_on_the_prompt_under_the_defaults(model_dir, rows, tmp_path):
    """Why the writer names the mask assistant_masks: the same mask as completion_mask is ignored."""
    renamed = tmp_path / "completion_mask.jsonl"
    lines = []
    for row in map(json.loads, rows.read_text().splitlines()):
        lines.append(json.dumps({"input_ids": row["input_ids"], "completion_mask": row["assistant_masks"]}))
    renamed.write_text("\n".join(lines) + "\n")
    trainer = trainer_for(model_dir, renamed, tmp_path / "out")
    assert not trainer.completion_only_loss
    example = trainer.train_dataset[0]
    assert example["labels"] == example["input_ids"]  # every token, the prompt's too, is in the loss
