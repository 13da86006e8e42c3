#!/usr/bin/env python3
"""Side by side, on one rollout file: our scripts, the seed page's way, the Hugging Face
``datasets`` way and the parse-only floor; records/s, MB/s and peak memory for each.

The three that do work do the same work and write the same rows: keep the rollouts with
reward >= 0.5 that are not masked, write TRL SFT rows (``messages``, ``tools``) to JSON Lines
and VeRL GRPO prompts (one per task) to parquet.

* ``ours``: ``scripts/prepare.py --min_reward 0.5 --to trl:sft=... --to verl:grpo=...``, the
  one command that reads the input once and writes both;
* ``ours_3_steps``: ``scripts/filter_rollouts.py --min_reward 0.5``, then
  ``scripts/prepare_for_trl.py`` and ``scripts/prepare_for_verl.py --algorithm grpo`` on the
  filtered file, one after the other;
* ``seed``: the seed page's ``[json.loads(line) for line in open(...)]``, then the transform
  in plain Python, written as a user following that page would (``plain_*`` below);
* ``datasets``: ``load_dataset("json")``, ``.filter``, ``.map`` with the same plain functions,
  ``.to_json`` / ``.to_parquet``;
* ``floor``: every line through ``orjson.loads``, nothing else.

Each approach runs in a process of its own, started fresh; its wall time, CPU time (of all
its processes) and peak resident memory are measured from outside. Peak memory is the
larger of ``ru_maxrss`` (the largest single process) and the memory of the whole process
tree (the sum of its processes' PSS, sampled 20 times a second): ours forks workers. After the clock stops, each writes a digest of its rows, so that the
run shows the outputs are the same.

    python benchmarks/run.py --input big.jsonl --workdir /tmp/bench --json results.json
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

ROOT = Path(__file__).resolve().parents[1]
MIN_REWARD = 0.5
APPROACHES = ("ours", "ours_3_steps", "seed", "datasets", "floor")
SEED_BYTES_PER_INPUT_BYTE = 5.0  # the seed's way holds every record as Python objects; measured ~3.6-4.1x, with margin


# --- the four approaches (each runs in a process of its own: `run.py --one NAME`) ---------------


def _scripts(commands: list[list], work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in commands:
        subprocess.run([sys.executable] + [str(part) for part in command] + ["--no-progress"], check=True, env=env,
                       stdout=subprocess.DEVNULL, cwd=work)


def ours(source: Path, work: Path) -> int:
    """The project's one command: read once, filter, write TRL SFT JSONL and VeRL GRPO parquet."""
    _scripts([[ROOT / "scripts" / "prepare.py", "--input", source, "--min_reward", str(MIN_REWARD),
               "--to", f"trl:sft={work / 'sft.jsonl'}", "--to", f"verl:grpo={work / 'grpo.parquet'}"]], work)
    return json.loads((work / "sft.manifest.json").read_text())["counts"]["read"]


def ours_3_steps(source: Path, work: Path) -> int:
    """The project's scripts one after the other: filter, then prepare for TRL and for VeRL."""
    scripts, filtered = ROOT / "scripts", work / "filtered.jsonl"
    _scripts([
        [scripts / "filter_rollouts.py", "--input", source, "--output", filtered, "--min_reward", str(MIN_REWARD)],
        [scripts / "prepare_for_trl.py", "--input", filtered, "--output", work / "sft.jsonl"],
        [scripts / "prepare_for_verl.py", "--input", filtered, "--output", work / "grpo.parquet", "--algorithm", "grpo"],
    ], work)
    return json.loads((work / "filtered.manifest.json").read_text())["counts"]["read"]


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


def plain_sft_row(rollout) -> dict:
    """A TRL SFT row: the prompt and the trajectory up to its last assistant turn, and the tools."""
    messages = plain_prompt(rollout) + plain_messages(rollout["response"]["output"])
    while messages[-1]["role"] != "assistant":
        messages.pop()
    return {"messages": messages, "tools": plain_tools(rollout)}


def plain_keep(rollout) -> bool:
    return (rollout.get("reward") or 0) >= MIN_REWARD and not rollout.get("mask_sample")


def plain_grpo_rows(rollouts) -> list:
    """VeRL GRPO rows: the first rollout of each task that has a ground truth."""
    from reference_impl.rollouts import ground_truth, task_key

    rows, seen = [], set()
    for rollout in rollouts:
        task = task_key(rollout)  # the same agent, task number and prompt (a number alone is no task)
        if task in seen:
            continue
        seen.add(task)
        found = ground_truth(rollout)
        if found is None:
            continue
        truth = found[1] if isinstance(found[1], str) else json.dumps(found[1], separators=(",", ":"), ensure_ascii=False)
        rows.append({"data_source": f"nemo_gym/{rollout['agent_ref']['name']}",
                     "prompt": [{"role": m["role"], "content": m["content"]} for m in plain_prompt(rollout)],
                     "ability": "nemo_gym",
                     "reward_model": {"style": "rule", "ground_truth": truth},
                     "extra_info": {"index": len(rows), "split": "train", "task": task}})
    return rows


def seed(source: Path, work: Path) -> int:
    """The seed page's way: every line into memory with json.loads, then lists all the way."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rollouts = [json.loads(line) for line in open(source)]
    kept = [r for r in rollouts if plain_keep(r)]
    with open(work / "sft.jsonl", "w") as out:
        for rollout in kept:
            out.write(json.dumps(plain_sft_row(rollout), ensure_ascii=False) + "\n")
    pq.write_table(pa.Table.from_pylist(plain_grpo_rows(kept)), work / "grpo.parquet")
    return len(rollouts)


def datasets_way(source: Path, work: Path) -> int:
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


FUNCTIONS = {"ours": ours, "ours_3_steps": ours_3_steps, "seed": seed, "datasets": datasets_way, "floor": floor}


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


def run_one(name: str, source: Path, work: Path) -> None:
    """In the child process: run one approach and print how many records it read."""
    print(json.dumps({"records": FUNCTIONS[name](source, work)}), flush=True)


# --- the parent: one fresh process per approach, measured from outside ---------------------------


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


def measure(name: str, source: Path, work: Path, memory_cap: int | None) -> dict:
    """Run one approach in a fresh child process; its wall time, CPU time and peak RSS
    (``ru_maxrss`` from ``os.wait4``: the largest process of the child's tree)."""
    def limit():  # in the child, before exec: cap its address space, so that it fails rather than swamps the machine
        if memory_cap:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))

    command = [sys.executable, __file__, "--one", name, "--input", str(source), "--workdir", str(work)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_DATASETS_CACHE": str(work / "hf-cache"), "HF_HUB_OFFLINE": "1"}
    with open(work / "stdout.txt", "w+") as out, open(work / "stderr.txt", "w+") as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=errors, preexec_fn=limit, env=env)
        memory = TreeMemory(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
        tree_peak = memory.stop()
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
        errors.seek(0)
        stderr = errors.read()
    if child.returncode != 0:
        reason = (stderr.strip().splitlines() or [f"exit status {child.returncode}"])[-1][:300]
        if "MemoryError" in stderr or child.returncode == -9:
            reason = f"ran out of its {memory_cap / 2**30:.0f} GiB memory cap ({reason})"
        return {"approach": name, "failed": reason}
    records = json.loads(output.strip().splitlines()[-1])["records"]
    size = source.stat().st_size
    return {"approach": name, "records": records, "seconds": round(seconds, 2),
            "records_per_second": round(records / seconds), "mb_per_second": round(size / 1e6 / seconds, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(max(usage.ru_maxrss * 1024, tree_peak) / 2**20),
            "rows": rows_digest(work) if name != "floor" else None}


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (a failed run, if any, is the answer); with the times of all."""
    failed = [run for run in runs if "seconds" not in run]
    if failed:
        return failed[0]
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**middle, "runs": len(runs), "all_seconds": sorted(run["seconds"] for run in runs)} if len(runs) > 1 else middle


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


def ratios(results: list[dict]) -> None:
    """``ours_vs_this``: how many times ours' records/s each approach's is."""
    ours_rate = next((r["records_per_second"] for r in results if r["approach"] == "ours" and "records_per_second" in r), None)
    for r in results:
        if ours_rate and "records_per_second" in r:
            r["ours_vs_this"] = round(ours_rate / r["records_per_second"], 2)


def table(entry: dict) -> str:
    lines = [f"{entry['size_mb']} MB, {entry['records']} records ({entry['input']})",
             f"{'approach':10} {'records/s':>10} {'MB/s':>7} {'seconds':>8} {'CPU s':>7} {'peak RSS MB':>12} {'ours is':>8}"]
    for r in entry["results"]:
        if "records_per_second" in r:
            lines.append(f"{r['approach']:10} {r['records_per_second']:>10,} {r['mb_per_second']:>7} {r['seconds']:>8} "
                         f"{r['cpu_seconds']:>7} {r['peak_rss_mb']:>12,} {str(r.get('ours_vs_this', '')) + 'x':>8}")
        else:
            lines.append(f"{r['approach']:10} {r.get('failed') or r.get('skipped')}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("bench-work"),
                        help="where the approaches write (emptied before and after each)")
    parser.add_argument("--json", type=Path, help="add this run's results to this JSON file (a list of runs)")
    parser.add_argument("--approaches", nargs="+", default=list(APPROACHES), choices=APPROACHES)
    parser.add_argument("--memory-cap", type=float, default=0.8,
                        help="the seed's and datasets' ways get this share of the machine's available memory at most; "
                             "the seed's way is skipped when it would need more (default: 0.8)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="run ours and the floor this many times and keep the median run (the seed's and the "
                             "datasets ways, minutes long, run once; default: 3)")
    parser.add_argument("--one", choices=APPROACHES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one, args.input, args.workdir)
        return 0
    size = args.input.stat().st_size
    cap = int(memory_available() * args.memory_cap)
    results = []
    for name in args.approaches:
        if name == "seed" and size * SEED_BYTES_PER_INPUT_BYTE > cap:
            results.append({"approach": name, "skipped": f"would need ~{size * SEED_BYTES_PER_INPUT_BYTE / 2**30:.0f} GiB "
                                                          f"(the whole file as Python objects); the cap is {cap / 2**30:.0f} GiB"})
            print(json.dumps(results[-1]), flush=True)
            continue
        work = args.workdir / name
        runs = []
        for _ in range(1 if name in ("seed", "datasets") else args.repeat):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            try:
                runs.append(measure(name, args.input, work, cap if name in ("seed", "datasets") else None))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        results.append(median_run(runs))
        print(json.dumps(results[-1]), flush=True)
    ratios(results)
    records = next((r["records"] for r in results if "records" in r), None)
    entry = {"input": args.input.name, "size_mb": round(size / 1e6), "records": records,
             "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
             "command": f"python benchmarks/run.py --input {args.input.name}", "results": results}
    print()
    print(table(entry))
    if args.json:
        previous = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps(previous + [entry], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
