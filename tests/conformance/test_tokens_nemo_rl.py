"""NeMo RL v0.7.0's own data code takes our token-exact rows through our registered processor and trains
on the generated tokens only.

NeMo RL is not on PyPI, and its data modules need packages the project's environment lacks (scipy,
soundfile, absl-py), so this runs only where ``NEMO_RL_PYTHONPATH`` names a NeMo RL source tree (and any
such packages), for example ``git archive v0.7.0 nemo_rl`` of NVIDIA-NeMo/RL unpacked beside them.
Without it the test is skipped, and says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from paths import REAL_DATA, ROOT

from reference_impl.cli import prepare_main

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
TOKEN_SAMPLES = ROOT / "samples" / "token_rollouts.jsonl"
NEMO_RL = os.environ.get("NEMO_RL_PYTHONPATH")


REAL_IDS = REAL_DATA / "competitive_coding_challenges.jsonl"  # one call each, Qwen3 ids


@pytest.mark.skipif(not NEMO_RL, reason="set NEMO_RL_PYTHONPATH to a NeMo RL v0.7.0 source tree (not on PyPI)")
@pytest.mark.parametrize("source", [TOKEN_SAMPLES, pytest.param(REAL_IDS, marks=pytest.mark.skipif(
    not REAL_IDS.exists(), reason=f"no real rollouts at {REAL_DATA}"))], ids=["samples", "real_qwen3"])
def test_nemo_rl_sft_data_path_gives_back_the_very_ids_with_the_generation_in_the_loss(source, tmp_path):
    from reference_impl.token_samples import sample_tokenizer

    sample_tokenizer().save_pretrained(tmp_path / "tokenizer")
    for target, output in (("nemo_rl", "nemo_rl.jsonl"), ("trl", "trl.jsonl")):
        assert prepare_main(target, ["--input", str(source), "--output", str(tmp_path / output),
                                     "--algorithm", "sft-tokens", "--no-progress"]) == 0
    done = subprocess.run([sys.executable, str(HERE / "check_nemo_rl_tokens.py"), str(tmp_path / "tokenizer"),
                           str(tmp_path / "nemo_rl.jsonl")], capture_output=True, text=True, cwd=HERE,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), NEMO_RL])})
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    ours = [json.loads(line) for line in (tmp_path / "trl.jsonl").read_text().splitlines()]
    assert seen["processor"] == "nemo_gym_token_processor" and seen["loss_multiplier"] == [1.0] * len(ours)
    assert len(ours) == (5 if source == REAL_IDS else 16)
    for item, row in zip(seen["rows"], ours, strict=True):
        assert item["input_ids"] == row["input_ids"] and item["token_mask"] == row["assistant_masks"]
        assert item["padding_trained"] == 0
        # float32, as nemo_gym.py keeps them (torch.tensor of the list)
        assert item["generation_logprobs"] == pytest.approx([p for p in row["generation_log_probs"] if p is not None],
                                                            rel=1e-6, abs=1e-6)
