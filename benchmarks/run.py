#!/usr/bin/env python3
"""Side by side, on one rollout file: the project's scripts, the load-everything ways they
replace, and the parse-only floors of the machine; time, throughput and peak memory of each.

The approaches (``--approaches``; each runs in a process of its own, started fresh):

* ``floor``: every line through ``orjson.loads`` in one process, nothing else;
* ``floor_all_cores``: the same over line-aligned byte ranges, one process per core: the
  fastest any reader of this machine could be;
* ``prepare``: ``scripts/prepare.py`` writing TRL SFT, VeRL GRPO and TRL DPO from one read
  (``--prepare-to`` names other outputs);
* ``plain_all_cores``: the simplest Python that writes the same kinds of rows as ``prepare``
  (the plain functions below, over byte ranges on all cores), with no checks, no counts, no
  checksums and no parquet: a bound on any Python converter of those outputs;
* ``filter`` and ``filter_load_all``: ``scripts/filter_rollouts.py --min-reward 0.5``, and
  the same records kept by loading every line with ``json.loads`` first and writing the kept
  ones with ``json.dumps``;
* ``stats`` and ``stats_load_all``: ``scripts/rollout_stats.py --report``, and the same
  numbers (reward quantiles, pass rate, pass@k per task, turns, tool calls) from a list of
  every record;
* ``two_step``: the guide's flow, ``filter_rollouts.py --min-reward 1.0`` and then
  ``prepare_for_trl.py --algorithm sft`` on the filtered file;
* ``sft_grpo``, ``sft_grpo_load_all`` and ``sft_grpo_datasets``: one conversion done three
  ways (keep the rollouts with reward >= 0.5 that are not masked, write TRL SFT rows to JSON
  Lines and VeRL GRPO prompts to parquet): ``prepare.py``; the draft page's
  ``[json.loads(line) for line in open(...)]`` and plain Python; Hugging Face ``datasets``
  (``load_dataset("json")``, ``.filter``, ``.map``, ``.to_json``, ``.to_parquet``).

``--cores 1 2`` runs each approach once for each number of cores, pinned to that many
(``sched_setaffinity``; the scripts start one worker per core they may use).

Wall time, CPU time (of all the approach's processes) and peak memory are measured from
outside. Peak memory is the larger of ``ru_maxrss`` (the largest single process) and the
memory of the whole process tree (the sum of its processes' PSS, sampled 20 times a second):
the scripts fork workers. Each sample costs 3-8 ms of a core, time that a run using every
core would lose: a fast approach is timed in runs that are not sampled (the median of
``--repeat``), and sampled in one more run. Before each run, what earlier runs wrote is put
on disk (``os.sync``). After the clock stops, each approach's output is summarised
(``check``), so that the run shows that the ways being compared agree.

    python benchmarks/run.py --input big.jsonl --json results.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
MIN_REWARD = 0.5
TWO_STEP_MIN_REWARD = 1.0  # as the guide's two-step example (prepare-for-training.md)
PASS_THRESHOLD = 1.0  # rollout_stats.py's default
PREPARE_TO = ("trl:sft=sft.jsonl", "verl:grpo=grpo.parquet", "trl:dpo=dpo.jsonl")
APPROACHES = ("floor", "floor_all_cores", "prepare", "plain_all_cores", "filter", "filter_load_all", "stats", "stats_load_all", "two_step",
              "sft_grpo", "sft_grpo_load_all", "sft_grpo_datasets")
LOADS_ALL = ("filter_load_all", "stats_load_all", "sft_grpo_load_all")
SLOW = LOADS_ALL + ("sft_grpo_datasets",)  # minutes long: run once
LOAD_ALL_BYTES_PER_INPUT_BYTE = 5.0  # every record as Python objects; measured ~3.6-4.1x, with margin


# --- the approaches (each runs in a process of its own: `run.py --one NAME`) ---------------------


def _scripts(commands: list[list], work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in commands:
        subprocess.run([sys.executable] + [str(part) for part in command] + ["--no-progress"], check=True, env=env,
                       stdout=subprocess.DEVNULL, cwd=work)


def _counts(manifest: Path) -> dict:
    return json.loads(manifest.read_text())["counts"]


def prepare(source: Path, work: Path, outputs=PREPARE_TO, options: tuple = ()) -> int:
    """``prepare.py``: one read of the input, every output written from it (into ``work``)."""
    command = [ROOT / "scripts" / "prepare.py", "--input", source, *options]
    for output in outputs:
        command += ["--to", output]
    _scripts([command], work)
    paths = [output.split("=", 1)[1] for output in outputs]
    (work / "check.json").write_text(json.dumps({path: _counts(work / f"{Path(path).stem}.manifest.json")["rows_written"]
                                                 for path in paths}))
    return _counts(work / f"{Path(paths[0]).stem}.manifest.json")["read"]


def filter_ours(source: Path, work: Path) -> int:
    """``filter_rollouts.py --min-reward 0.5``: the kept lines, byte for byte."""
    _scripts([[ROOT / "scripts" / "filter_rollouts.py", "--input", source, "--output", work / "kept.jsonl",
               "--min-reward", str(MIN_REWARD)]], work)
    return _counts(work / "kept.manifest.json")["read"]


def stats_ours(source: Path, work: Path) -> int:
    """``rollout_stats.py --report``: the report's numbers, as JSON."""
    _scripts([[ROOT / "scripts" / "rollout_stats.py", "--input", source, "--report", work / "stats.json"]], work)
    return json.loads((work / "stats.json").read_text())["records"]


def two_step(source: Path, work: Path) -> int:
    """The guide's flow: filter_rollouts.py, then prepare_for_trl.py on what it kept."""
    scripts, kept = ROOT / "scripts", work / "best.jsonl"
    _scripts([
        [scripts / "filter_rollouts.py", "--input", source, "--output", kept, "--min-reward", str(TWO_STEP_MIN_REWARD)],
        [scripts / "prepare_for_trl.py", "--input", kept, "--output", work / "sft.jsonl", "--algorithm", "sft"],
    ], work)
    (work / "check.json").write_text(json.dumps({"sft.jsonl": _counts(work / "sft.manifest.json")["rows_written"]}))
    return _counts(work / "best.manifest.json")["read"]


def sft_grpo(source: Path, work: Path) -> int:
    """``prepare.py --min-reward 0.5`` writing TRL SFT JSONL and VeRL GRPO parquet from one read."""
    return prepare(source, work, ("trl:sft=sft.jsonl", "verl:grpo=grpo.parquet"), ("--min-reward", MIN_REWARD))


def load_all(source: Path) -> list:
    """The draft page's way: every line into memory with json.loads."""
    return [json.loads(line) for line in open(source)]


def plain_text(content) -> str:
    """A message's text: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content or [] if part.get("type") in ("input_text", "output_text", "text"))


def plain_messages(items) -> list:
    """Responses-API items to chat messages, the way a user writes it after reading the seed page."""
    messages, reasoning, names, turn = [], [], {}, None
    for item in items:
        kind = item.get("type") or "message"
        if kind == "reasoning":
            text = "\n".join(part["text"] for part in item.get("summary") or [])
            if text:
                reasoning.append(text)
        elif kind == "message" and item["role"] == "assistant":
            turn = {"role": "assistant", "content": plain_text(item.get("content"))}
            if reasoning:
                turn["reasoning_content"] = "\n".join(reasoning)
                reasoning = []
            messages.append(turn)
        elif kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": plain_text(item.get("content"))})
            turn = None
        elif kind == "function_call":
            names[item["call_id"]] = item["name"]
            if turn is None or turn is not messages[-1] or reasoning:
                turn = {"role": "assistant", "content": ""}
                if reasoning:
                    turn["reasoning_content"] = "\n".join(reasoning)
                    reasoning = []
                messages.append(turn)
            turn.setdefault("tool_calls", []).append({"id": item["call_id"], "type": "function", "function": {
                "name": item["name"], "arguments": json.loads(item["arguments"])}})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "name": names.get(item["call_id"], ""),
                             "content": item["output"]})
            turn = None
    return messages


def plain_prompt(rollout) -> list:
    params = rollout["responses_create_params"]
    if isinstance(params["input"], str):
        return [{"role": "user", "content": params["input"]}]
    prompt = plain_messages(params["input"])
    if params.get("instructions") and not (prompt and prompt[0]["role"] == "system"):
        prompt.insert(0, {"role": "system", "content": params["instructions"]})
    return prompt


def plain_tools(rollout):
    tools = [{"type": "function", "function": {"name": tool["name"], **({"description": tool["description"]}
                                                                       if tool.get("description") else {}),
                                               "parameters": tool["parameters"]}}
             for tool in rollout["responses_create_params"].get("tools") or []]
    return json.dumps(tools, separators=(",", ":"), ensure_ascii=False) if tools else None


def plain_sft_row(rollout, prompt: list | None = None) -> dict:
    """A TRL SFT row: the prompt (``plain_prompt``'s, unless given) and the trajectory up to its
    last assistant turn, and the tools."""
    messages = (plain_prompt(rollout) if prompt is None else prompt) + plain_messages(rollout["response"]["output"])
    while messages[-1]["role"] != "assistant":
        messages.pop()
    return {"messages": messages, "tools": plain_tools(rollout)}


def plain_keep(rollout) -> bool:
    return (rollout.get("reward") or 0) >= MIN_REWARD and not rollout.get("mask_sample")


def plain_grpo_rows(rollouts) -> list:
    """VeRL GRPO rows: the first rollout of each task that has a ground truth."""
    from reference_impl.rollouts import task_key

    rows, seen = [], set()
    for rollout in rollouts:
        task = task_key(rollout)  # the same agent, task number and prompt (a number alone is no task)
        if task in seen:
            continue
        seen.add(task)
        row = plain_grpo_row(rollout, task, plain_prompt(rollout), len(rows))
        if row is not None:
            rows.append(row)
    return rows


def plain_grpo_row(rollout, task: str, prompt: list, index: int) -> dict | None:
    """A VeRL GRPO row of a task's first rollout, or ``None`` without a ground truth."""
    from reference_impl.rollouts import ground_truth

    found = ground_truth(rollout)
    if found is None:
        return None
    truth = found[1] if isinstance(found[1], str) else json.dumps(found[1], separators=(",", ":"), ensure_ascii=False)
    return {"data_source": f"nemo_gym/{rollout['agent_ref']['name']}",
            "prompt": [{"role": m["role"], "content": m["content"]} for m in prompt],
            "ability": "nemo_gym",
            "reward_model": {"style": "rule", "ground_truth": truth},
            "extra_info": {"index": index, "split": "train", "task": task}}


def sft_grpo_load_all(source: Path, work: Path) -> int:
    """The draft page's way: every line into memory with json.loads, then lists all the way."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rollouts = load_all(source)
    kept = [r for r in rollouts if plain_keep(r)]
    with open(work / "sft.jsonl", "w") as out:
        for rollout in kept:
            out.write(json.dumps(plain_sft_row(rollout), ensure_ascii=False) + "\n")
    pq.write_table(pa.Table.from_pylist(plain_grpo_rows(kept)), work / "grpo.parquet")
    return len(rollouts)


def filter_load_all(source: Path, work: Path) -> int:
    """Load every record, keep those with reward >= 0.5 that are not masked, write them with json.dumps."""
    rollouts = load_all(source)
    with open(work / "kept.jsonl", "w") as out:
        for rollout in rollouts:
            if plain_keep(rollout):
                out.write(json.dumps(rollout, ensure_ascii=False) + "\n")
    return len(rollouts)


def _quantile(ordered: list, q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _pass_at_k(n: int, c: int, k: int) -> float:
    from math import comb

    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)


def plain_steps(rollout) -> list:
    """The output items of a rollout (aviary's step lists made one list)."""
    items = ((rollout.get("response") or {}).get("output")) or []
    return [item for step in items for item in (step if isinstance(step, list) else [step]) if isinstance(item, dict)]


def stats_load_all(source: Path, work: Path) -> int:
    """Load every record, then the report's numbers from the list."""
    from reference_impl.rollouts import task_key

    rollouts = load_all(source)
    scored = [r for r in rollouts if isinstance(r.get("reward"), (int, float)) and plain_steps(r)
              and not r.get("mask_sample") and not r.get("_ng_failure_class")]
    tasks: dict = {}
    for rollout in scored:
        tasks.setdefault(task_key(rollout), []).append(rollout["reward"])
    rewards = sorted(r["reward"] for r in scored)
    per_task = {}
    for task, values in tasks.items():
        passed = sum(value >= PASS_THRESHOLD for value in values)
        per_task[task] = {"rollouts": len(values), "passed": passed, "mean_reward": sum(values) / len(values),
                          "pass_at_k": {k: _pass_at_k(len(values), passed, k) for k in (1, 2, 4, 8) if k <= len(values)}}
    turns = sorted(sum(item.get("type") == "message" and item.get("role") == "assistant" for item in plain_steps(r))
                   for r in scored)
    calls = sorted(sum(item.get("type") == "function_call" for item in plain_steps(r)) for r in scored)
    report = {"records": len(rollouts), "rollouts": len(scored), "tasks": len(tasks),
              "reward": {"mean": sum(rewards) / len(rewards) if rewards else None,
                         **{f"p{q}": _quantile(rewards, q / 100) for q in (10, 25, 50, 75, 90)}},
              "pass_rate": sum(value >= PASS_THRESHOLD for value in rewards) / len(rewards) if rewards else None,
              "turns_max": turns[-1] if turns else 0, "tool_calls_max": calls[-1] if calls else 0, "per_task": per_task}
    (work / "stats.json").write_text(json.dumps(report))
    return len(rollouts)


def sft_grpo_datasets(source: Path, work: Path) -> int:
    """load_dataset("json"), .filter, .map, .to_json / .to_parquet, with the plain functions."""
    import datasets
    from datasets import load_dataset

    datasets.disable_progress_bars()
    cache = str(work / "hf-cache")
    data = load_dataset("json", data_files=str(source), split="train", cache_dir=cache)
    kept = data.filter(plain_keep)
    kept.map(plain_sft_row, remove_columns=kept.column_names).to_json(str(work / "sft.jsonl"))
    seen: set = set()
    from reference_impl.rollouts import ground_truth, task_key

    keys = (task_key(rollout) for rollout in kept)
    firsts = [i for i, task in enumerate(keys) if not (task in seen or seen.add(task))]
    first = kept.select(firsts).filter(lambda rollout: ground_truth(rollout) is not None)

    def grpo_row(rollout, index):
        [row] = plain_grpo_rows([rollout])
        row["extra_info"]["index"] = index
        return row

    first.map(grpo_row, with_indices=True, remove_columns=first.column_names).to_parquet(str(work / "grpo.parquet"))
    return len(data)


def floor(source: Path, work: Path) -> int:
    """Parse every line with orjson, and nothing else."""
    import orjson

    count = 0
    with open(source, "rb", buffering=1 << 20) as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def _span_lines(path: str, start: int, end: int) -> Iterator[bytes]:
    """The lines that start in a byte range of a file (``start`` at the start of a line)."""
    position = start
    with open(path, "rb", buffering=1 << 20) as handle:
        handle.seek(start)
        for line in handle:
            if position >= end:
                return
            position += len(line)
            yield line


def _parse_span(job: tuple[str, int, int]) -> int:
    """In a worker: parse every line of one byte range of a file; how many there were."""
    import orjson

    count = 0
    for line in _span_lines(*job):
        orjson.loads(line)
        count += 1
    return count


def _plain_span(job: tuple) -> tuple[int, dict]:
    """In a worker: the simplest Python for prepare.py's outputs over one byte range of a file.

    Each output's rows of the range go to a file of its own (``sft``, ``kto``: a row per
    rollout with a reward; ``grpo``: a prompt row for the first rollout of each task with a
    ground truth); ``dpo`` keeps the best and the worst rollout of each task for the parent.
    No record or row is checked, nothing is counted, no checksum taken: a bound on what any
    Python converter of these outputs costs. Returns the lines read and the ``dpo`` extremes."""
    import orjson

    from reference_impl.rollouts import flatten_step_lists, task_key

    path, start, end, algorithms, folder, number = job
    files = {name: open(Path(folder) / f"{name}-{number}.jsonl", "wb", buffering=1 << 20)
             for name in algorithms if name != "dpo"}
    extremes: dict = {}
    seen: set = set()
    count = prompt_rows = 0
    for line in _span_lines(path, start, end):
        count += 1
        rollout = flatten_step_lists(orjson.loads(line))  # aviary's step lists, one trajectory
        reward = rollout.get("reward")
        if reward is None or rollout.get("mask_sample") or not (rollout.get("response") or {}).get("output"):
            continue
        try:
            prompt = plain_prompt(rollout)  # made once, for every output
            row = plain_sft_row(rollout, prompt)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):  # no assistant turn, an odd item
            continue
        if "sft" in files:
            files["sft"].write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
        if "kto" in files:
            files["kto"].write(orjson.dumps({"prompt": prompt, "completion": row["messages"][len(prompt):],
                                             "label": reward >= MIN_REWARD, "tools": row["tools"]},
                                            option=orjson.OPT_APPEND_NEWLINE))
        task = task_key(rollout)
        if "grpo" in files and task not in seen:
            seen.add(task)
            prompt_row = plain_grpo_row(rollout, task, prompt, prompt_rows) if "agent_ref" in rollout else None
            if prompt_row is not None:
                files["grpo"].write(orjson.dumps(prompt_row, option=orjson.OPT_APPEND_NEWLINE))
                prompt_rows += 1
        if "dpo" in algorithms:
            low, high = extremes.get(task, (None, None))
            if low is None or reward < low[0]:
                low = (reward, row)
            if high is None or reward > high[0]:
                high = (reward, row)
            extremes[task] = (low, high)
    for file in files.values():
        file.close()
    return count, extremes


def plain_all_cores(source: Path, work: Path, outputs=PREPARE_TO) -> int:
    """The simplest Python for prepare.py's outputs (see :func:`_plain_span`), over line-aligned
    byte ranges, one process per core; the parent writes the preference pairs."""
    from concurrent.futures import ProcessPoolExecutor

    import orjson

    from reference_impl.pipeline import line_aligned_spans

    algorithms = [output.split("=", 1)[0].split(":")[1] for output in outputs]
    spans = line_aligned_spans(source, len(os.sched_getaffinity(0)))
    jobs = [(str(source), start, end, algorithms, str(work), n) for n, (start, end) in enumerate(spans)]
    with ProcessPoolExecutor(max_workers=len(spans)) as pool:
        results = list(pool.map(_plain_span, jobs))
    if "dpo" in algorithms:
        merged: dict = {}
        for _, extremes in results:
            for task, (low, high) in extremes.items():
                before = merged.get(task)
                merged[task] = (low, high) if before is None else (min(before[0], low, key=lambda x: x[0]),
                                                                   max(before[1], high, key=lambda x: x[0]))
        with open(work / "dpo.jsonl", "wb") as out:
            for (low, worst), (high, best) in merged.values():
                if high > low:
                    out.write(orjson.dumps({"chosen": best["messages"], "rejected": worst["messages"]},
                                           option=orjson.OPT_APPEND_NEWLINE))
    return sum(count for count, _ in results)


def floor_all_cores(source: Path, work: Path) -> int:
    """Parse every line with orjson, over line-aligned byte ranges, one process per core."""
    from concurrent.futures import ProcessPoolExecutor

    from reference_impl.pipeline import line_aligned_spans

    cores = len(os.sched_getaffinity(0))
    spans = line_aligned_spans(source, cores)
    with ProcessPoolExecutor(max_workers=len(spans)) as pool:
        return sum(pool.map(_parse_span, [(str(source), start, end) for start, end in spans]))


FUNCTIONS = {"floor": floor, "floor_all_cores": floor_all_cores, "prepare": prepare, "filter": filter_ours,
             "filter_load_all": filter_load_all, "stats": stats_ours, "stats_load_all": stats_load_all,
             "two_step": two_step, "sft_grpo": sft_grpo, "sft_grpo_load_all": sft_grpo_load_all,
             "sft_grpo_datasets": sft_grpo_datasets, "plain_all_cores": plain_all_cores}
# --- the rows each wrote, as one digest (computed after the clock stops) -------------------------


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def rows_digest(work: Path) -> dict | None:
    """SHA-256 of the SFT rows and of the GRPO rows, each row canonical (sorted keys), in order.

    ``*_without_nulls`` drops null fields first: parquet and Arrow give every row of a column the
    same fields, filling the missing ones with nulls.
    """
    import orjson
    import pyarrow.parquet as pq

    sft, grpo = work / "sft.jsonl", work / "grpo.parquet"
    if not (sft.exists() and grpo.exists()):
        return None
    digests = {name: hashlib.sha256() for name in ("sft", "sft_without_nulls", "grpo", "grpo_without_nulls")}
    rows = {"sft": 0, "grpo": 0}

    def add(kind, row):
        rows[kind] += 1
        digests[kind].update(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n")
        digests[f"{kind}_without_nulls"].update(orjson.dumps(_without_nulls(row), option=orjson.OPT_SORT_KEYS) + b"\n")

    with open(sft, "rb") as handle:
        for line in handle:
            add("sft", orjson.loads(line))
    for batch in pq.ParquetFile(grpo).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            add("grpo", row)
    return {**{f"{k}_rows": v for k, v in rows.items()}, **{k: d.hexdigest()[:16] for k, d in digests.items()}}


def memory_available() -> int:
    """Bytes of memory available now (/proc/meminfo MemAvailable)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_rss(pid: int) -> int:
    """Bytes of memory that a process and all its descendants hold now (Linux ``/proc``):
    the sum of their proportional set sizes (PSS), so that pages a forked worker shares
    with its parent count once. An approach that forks workers is charged for all of them."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += next(int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, StopIteration, ValueError):  # it ended meanwhile
            continue
    return total


class TreeMemory:
    """The peak of :func:`tree_rss` of a process, sampled 20 times a second on a thread."""

    def __init__(self, pid: int):
        import threading

        self.pid, self.peak, self.done = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, tree_rss(self.pid))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (a failed run, if any, is the answer); with the times of all."""
    failed = [run for run in runs if "seconds" not in run]
    if failed:
        return failed[0]
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**middle, "runs": len(runs), "all_seconds": sorted(run["seconds"] for run in runs)} if len(runs) > 1 else middle


def with_memory_of(timed: dict, sampled: dict) -> dict:
    """The timed runs' median, with the peak memory of the run that sampled it (the larger
    of its peaks: the timed runs' ``ru_maxrss`` counts too); a failed run is the answer.

    >>> with_memory_of({"seconds": 2.0, "peak_rss_mb": 40}, {"seconds": 2.2, "peak_rss_mb": 55})
    {'seconds': 2.0, 'peak_rss_mb': 55}
    """
    if "seconds" not in timed:
        return timed
    if "seconds" not in sampled:
        return sampled
    return {**timed, "peak_rss_mb": max(timed["peak_rss_mb"], sampled["peak_rss_mb"])}


def machine() -> dict:
    """The machine and the versions the numbers were measured on."""
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory / 2**30, 1),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "packages": {name: version(name) for name in ("orjson", "pyarrow", "datasets")}}


def kept_digest(path: Path) -> dict:
    """How many records a filter kept, and a digest of them (each canonical: sorted keys, compact)."""
    import orjson

    digest, count = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for line in handle:
            digest.update(orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS) + b"\n")
            count += 1
    return {"kept": count, "digest": digest.hexdigest()[:16]}


def report_numbers(path: Path) -> dict:
    """The numbers both stats ways report: records, scored rollouts, tasks, mean reward, pass rate."""
    report = json.loads(path.read_text())
    mean = report["reward"]["mean"]
    return {"records": report["records"], "rollouts": report["rollouts"], "tasks": report["tasks"],
            "mean_reward": None if mean is None else round(mean, 6),
            "pass_rate": None if report["pass_rate"] is None else round(report["pass_rate"], 6)}


def check(name: str, work: Path) -> dict | None:
    """What an approach wrote, summed up so that the ways being compared can be seen to agree."""
    if name.startswith("floor"):
        return None
    if name in ("prepare", "two_step"):
        return {"rows": json.loads((work / "check.json").read_text())}
    if name == "plain_all_cores":
        rows: dict = {}
        for part in sorted(work.glob("*.jsonl")):
            kind = part.stem.split("-")[0]
            with open(part, "rb") as lines:
                rows[kind] = rows.get(kind, 0) + sum(1 for _ in lines)
        return {"rows": rows}
    if name.startswith("filter"):
        return kept_digest(work / "kept.jsonl")
    if name.startswith("stats"):
        return report_numbers(work / "stats.json")
    return rows_digest(work)


def run_one(name: str, source: Path, work: Path, prepare_to: list[str]) -> None:
    """In the child process: run one approach and print how many records it read."""
    with_outputs = name in ("prepare", "plain_all_cores")
    records = FUNCTIONS[name](source, work, prepare_to) if with_outputs else FUNCTIONS[name](source, work)
    print(json.dumps({"records": records}), flush=True)


def measure(name: str, source: Path, work: Path, *, cores: int, memory_cap: int | None, prepare_to: list[str],
            sample: bool = True) -> dict:
    """Run one approach in a fresh child process pinned to ``cores`` cores; its wall time, CPU
    time and peak memory (``ru_maxrss`` from ``os.wait4``, and, with ``sample``, the tree's PSS).

    What earlier runs wrote is put on disk first (``os.sync``), so that its writing back does
    not fall into this run's time. Sampling the tree's memory costs 3-8 ms of a core each time:
    runs that are timed for their speed are better left unsampled (see ``main``)."""
    def limit():  # in the child, before exec
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cores])
        if memory_cap:  # cap its address space, so that it fails rather than swamps the machine
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))

    command = [sys.executable, __file__, "--one", name, "--input", str(source), "--workdir", str(work),
               "--prepare-to", *prepare_to]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_DATASETS_CACHE": str(work / "hf-cache"), "HF_HUB_OFFLINE": "1"}
    with open(work.parent / f"{work.name}.stdout", "w+") as out, open(work.parent / f"{work.name}.stderr", "w+") as errors:
        os.sync()
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=errors, preexec_fn=limit, env=env)
        memory = TreeMemory(child.pid) if sample else None
        _, status, usage = os.wait4(child.pid, 0)
        tree_peak = memory.stop() if memory is not None else 0
        seconds = time.perf_counter() - started
        returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
        errors.seek(0)
        stderr = errors.read()
    for stream in (out, errors):
        Path(stream.name).unlink()
    if returncode != 0:
        reason = (stderr.strip().splitlines() or [f"exit status {returncode}"])[-1][:300]
        if "MemoryError" in stderr or returncode == -9:
            reason = f"ran out of its {memory_cap / 2**30:.0f} GiB memory cap ({reason})"
        return {"approach": name, "cores": cores, "failed": reason}
    records = json.loads(output.strip().splitlines()[-1])["records"]
    size = source.stat().st_size
    return {"approach": name, "cores": cores, "records": records, "seconds": round(seconds, 2),
            "records_per_second": round(records / seconds), "mb_per_second": round(size / 1e6 / seconds, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(max(usage.ru_maxrss * 1024, tree_peak) / 2**20), "check": check(name, work)}


def table(entry: dict) -> str:
    lines = [f"{entry['size_mb']} MB, {entry['records']} records ({entry['input']}, {entry['kind']})",
             f"{'approach':18} {'cores':>5} {'records/s':>10} {'MB/s':>7} {'seconds':>8} {'CPU s':>7} {'peak MB':>8}  check"]
    for r in entry["results"]:
        if "records_per_second" in r:
            lines.append(f"{r['approach']:18} {r['cores']:>5} {r['records_per_second']:>10,} {r['mb_per_second']:>7} "
                         f"{r['seconds']:>8} {r['cpu_seconds']:>7} {r['peak_rss_mb']:>8,}  {json.dumps(r['check'])}")
        else:
            lines.append(f"{r['approach']:18} {r['cores']:>5} {r.get('failed') or r.get('skipped')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--kind", default="synthetic", help="what the input is, for the results (default: synthetic)")
    parser.add_argument("--workdir", type=Path, default=Path("bench-work"),
                        help="where the approaches write (emptied before and after each)")
    parser.add_argument("--json", type=Path, help="add this run's results to this JSON file (a list of runs)")
    parser.add_argument("--approaches", nargs="+", default=[a for a in APPROACHES if a != "sft_grpo_datasets"],
                        choices=APPROACHES, help="(default: all but sft_grpo_datasets)")
    parser.add_argument("--cores", nargs="+", type=int, default=[len(os.sched_getaffinity(0))],
                        help="run each approach pinned to each of these numbers of cores (default: all)")
    parser.add_argument("--prepare-to", nargs="+", default=list(PREPARE_TO), metavar="TARGET:ALGORITHM=PATH",
                        help=f"the outputs of the prepare approach (default: {' '.join(PREPARE_TO)})")
    parser.add_argument("--memory-cap", type=float, default=0.8,
                        help="the load-everything ways get this share of the machine's available memory at most, "
                             "and are skipped when they would need more (default: 0.8)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="run each fast approach this many times and keep the median run, then once more to "
                             "sample its memory (the load-everything and datasets ways, minutes long, run once; "
                             "default: 3)")
    parser.add_argument("--one", choices=APPROACHES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.input, args.workdir = args.input.resolve(), args.workdir.resolve()  # the scripts run in each approach's folder
    if args.one:
        run_one(args.one, args.input, args.workdir, args.prepare_to)
        return 0
    size = args.input.stat().st_size
    cap = int(memory_available() * args.memory_cap)
    results = []
    for cores in args.cores:
        for name in args.approaches:
            slow = name in SLOW
            if name in LOADS_ALL and size * LOAD_ALL_BYTES_PER_INPUT_BYTE > cap:
                results.append({"approach": name, "cores": cores, "skipped": (
                    f"would need ~{size * LOAD_ALL_BYTES_PER_INPUT_BYTE / 2**30:.0f} GiB (the whole file as Python "
                    f"objects); the cap is {cap / 2**30:.0f} GiB")})
                print(json.dumps(results[-1]), flush=True)
                continue
            work = args.workdir / name
            runs = []
            # A fast approach is timed in runs of its own, its memory sampled in one more; a slow one
            # (minutes, mostly one process) is timed and sampled in its one run.
            for sample in [True] if slow else [False] * args.repeat + [True]:
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                try:
                    runs.append(measure(name, args.input, work, cores=cores, memory_cap=cap if slow else None,
                                        prepare_to=args.prepare_to, sample=sample))
                finally:
                    shutil.rmtree(work, ignore_errors=True)
            results.append(with_memory_of(median_run(runs[:-1]), runs[-1]) if not slow else runs[0])
            print(json.dumps(results[-1]), flush=True)
    records = next((r["records"] for r in results if "records" in r), None)
    command = f"python benchmarks/run.py --input {args.input.name} --kind {args.kind}"
    if args.cores != [len(os.sched_getaffinity(0))]:
        command += " --cores " + " ".join(map(str, args.cores))
    if args.prepare_to != list(PREPARE_TO):
        command += " --prepare-to " + " ".join(args.prepare_to)
    entry = {"input": args.input.name, "kind": args.kind, "size_mb": round(size / 1e6), "records": records,
             "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
             "command": command, "prepare_to": args.prepare_to, "results": results}
    print()
    print(table(entry))
    if args.json:
        previous = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps(previous + [entry], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
