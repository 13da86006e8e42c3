"""filter_rollouts.py: each filter, composed, with counts that reconcile and the records copied byte for byte."""

import gzip
import json
import subprocess
import sys
import tracemalloc
from collections import Counter, defaultdict

import pytest
from paths import ROOT, SAMPLES

from reference_impl.filters import (FilterOptions, RawLineWriter, conversation_chars, count_turns, filter_converter,
                                    trajectory_fingerprint, InputChanged)
from reference_impl.pipeline import Tally, read_rollouts, run
from reference_impl.rollouts import reward_of, skip_reason, task_key

LINES = [line for line in SAMPLES.read_bytes().splitlines(keepends=True) if line.strip()]
RECORDS = [json.loads(line) for line in LINES]


def run_filter(tmp_path, *args, source=SAMPLES, output="out.jsonl"):
    output = tmp_path / output
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "filter_rollouts.py"), "--input", *map(str, (
        source if isinstance(source, list) else [source])), "--output", str(output), *args], capture_output=True, text=True)
    return done, output


def manifest(output):
    return json.loads(output.with_name(output.stem + ".manifest.json").read_text())


def counts(output):
    return manifest(output)["counts"]


def kept_indices(output):
    """Which sample lines were written: the output must be made of the input's lines, as they were, in order."""
    written = output.read_bytes().splitlines(keepends=True)
    indices, start = [], 0
    for line in written:
        index = LINES.index(line, start)
        indices.append(index)
        start = index + 1
    return indices


def trainable(record, keep_masked=False):
    reason = skip_reason(record)
    return reason is None or (keep_masked and reason in ("masked sample", "failure record"))


def test_min_reward_as_the_seed_shows(tmp_path):
    done, output = run_filter(tmp_path, "--min_reward", "0.7")
    assert done.returncode == 0, done.stderr
    expected = [i for i, r in enumerate(RECORDS) if trainable(r) and r["reward"] >= 0.7]
    assert kept_indices(output) == expected and expected
    c = counts(output)
    assert c["reconciles"] and c["read"] == len(LINES) and c["rows_written"] == len(expected)
    assert c["skipped"] == {"reward below 0.7": sum(1 for r in RECORDS if trainable(r) and r["reward"] < 0.7),
                            "masked sample": sum(1 for r in RECORDS if r.get("mask_sample"))}
    assert f"wrote {output}" in done.stdout and "skipped" in done.stdout
    m = manifest(output)
    assert m["inputs"][0]["sha256"] == __import__("hashlib").sha256(SAMPLES.read_bytes()).hexdigest()
    assert m["run"]["filters"] == {"min_reward": 0.7}


def test_max_reward_and_reward_component(tmp_path):
    done, output = run_filter(tmp_path, "--reward-component", "correctness", "--max_reward", "0.0")
    assert done.returncode == 0, done.stderr
    expected = [i for i, r in enumerate(RECORDS) if trainable(r) and reward_of(r, "correctness") is not None
                and reward_of(r, "correctness") <= 0.0]
    assert kept_indices(output) == expected and expected
    missing = sum(1 for r in RECORDS if trainable(r) and reward_of(r, "correctness") is None)
    assert counts(output)["skipped"]["no reward component 'correctness'"] == missing > 0


def test_masked_records_dropped_unless_kept(tmp_path):
    masked = [i for i, r in enumerate(RECORDS) if r.get("mask_sample")]
    assert masked
    _, output = run_filter(tmp_path, "--max-turns", "100")
    assert not set(masked) & set(kept_indices(output)) and counts(output)["skipped"]["masked sample"] == len(masked)
    _, output = run_filter(tmp_path, "--max-turns", "100", "--keep-masked", output="kept.jsonl")
    assert set(masked) <= set(kept_indices(output)) and "masked sample" not in counts(output)["skipped"]


def test_top_k_keeps_the_best_of_each_task_earlier_lines_winning_ties(tmp_path):
    done, output = run_filter(tmp_path, "--top_k", "2")
    assert done.returncode == 0, done.stderr
    by_task = defaultdict(list)
    for i, r in enumerate(RECORDS):
        if trainable(r):
            by_task[task_key(r)].append(i)
    expected = sorted(i for members in by_task.values()
                      for i in sorted(members, key=lambda i: (-RECORDS[i]["reward"], i))[:2])
    assert kept_indices(output) == expected
    assert counts(output)["skipped"]["not in the top 2 of its task"] == sum(len(m) - 2 for m in by_task.values() if len(m) > 2)


def test_uniform_groups_are_dropped(tmp_path):
    _, output = run_filter(tmp_path, "--drop_uniform_groups")
    rewards = defaultdict(set)
    for r in RECORDS:
        if trainable(r):
            rewards[task_key(r)].add(r["reward"])
    uniform = {t for t, values in rewards.items() if len(values) == 1}
    assert uniform, "the samples need a task whose rollouts all scored the same"
    kept = [RECORDS[i] for i in kept_indices(output)]
    assert {task_key(r) for r in kept} == set(rewards) - uniform
    assert counts(output)["skipped"]["task rewards do not vary"] == sum(
        1 for r in RECORDS if trainable(r) and task_key(r) in uniform)


def test_dedupe_keeps_the_first_of_each_trajectory(tmp_path):
    _, output = run_filter(tmp_path, "--dedupe")
    seen, expected = set(), []
    for i, r in enumerate(RECORDS):
        if trainable(r) and (key := (task_key(r), trajectory_fingerprint(r))) not in seen:
            seen.add(key)
            expected.append(i)
    assert kept_indices(output) == expected
    assert counts(output)["skipped"]["duplicate trajectory"] == sum(1 for r in RECORDS if trainable(r)) - len(expected) > 0


def test_length_limits(tmp_path):
    _, output = run_filter(tmp_path, "--max-turns", "2", "--max-chars", "200")
    expected = [i for i, r in enumerate(RECORDS) if trainable(r) and count_turns(r) <= 2 and conversation_chars(r) <= 200]
    assert kept_indices(output) == expected and expected
    skipped = counts(output)["skipped"]
    assert skipped["more than 2 turns"] == sum(1 for r in RECORDS if trainable(r) and count_turns(r) > 2) > 0
    assert skipped["more than 200 characters"] == sum(
        1 for r in RECORDS if trainable(r) and count_turns(r) <= 2 and conversation_chars(r) > 200) > 0


def test_all_filters_compose(tmp_path):
    args = ("--min_reward", "0.0", "--max_reward", "1.0", "--dedupe", "--drop-uniform-groups", "--top-k", "1",
            "--max-turns", "3")
    done, output = run_filter(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    survivors = defaultdict(list)
    seen = set()
    for i, r in enumerate(RECORDS):
        if not trainable(r) or count_turns(r) > 3:
            continue
        key = (task_key(r), trajectory_fingerprint(r))
        if key not in seen:
            seen.add(key)
            survivors[task_key(r)].append(i)
    expected = sorted(min(members, key=lambda i: (-RECORDS[i]["reward"], i)) for members in survivors.values()
                      if len({RECORDS[i]["reward"] for i in members}) > 1)
    assert kept_indices(output) == expected and expected
    assert counts(output)["reconciles"]


def test_max_tokens_counts_with_the_chat_template(tmp_path):
    pytest.importorskip("tokenizers")
    from reference_impl.messages import chat_tool_schemas, rollout_messages
    from reference_impl.train.tiny_model import build_tokenizer, rollout_texts

    tokenizer = build_tokenizer(rollout_texts([SAMPLES]), vocab_size=512)
    tokenizer.save_pretrained(tmp_path / "tok")

    def tokens(record):
        prompt, trajectory = rollout_messages(record, dropped=Counter())
        ids = tokenizer.apply_chat_template(prompt + trajectory, tools=chat_tool_schemas(record) or None, tokenize=True)
        return len(ids["input_ids"] if hasattr(ids, "keys") else ids)

    sizes = sorted(tokens(r) for r in RECORDS if trainable(r))
    limit = sizes[len(sizes) // 2]
    done, output = run_filter(tmp_path, "--max-tokens", str(limit), "--tokenizer", str(tmp_path / "tok"))
    assert done.returncode == 0, done.stderr
    assert kept_indices(output) == [i for i, r in enumerate(RECORDS) if trainable(r) and tokens(r) <= limit]
    assert counts(output)["skipped"][f"more than {limit} tokens"] == sum(1 for s in sizes if s > limit) > 0


def test_transformers_is_imported_only_for_max_tokens(tmp_path):
    code = ("import sys; from reference_impl.cli import filter_main; "
            f"assert filter_main(['--input', {str(SAMPLES)!r}, '--output', {str(tmp_path / 'o.jsonl')!r}, "
            "'--top-k', '1', '--max-chars', '900']) == 0; "
            "heavy = {'transformers', 'torch', 'matplotlib'} & set(sys.modules); assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_bad_arguments(tmp_path):
    for args, message in [(("--max-tokens", "10"), "--max-tokens needs --tokenizer"),
                          (("--top-k", "0"), "--top-k must be at least 1"),
                          (("--min-reward", "1", "--max-reward", "0"), "nothing would be kept")]:
        done, _ = run_filter(tmp_path, *args)
        assert done.returncode == 2 and message in done.stderr
    done, _ = run_filter(tmp_path, "--min-reward", "1", output="out.parquet")
    assert done.returncode == 2 and "--output must end in .jsonl" in done.stderr
    done, _ = run_filter(tmp_path, "--max-tokens", "10", "--tokenizer", str(tmp_path / "no-such-tokenizer"))
    assert done.returncode == 1 and "cannot load the tokenizer" in done.stderr and "Traceback" not in done.stderr


def broken_copy(tmp_path):
    source = tmp_path / "in.jsonl"
    body = LINES[:3] + [b"not json\n", b'{"responses_create_params": {"input": "x"}, "reward": [1]}\n', b"[1, 2]\n",
                        b'{"reward": "\xff"}\n'] + LINES[3:6] + [LINES[6][:50]]
    source.write_bytes(b"".join(body))
    return source, {4: "not valid JSON", 5: "reward is an array, expected a number", 6: "a JSON array, not an object",
                    7: "not valid UTF-8", 11: "truncated last line"}


def test_strict_names_every_bad_line_and_writes_nothing(tmp_path):
    source, bad = broken_copy(tmp_path)
    done, output = run_filter(tmp_path, "--min_reward", "0.5", source=source)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert [int(e.split(":")[2]) for e in errors] == sorted(bad)
    assert all(bad[int(e.split(":")[2])] in e for e in errors)
    assert f"5 malformed lines of 11 read; nothing was written" in done.stderr and "--skip-invalid" in done.stderr
    assert not output.exists() and list(tmp_path.iterdir()) == [source], "a failed run leaves nothing behind"


@pytest.mark.parametrize("groups", [False, True], ids=["one-pass", "two-pass"])
def test_skip_invalid_writes_the_rest_and_the_rejects(tmp_path, groups):
    source, bad = broken_copy(tmp_path)
    done, output = run_filter(tmp_path, "--min_reward", "0.0", *(["--top-k", "4"] if groups else []), "--skip-invalid",
                              source=source)
    assert done.returncode == 0, done.stderr
    rejects = [json.loads(line) for line in output.with_name("out.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], bad[r["line"]] in r["reason"]) for r in rejects] == [(n, True) for n in sorted(bad)]
    c = counts(output)
    assert c["read"] == 11 and sum(c["rejected"].values()) == 5 and c["reconciles"]
    assert output.read_bytes() == b"".join(line for line in LINES[:6] if trainable(json.loads(line)))
    assert "out.rejects.jsonl" in done.stdout


def test_refuses_to_write_over_its_input(tmp_path):
    copy = tmp_path / "rollouts.jsonl"
    copy.write_bytes(SAMPLES.read_bytes())
    done, _ = run_filter(tmp_path, "--min_reward", "0.5", source=copy, output="rollouts.jsonl")
    assert done.returncode == 1 and "it is an input file" in done.stderr
    assert copy.read_bytes() == SAMPLES.read_bytes()


def test_several_inputs_gzip_and_the_same_file_twice(tmp_path):
    packed = tmp_path / "rollouts.jsonl.gz"
    packed.write_bytes(gzip.compress(SAMPLES.read_bytes()))
    done, output = run_filter(tmp_path, "--top-k", "1", source=[SAMPLES, packed])
    assert done.returncode == 0, done.stderr
    single, one = run_filter(tmp_path, "--top-k", "1", output="one.jsonl")
    # rollouts of different files are different tasks, even with the same prompts: the best of each, in each file
    assert output.read_bytes() == 2 * one.read_bytes()
    assert counts(output)["read"] == 2 * len(LINES) and counts(output)["reconciles"]
    done, output = run_filter(tmp_path, "--min-reward", "1", source=[SAMPLES, SAMPLES], output="twice.jsonl")
    once, _ = run_filter(tmp_path, "--min-reward", "1", output="once.jsonl")
    assert output.read_bytes() == 2 * (tmp_path / "once.jsonl").read_bytes()


def test_an_input_that_changes_between_the_passes_is_refused(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(SAMPLES.read_bytes())

    def then_change(rollouts):
        yield from rollouts
        with open(source, "ab") as handle:
            handle.write(LINES[0])

    convert = filter_converter(FilterOptions(top_k=1))
    with pytest.raises(InputChanged, match="changed while being filtered"):
        run([source], tmp_path / "out.jsonl", lambda rollouts, tally: convert(then_change(rollouts), tally),
            write_rows=RawLineWriter, progress=False)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.slow
def test_group_filters_do_not_hold_the_records(tmp_path):
    """Two passes over 6,000 rollouts of ~3 kB: the first pass keeps a few numbers per rollout."""
    from reference_impl.samples import sample_rollouts

    big = tmp_path / "big.jsonl"
    padding = "x" * 3000
    with open(big, "w") as handle:
        for record in sample_rollouts(tasks_per_kind=250, rollouts_per_task=6, seed=1):
            record["padding"] = padding
            handle.write(json.dumps(record) + "\n")
    size = big.stat().st_size
    convert = filter_converter(FilterOptions(top_k=2, drop_uniform_groups=True, dedupe=True))
    tally = Tally()
    tracemalloc.start()
    written = sum(len(line) for line in convert(read_rollouts([big], tally, progress=False), tally))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert tally.reconciles() and tally.read == 6000 and written > 0
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte file"


def test_tokenizer_without_transformers_gives_the_install_command(tmp_path, monkeypatch, capsys):
    import builtins

    from reference_impl.cli import filter_main

    real_import = builtins.__import__

    def no_transformers(name, *args, **kwargs):
        if name.split(".")[0] == "transformers":
            raise ModuleNotFoundError("No module named 'transformers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_transformers)
    status = filter_main(["--input", str(SAMPLES), "--output", str(tmp_path / "o.jsonl"), "--max-tokens", "10",
                          "--tokenizer", "some/model"])
    err = capsys.readouterr().err
    assert status == 1 and "pip install 'transformers==5.23.0'" in err and "Traceback" not in err
