"""The token-exact build rule (reference_impl/tokens.py) and the sft-tokens writers, on real token ids:
the shipped samples/token_rollouts.jsonl (rendered and tokenized with the tiny model's tokenizer and
template) and the real competitive_coding_challenges and hermes_math rollouts."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
from paths import REAL_DATA, ROOT

from reference_impl import tokens
from reference_impl.cli import prepare_main
from reference_impl.messages import chat_tool_schemas, rollout_messages
from reference_impl.validate import validate_file

TOKEN_SAMPLES = ROOT / "samples" / "token_rollouts.jsonl"
RECORDS = [json.loads(line) for line in TOKEN_SAMPLES.read_text().splitlines()]
SERVED = [r for r in RECORDS if not r.get("mask_sample") and r["agent_ref"]["name"] != "tutor_agent_qwen3_template"]


@pytest.fixture(scope="module")
def tokenizer():
    from reference_impl.token_samples import sample_tokenizer

    return sample_tokenizer()


def generated_ids(record: dict) -> list[int]:
    """What the policy generated: every call's generation_token_ids, found by the field."""
    return [t for item in record["response"]["output"] for t in item.get("generation_token_ids") or []]


def test_the_samples_cover_tool_calls_user_turns_and_a_broken_prefix():
    calls = [sum(1 for item in r["response"]["output"] if item.get("generation_token_ids")) for r in SERVED]
    kinds = {r["agent_ref"]["name"] for r in RECORDS}
    assert {"weather_simple_agent", "calculator_simple_agent", "guess_number_agent", "tutor_agent",
            "tutor_agent_qwen3_template"} <= kinds
    assert max(calls) >= 3 and min(calls) >= 2
    # a call's ids on a message followed by its own function_call, as in hermes_math
    assert any(item.get("generation_token_ids") and after["type"] == "function_call"
               for r in SERVED for item, after in zip(r["response"]["output"], r["response"]["output"][1:]))
    # user turns between the calls
    assert any(item.get("role") == "user" for r in SERVED for item in r["response"]["output"])


def test_decoded_input_ids_are_the_templates_render_and_the_mask_is_the_generation(tokenizer):
    for record in SERVED:
        sequence = tokens.token_sequence(record)
        prompt, trajectory = rollout_messages(record)
        render = tokenizer.apply_chat_template(prompt + trajectory, tools=chat_tool_schemas(record) or None,
                                               tokenize=False)
        # The template ends each turn with <|im_end|>\n; the policy stops at <|im_end|>.
        assert tokenizer.decode(sequence.input_ids) + "\n" == render
        assert [t for t, m in zip(sequence.input_ids, sequence.assistant_masks) if m] == generated_ids(record)
        assert sum(sequence.assistant_masks) == len(generated_ids(record))
        logged = [p for item in record["response"]["output"] for p in item.get("generation_log_probs") or []]
        assert [p for p in sequence.generation_log_probs if p is not None] == logged
        assert all((p is None) == (m == 0) for p, m in zip(sequence.generation_log_probs, sequence.assistant_masks))


def test_the_qwen3_like_template_breaks_the_prefix_and_is_skipped_with_the_reason():
    broken = [r for r in RECORDS if r["agent_ref"]["name"] == "tutor_agent_qwen3_template"]
    assert broken
    for record in broken:
        with pytest.raises(tokens.NotTokenExact) as failed:
            tokens.token_sequence(record)
        assert failed.value.reason == tokens.NOT_CONTIGUOUS and "call 2 of 2" in failed.value.detail


def test_the_shipped_samples_are_what_the_script_makes(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_token_rollouts.py"), "--output",
                           str(tmp_path / "t.jsonl")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "t.jsonl").read_bytes() == TOKEN_SAMPLES.read_bytes()


def _served() -> dict:
    return copy.deepcopy(next(r for r in SERVED if r["agent_ref"]["name"] == "calculator_simple_agent"))


def _calls(record: dict) -> list[dict]:
    return [item for item in record["response"]["output"] if item.get("generation_token_ids")]


@pytest.mark.parametrize("break_it, reason", [
    (lambda r: [i.pop(k) for i in _calls(r) for k in tokens.TOKEN_FIELDS], tokens.NO_IDS),
    (lambda r: [i.update(generation_token_ids=[], generation_log_probs=[]) for i in _calls(r)], tokens.EMPTY_IDS),
    (lambda r: _calls(r)[1]["generation_log_probs"].pop(), tokens.LOG_PROB_LENGTH),
    (lambda r: _calls(r)[2]["prompt_token_ids"].pop(3), tokens.NOT_CONTIGUOUS),
    (lambda r: _calls(r)[1].update(prompt_token_ids=[]), tokens.NO_PROMPT_IDS),
    (lambda r: _calls(r)[0]["generation_token_ids"].__setitem__(0, -1), tokens.BAD_IDS),
    (lambda r: _calls(r)[0]["generation_log_probs"].__setitem__(0, float("nan")), tokens.BAD_LOG_PROBS),
])
def test_each_broken_rule_has_its_reason(break_it, reason):
    record = _served()
    tokens.token_sequence(record)
    break_it(record)
    with pytest.raises(tokens.NotTokenExact) as failed:
        tokens.token_sequence(record)
    assert failed.value.reason == reason


def test_a_call_with_empty_ids_between_others_is_passed_over():
    record = _served()
    middle = _calls(record)[1]
    whole = tokens.token_sequence(record)
    middle.update(generation_token_ids=[], generation_log_probs=[])
    sequence = tokens.token_sequence(record)
    assert sequence.calls == 2 and sum(sequence.assistant_masks) < sum(whole.assistant_masks)
    assert sequence.input_ids == whole.input_ids  # its tokens come back as the next prompt's tail, mask 0


def run_prepare(target: str, inputs, output, *extra) -> dict:
    assert prepare_main(target, ["--input", *map(str, inputs), "--output", str(output), "--algorithm", "sft-tokens",
                                 "--no-progress", *extra]) == 0
    return json.loads(output.with_name(output.stem + ".manifest.json").read_text())


@pytest.mark.parametrize("target, suffix", [("trl", ".jsonl"), ("trl", ".parquet"), ("verl", ".parquet"),
                                            ("nemo_rl", ".jsonl")])
def test_every_file_the_writer_makes_passes_validation_and_counts_every_skip(target, suffix, tmp_path):
    output = tmp_path / f"out{suffix}"
    manifest = run_prepare(target, [TOKEN_SAMPLES], output)
    counts = manifest["counts"]
    assert counts["rows_written"] == len(SERVED) and counts["reconciles"]
    assert counts["skipped"] == {tokens.NOT_CONTIGUOUS: 2, "masked sample": 1}
    report = validate_file(output, target, "sft-tokens")
    assert report.clean, report.problems[:5]


def test_nemo_rl_rows_alternate_what_came_between_and_what_was_generated(tmp_path):
    output = tmp_path / "nemo_rl.jsonl"
    run_prepare("nemo_rl", [TOKEN_SAMPLES], output)
    for row, record in zip(map(json.loads, output.read_text().splitlines()), SERVED):
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        assert [t for m in row["messages"] for t in m["token_ids"]] == tokens.token_sequence(record).input_ids
        assert [t for m in row["messages"] if m["role"] == "assistant" for t in m["token_ids"]] == generated_ids(record)


def test_validation_names_misaligned_token_columns(tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [{"input_ids": [1, 2, 3], "assistant_masks": [0, 1], "generation_log_probs": [None, -0.1, None],
             "token_source": "generation"},
            {"input_ids": [1, 2], "assistant_masks": [0, 0], "generation_log_probs": [None, None],
             "token_source": "generation"},
            {"input_ids": [1, 2], "assistant_masks": [0, 1], "generation_log_probs": [-0.2, -0.1],
             "token_source": "generation"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = [p.split(": ", 1)[1] for p in validate_file(path, "trl", "sft-tokens").problems]
    assert problems == ["input_ids, assistant_masks and generation_log_probs differ in length (3, 2, 3)",
                        "assistant_masks: no token is trained (the mask has no 1)",
                        "generation_log_probs must be given exactly where assistant_masks is 1"]


def test_the_tokenizer_is_recorded_and_ids_from_another_vocabulary_are_skipped(tokenizer, tmp_path, capsys):
    tokenizer.save_pretrained(tmp_path / "tok")
    ours = run_prepare("trl", [TOKEN_SAMPLES], tmp_path / "ours.jsonl", "--tokenizer", str(tmp_path / "tok"))
    assert ours["run"]["tokenizer"] == {"name": str(tmp_path / "tok"), "vocab_size": len(tokenizer),
                                        "retokenize_rollouts_without_ids": False}
    assert ours["counts"]["rows_written"] == len(SERVED)
    if not (REAL_DATA / "competitive_coding_challenges.jsonl").exists():
        pytest.skip(f"no real rollouts at {REAL_DATA}")
    output = tmp_path / "q.jsonl"
    status = prepare_main("trl", ["--input", str(REAL_DATA / "competitive_coding_challenges.jsonl"), "--output",
                                  str(output), "--algorithm", "sft-tokens", "--no-progress", "--tokenizer",
                                  str(tmp_path / "tok")])
    err = capsys.readouterr().err
    assert status == 1 and not output.exists()  # no row to write: said, nothing written
    assert (f"skipped 5: a token id is not below the tokenizer's vocabulary size ({len(tokenizer)}): the ids come "
            f"from another tokenizer") in err


@pytest.mark.skipif(not (REAL_DATA / "competitive_coding_challenges.jsonl").exists(), reason="no real rollouts")
def test_the_real_single_call_qwen3_ids_go_through(tmp_path):
    """competitive_coding_challenges: one model call each, Qwen3 ids (151644 is <|im_start|>)."""
    source = REAL_DATA / "competitive_coding_challenges.jsonl"
    manifest = run_prepare("trl", [source], tmp_path / "cc.jsonl")
    assert manifest["counts"]["rows_written"] == 5 and not manifest["counts"]["skipped"]
    rows = [json.loads(line) for line in (tmp_path / "cc.jsonl").read_text().splitlines()]
    for row, record in zip(rows, map(json.loads, source.read_text().splitlines())):
        (call,) = tokens.token_items(record)
        assert row["input_ids"] == call["prompt_token_ids"] + call["generation_token_ids"]
        assert row["input_ids"][0] == 151644
        assert row["assistant_masks"] == [0] * len(call["prompt_token_ids"]) + [1] * len(call["generation_token_ids"])
        assert row["generation_log_probs"][len(call["prompt_token_ids"]):] == call["generation_log_probs"]
    assert validate_file(tmp_path / "cc.jsonl", "trl", "sft-tokens").clean


@pytest.mark.skipif(not (REAL_DATA / "hermes_math.jsonl").exists(), reason="no real rollouts")
def test_real_files_without_ids_are_skipped_with_the_setting_that_records_them(tmp_path, capsys):
    output = tmp_path / "none.jsonl"
    status = prepare_main("trl", ["--input", str(REAL_DATA / "hermes_math.jsonl"), str(REAL_DATA / "math_with_judge.jsonl"),
                                  "--output", str(output), "--algorithm", "sft-tokens", "--no-progress", "--skip-invalid"])
    err = capsys.readouterr().err
    assert status == 1 and not output.exists()  # no row to write: said, nothing written
    assert f"skipped 5: {tokens.EMPTY_IDS}" in err and f"skipped 5: {tokens.NO_IDS}" in err
    assert "return_token_id_information: true" in tokens.NO_IDS


def test_the_drift_a_text_pipeline_shows_and_sft_tokens_does_not(tokenizer):
    from reference_impl.token_drift import Drift, measure_drift
    from reference_impl.token_samples import QWEN3_LIKE_TEMPLATE

    rows = len(SERVED)
    tutor = sum(1 for r in SERVED if r["agent_ref"]["name"] == "tutor_agent")
    assert tutor == 4
    # Same template: only the newline after each <|im_end|> (trained by the template, never generated).
    assert measure_drift(RECORDS, tokenizer) == Drift(rows, rows, rows, 0)
    # A template that drops earlier reasoning changes what the multi-turn reasoning rows train on.
    assert measure_drift(RECORDS, tokenizer, QWEN3_LIKE_TEMPLATE) == Drift(rows, rows, rows, tutor)
    assert measure_drift(RECORDS, tokenizer, token_exact=True) == Drift(rows, 0, 0, 0)


@pytest.mark.parametrize("target, suffix", [("trl", ".jsonl"), ("verl", ".parquet"), ("nemo_rl", ".jsonl")])
def test_retokenize_renders_only_rollouts_without_ids_marks_them_and_counts_them_apart(tokenizer, target, suffix,
                                                                                       tmp_path):
    from reference_impl.formats.tokens import RETOKENIZED
    from reference_impl.validate import iter_rows

    tokenizer.save_pretrained(tmp_path / "tok")
    without_ids = tmp_path / "mixed.jsonl"
    records = [RECORDS[0], *[{k: v for k, v in r.items()} for r in RECORDS[1:3]]]
    for record in records[1:]:
        record["response"] = {**record["response"], "output": [
            {k: v for k, v in item.items() if k not in tokens.TOKEN_FIELDS} for item in record["response"]["output"]]}
    broken = copy.deepcopy(next(r for r in RECORDS if r["agent_ref"]["name"] == "tutor_agent_qwen3_template"))
    without_ids.write_text("".join(json.dumps(r) + "\n" for r in [*records, broken]))
    output = tmp_path / f"out{suffix}"
    manifest = run_prepare(target, [without_ids], output, "--tokenizer", str(tmp_path / "tok"), "--retokenize")
    counts = manifest["counts"]
    assert counts["rows_written"] == 3 and counts["dropped_parts"] == {RETOKENIZED: 2}
    assert counts["skipped"] == {tokens.NOT_CONTIGUOUS: 1}  # ids that break the rule are never re-rendered
    assert manifest["run"]["tokenizer"]["retokenize_rollouts_without_ids"] is True
    rows = [row for _, row, _ in iter_rows(output)]
    assert [row["token_source"] for row in rows] == ["generation", "chat_template", "chat_template"]
    assert validate_file(output, target, "sft-tokens").clean
    if target == "trl":
        for row, record in zip(rows[1:], records[1:]):
            prompt, trajectory = rollout_messages(record)
            render = tokenizer.apply_chat_template(prompt + trajectory, tools=chat_tool_schemas(record) or None,
                                                   tokenize=False)
            assert tokenizer.decode(row["input_ids"]) == render and set(row["generation_log_probs"]) == {None}


def test_retokenize_needs_a_tokenizer(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        prepare_main("trl", ["--input", str(TOKEN_SAMPLES), "--output", str(tmp_path / "o.jsonl"), "--algorithm",
                             "sft-tokens", "--retokenize"])
    assert done.value.code == 2 and "--retokenize needs --tokenizer" in capsys.readouterr().err
