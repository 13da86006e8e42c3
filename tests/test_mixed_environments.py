"""Real rollout files of many environments mixed, as users mix them: ``cat``, or several ``--input``.

Environments number their tasks from 0, so a mix has many "task 0"s; a game with a random start
gives every rollout task 0 with a different hand. A task group is one file, agent, task number and
prompt ({func}`reference_impl.rollouts.group_key`): these tests check every per-task feature against
that rule, computed here the obvious way.
"""

import json
from collections import defaultdict

import pytest
from paths import REAL_FILES, REAL_DATA

from reference_impl.cli import filter_main, prepare_main, stats_main
from reference_impl.rollouts import Rollout, iter_rollouts, reward_of, skip_reason, task_key

pytestmark = pytest.mark.skipif(not REAL_FILES, reason=f"no real rollouts at {REAL_DATA}")


def concatenated(folder, copies=1):
    """Every real file joined as ``cat`` would (a missing final newline added), ``copies`` times with
    rewards and answers varied, so that tasks have several rollouts whose rewards differ."""
    lines = []
    for path in REAL_FILES:
        lines += [line for line in path.read_bytes().splitlines() if line.strip()]
    out = []
    for copy in range(copies):
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                out.append(line)
                continue
            if copy and isinstance(record, dict) and isinstance(record.get("reward"), (int, float)):
                record["reward"] = record["reward"] + copy
                record.setdefault("response", {}).setdefault("output", []).append(
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": f"try {copy}"}]})
            out.append(json.dumps(record).encode() if copy else line)
    path = folder / "mixed.jsonl"
    path.write_bytes(b"\n".join(out) + b"\n")
    return path


def groups(path, keep=lambda record: True):
    found = defaultdict(list)
    for item in iter_rollouts(path):
        if isinstance(item, Rollout) and keep(item.record):
            found[task_key(item.record)].append(item.record)
    return found


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_mix_has_colliding_task_indices(tmp_path):
    mixed = concatenated(tmp_path)
    indices = defaultdict(set)
    for item in iter_rollouts(mixed):
        if isinstance(item, Rollout) and "_ng_task_index" in item.record:
            indices[item.record["_ng_task_index"]].add(task_key(item.record))
    assert max(len(keys) for keys in indices.values()) > 5, "the mix should have many different tasks numbered alike"


def test_grpo_writes_one_prompt_per_environment_and_prompt(tmp_path):
    mixed = concatenated(tmp_path)
    out = tmp_path / "grpo.jsonl"
    assert prepare_main("nemo_rl", ["--input", str(mixed), "--output", str(out), "--algorithm", "grpo",
                                    "--skip-invalid", "--agent-name", "fallback_agent"]) == 0
    expected = groups(mixed, lambda r: r.get("responses_create_params") is not None)
    written = rows(out)
    assert len(written) == len(expected) > 20
    def asked(agent, params):
        return agent, json.dumps(params.get("input"), sort_keys=True), json.dumps(params.get("tools"), sort_keys=True)

    assert sorted(asked(row["agent_ref"]["name"], row["responses_create_params"]) for row in written) == sorted(
        asked((records[0].get("agent_ref") or {}).get("name") or "fallback_agent", records[0]["responses_create_params"])
        for records in expected.values())


def test_no_preference_pair_joins_two_prompts(tmp_path):
    mixed = concatenated(tmp_path, copies=2)
    out = tmp_path / "dpo.jsonl"
    assert prepare_main("trl", ["--input", str(mixed), "--output", str(out), "--algorithm", "dpo", "--skip-invalid"]) == 0
    tasks = groups(mixed, lambda r: skip_reason(r) is None)
    pairs = rows(out)
    assert 10 < len(pairs) <= len(tasks)
    for pair in pairs:
        # the chosen rollout is the varied copy ("try 1"), the rejected its original: the same task
        assert pair["chosen"][-1]["content"] == "try 1", pair["chosen"][-1]
        assert pair["rejected"][-1]["content"] != "try 1"


def test_a_random_start_game_is_many_tasks(tmp_path):
    hands = ["[10, 3]", "[9, 9]", "[2, 5]"]
    lines = []
    for i, hand in enumerate(hands * 2):
        lines.append(json.dumps({
            "responses_create_params": {"input": f"Your hand: {hand}. Hit or stand?"}, "agent_ref": {"name": "blackjack"},
            "_ng_task_index": 0, "reward": float(i >= 3),
            "response": {"output": [{"type": "message", "role": "assistant",
                                     "content": [{"type": "output_text", "text": "hit" if i < 3 else "stand"}]}]}}))
    path = tmp_path / "blackjack.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "dpo.jsonl"
    assert prepare_main("trl", ["--input", str(path), "--output", str(out), "--algorithm", "dpo"]) == 0
    pairs = rows(out)
    assert len(pairs) == 3
    assert sorted(p["prompt"][0]["content"] for p in pairs) == sorted(f"Your hand: {h}. Hit or stand?" for h in hands)
    kept = tmp_path / "kept.jsonl"
    assert filter_main(["--input", str(path), "--output", str(kept), "--dedupe", "--top-k", "1"]) == 0
    assert len(kept.read_text().splitlines()) == 3  # the best of each game; no game is a "duplicate" of another
    report = tmp_path / "r.json"
    assert stats_main(["--input", str(path), "--report", str(report), "--no-progress"]) == 0
    assert json.loads(report.read_text())["tasks"] == 3


def test_several_inputs_are_several_environments(tmp_path):
    source = REAL_DATA / "math_with_judge.jsonl"
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for target in (one, two):
        target.write_bytes(source.read_bytes())
    out = tmp_path / "grpo.jsonl"
    assert prepare_main("trl", ["--input", str(one), str(two), "--output", str(out), "--algorithm", "grpo"]) == 0
    alone = tmp_path / "alone.jsonl"
    assert prepare_main("trl", ["--input", str(one), "--output", str(alone), "--algorithm", "grpo"]) == 0
    assert out.read_bytes() == 2 * alone.read_bytes()
    report = tmp_path / "r.json"
    assert stats_main(["--input", str(one), str(two), "--report", str(report), "--no-progress"]) == 0
    tasks = json.loads(report.read_text())
    assert tasks["tasks"] == 2 * len(groups(one)) and all(name.startswith(("one: ", "two: ")) for name in tasks["per_task"])


def test_filters_and_stats_count_the_mix_by_task(tmp_path):
    mixed = concatenated(tmp_path)
    kept = tmp_path / "kept.jsonl"
    assert filter_main(["--input", str(mixed), "--output", str(kept), "--top-k", "1", "--skip-invalid"]) == 0
    usable = groups(mixed, lambda r: skip_reason(r) is None)
    assert len(kept.read_text().splitlines()) == len(usable)
    report = tmp_path / "r.json"
    assert stats_main(["--input", str(mixed), "--report", str(report), "--skip-invalid", "--no-progress"]) == 0
    assert json.loads(report.read_text())["tasks"] == len(groups(mixed, lambda r: skip_reason(r) is None and reward_of(r) is not None))


def test_a_rollout_without_an_assistant_turn_takes_no_part_in_pairs(tmp_path):
    """It would end in a traceback when it was a task's best or worst; now it is skipped with its reason."""
    def record(reward, output):
        return json.dumps({"responses_create_params": {"input": "2+2?"}, "_ng_task_index": 0, "reward": reward,
                           "response": {"output": output}})

    answer = lambda text: [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}]  # noqa: E731
    no_turn = [{"type": "function_call_output", "call_id": "c1", "output": "4"}]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join([record(1.0, no_turn), record(0.5, answer("4")), record(0.0, answer("5"))]) + "\n")
    for target in ("trl", "nemo_rl", "openrlhf"):
        out = tmp_path / f"{target}.jsonl"
        assert prepare_main(target, ["--input", str(path), "--output", str(out), "--algorithm", "dpo"]) == 0
        [row] = rows(out)
        counts = json.loads(out.with_name(f"{target}.manifest.json").read_text())["counts"]
        assert counts["used"] == 2 and counts["skipped"] == {"no assistant turn in the trajectory": 1}


def test_nemo_rl_grpo_rows_carry_every_task_field_as_it_is(tmp_path):
    """NeMo Gym passes a row's fields to the environment's verify(), whose request model declares
    their types: instruction_following's ``kwargs`` and ``instruction_id_list`` are lists and its
    ``prompt`` is required, tau2 needs its ``task``. Each row keeps the fields of its task's first
    rollout with their JSON values, and none of what the rollout added."""
    mixed = concatenated(tmp_path)
    out = tmp_path / "grpo.jsonl"
    assert prepare_main("nemo_rl", ["--input", str(mixed), "--output", str(out), "--algorithm", "grpo",
                                    "--skip-invalid", "--agent-name", "fallback_agent"]) == 0
    first = {key: records[0] for key, records in groups(mixed).items()}
    by_fields = {}
    for row in rows(out):
        own = {k: v for k, v in row.items() if k not in ("responses_create_params", "agent_ref")}
        assert not {"response", "reward", "reward_components", "mask_sample"} & set(own)
        assert not [k for k in own if k.startswith(("_ng_", "ng_"))]
        by_fields[json.dumps(row["responses_create_params"], sort_keys=True)] = own
    checked = 0
    for record in first.values():
        params = {k: v for k, v in (record.get("responses_create_params") or {}).items() if v is not None}
        own = by_fields.get(json.dumps(params, sort_keys=True))
        if own is None:
            continue
        for name in ("kwargs", "instruction_id_list", "prompt", "task", "expected_answer", "metadata"):
            if name in record:
                assert own[name] == record[name], name
                checked += 1
    assert checked >= 10


def test_nemo_rl_grpo_task_fields_keep_the_named_fields_as_they_are(tmp_path):
    """--task-fields names the fields a NeMo Gym row keeps; their values stay JSON values (a list
    stays a list), and a field a record lacks is left out, not written as null."""
    source = REAL_DATA / "instruction_following.jsonl"
    out = tmp_path / "grpo.jsonl"
    assert prepare_main("nemo_rl", ["--input", str(source), "--output", str(out), "--algorithm", "grpo",
                                    "--agent-name", "if_agent", "--task-fields", "kwargs,prompt,expected_answer"]) == 0
    records = [item.record for item in iter_rollouts(source) if isinstance(item, Rollout)]
    written = rows(out)
    assert len(written) == len(records) > 0
    for row, record in zip(written, records):
        assert list(row) == ["responses_create_params", "agent_ref", "kwargs", "prompt"]
        assert row["kwargs"] == record["kwargs"] and isinstance(row["kwargs"], list)
        assert row["prompt"] == record["prompt"]
