"""VeRL 0.9.1's SFT code takes our token-exact parquet through data.custom_cls, with the loss on
generated tokens only; its own MultiTurnSFTDataset, re-rendering the same rollouts' text, trains on
other tokens (measured here, shown on the token-exact page)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from paths import REAL_DATA, ROOT

from reference_impl.cli import prepare_main

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
TOKEN_SAMPLES = ROOT / "samples" / "token_rollouts.jsonl"
CUSTOM_CLS = ROOT / "reference_impl" / "formats" / "verl_token_dataset.py"
REAL_IDS = REAL_DATA / "competitive_coding_challenges.jsonl"  # one call each, Qwen3 ids


@pytest.fixture(scope="module")
def checked(envs, tmp_path_factory):
    from reference_impl.token_samples import sample_tokenizer
    from reference_impl.tokens import NotTokenExact, token_sequence

    work = tmp_path_factory.mktemp("verl_tokens")
    tokenizer = sample_tokenizer()
    tokenizer.save_pretrained(work / "tokenizer")
    served = []
    for line in TOKEN_SAMPLES.read_text().splitlines():
        record = json.loads(line)
        try:
            token_sequence(record)
        except NotTokenExact:
            continue
        if not record.get("mask_sample"):
            served.append(line)
    (work / "served.jsonl").write_text("\n".join(served) + "\n")
    for source, algorithm, output in ((work / "served.jsonl", "sft-tokens", "tokens.parquet"),
                                      (work / "served.jsonl", "sft", "text.parquet"),
                                      (REAL_IDS, "sft-tokens", "real.parquet")):
        if source.exists():
            assert prepare_main("verl", ["--input", str(source), "--output", str(work / output),
                                         "--algorithm", algorithm, "--no-progress"]) == 0
    done = subprocess.run([str(ROOT / ".conformance" / "verl" / "bin" / "python"), str(HERE / "check_verl_tokens.py"),
                           str(work / "tokenizer"), str(CUSTOM_CLS), str(work / "tokens.parquet"),
                           str(work / "text.parquet"), *([str(work / "real.parquet")] if REAL_IDS.exists() else [])],
                          capture_output=True, text=True, cwd=HERE,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    assert done.returncode == 0, done.stderr[-4000:]
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.encode("\n", add_special_tokens=False)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    seen["real"] = {"seen": seen["more"].get(str(work / "real.parquet")),
                    "ours": pq.read_table(work / "real.parquet").to_pylist() if REAL_IDS.exists() else None}
    return seen, pq.read_table(work / "tokens.parquet").to_pylist(), end_of_turn


def test_the_custom_cls_gives_verl_the_very_ids_and_the_generation_as_loss_mask(checked):
    seen, ours, _ = checked
    assert seen["right"]["class"] == "NemoGymTokenSFTDataset" and len(seen["right"]["rows"]) == len(ours) == 16
    for item, row in zip(seen["right"]["rows"], ours):
        assert item["input_ids"] == row["input_ids"] and item["loss_mask"] == row["assistant_masks"]
        assert item["padding_trained"] == 0 and item["positions"] and item["width"] == 2048


@pytest.mark.skipif(not REAL_IDS.exists(), reason=f"no real rollouts at {REAL_DATA}")
def test_the_real_qwen3_ids_load_in_verl_as_they_were_generated(checked):
    seen, _, _ = checked
    rows, ours = seen["real"]["seen"]["rows"], seen["real"]["ours"]
    assert len(rows) == len(ours) == 5
    for item, row, line in zip(rows, ours, REAL_IDS.read_text().splitlines()):
        (call,) = [i for i in json.loads(line)["response"]["output"] if i.get("generation_token_ids")]
        assert item["input_ids"] == row["input_ids"] == call["prompt_token_ids"] + call["generation_token_ids"]
        assert sum(item["loss_mask"]) == len(call["generation_token_ids"]) and item["padding_trained"] == 0


def test_verl_sft_loss_counts_exactly_the_generated_tokens(checked):
    """sft_loss rolls the flat loss mask left by one: the log-prob at position i predicts token i+1."""
    seen, ours, _ = checked
    mask = [m for row in ours for m in row["assistant_masks"]]
    assert seen["no_padding"]["lengths"] == [len(row["input_ids"]) for row in ours]
    log_probs = [-1 - i / 1000 for i in range(len(mask))]
    expected = -sum(lp for i, lp in enumerate(log_probs) if mask[(i + 1) % len(mask)])
    assert seen["no_padding"]["loss"] == pytest.approx(expected)
    assert seen["no_padding"]["loss"] != pytest.approx(-sum(log_probs))


def test_verls_own_text_path_trains_on_tokens_the_policy_never_generated(checked):
    seen, ours, (im_end, newline) = checked
    differ = 0
    for text, row in zip(seen["text"], ours):
        trained = [t for t, m in zip(text["input_ids"], text["loss_mask"]) if m]
        generated = [t for t, m in zip(row["input_ids"], row["assistant_masks"]) if m]
        differ += trained != generated
        # MultiTurnSFTDataset puts each turn's closing "\n" (after <|im_end|>) in the loss; the policy stopped
        # at <|im_end|>. Without those, the tokens are the same (this template keeps every earlier turn).
        without = [t for i, t in enumerate(trained) if not ([t] == newline and i and trained[i - 1] == im_end)]
        assert without == generated
    assert differ == len(ours)
