#!/usr/bin/env python3
"""Side by side, on one rollout file: our pipeline, the seed page's way, the Hugging Face
``datasets`` way, and the parse-only floor. Records/s, MB/s and peak memory (RSS) for each.

Each approach runs in a subprocess of its own, so its peak RSS is its own
(``getrusage(RUSAGE_SELF).ru_maxrss`` at its end). All four do the same work, where they
do work: keep the rollouts with reward >= 0.5 (not masked), write TRL SFT rows to JSONL and
VeRL GRPO prompts to parquet.

    python benchmarks/run.py --input big.jsonl --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MIN_REWARD = 0.5
APPROACHES = ["ours", "seed", "datasets", "floor"]


def ours(source: Path, work: Path) -> int:
    """The project's scripts: filter, then prepare for TRL SFT (JSONL) and VeRL GRPO (parquet)."""
    from reference_impl.cli import filter_main, prepare_main

    filtered = work / "filtered.jsonl"
    assert filter_main(["--input", str(source), "--output", str(filtered), "--min_reward", str(MIN_REWARD), "--no-progress"]) == 0
    assert prepare_main("trl", ["--input", str(filtered), "--output", str(work / "sft.jsonl"), "--no-progress"]) == 0
    assert prepare_main("verl", ["--input", str(filtered), "--output", str(work / "grpo.parquet"), "--algorithm", "grpo",
                                 "--no-progress"]) == 0
    return json.loads((work / "filtered.manifest.json").read_text())["counts"]["read"]


def _rows(records, tally):
    """The same rows as ours, from a list, with the package's row functions (the transform is not what differs)."""
    from reference_impl.formats import ConvertOptions
    from reference_impl.formats.trl import sft_row
    from reference_impl.formats.verl import rl_converter
    from reference_impl.pipeline import Skip
    from reference_impl.rollouts import Rollout

    sft = []
    for record in records:
        try:
            sft.append(sft_row(record, ConvertOptions(), tally))
        except Skip:
            pass
    prompts = list(rl_converter(ConvertOptions())([Rollout("", i, r) for i, r in enumerate(records)], tally))
    return sft, prompts


def seed(source: Path, work: Path) -> int:
    """The seed page's way: every line into memory with json.loads, then lists all the way."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from reference_impl.formats.verl import rl_schema
    from reference_impl.pipeline import Tally

    rollouts = [json.loads(line) for line in open(source)]
    filtered = [r for r in rollouts if (r.get("reward") or 0) >= MIN_REWARD and not r.get("mask_sample")]
    with open(work / "filtered.jsonl", "w") as f:
        for r in filtered:
            f.write(json.dumps(r) + "\n")
    sft, prompts = _rows(filtered, Tally())
    with open(work / "sft.jsonl", "w") as f:
        for row in sft:
            f.write(json.dumps(row) + "\n")
    pq.write_table(pa.Table.from_pylist(prompts, schema=rl_schema()), work / "grpo.parquet")
    return len(rollouts)


def datasets_way(source: Path, work: Path) -> int:
    """load_dataset("json"), .filter, .map, .to_json / .to_parquet."""
    os.environ["HF_DATASETS_CACHE"] = str(work / "hf-cache")
    from datasets import load_dataset

    from reference_impl.formats import ConvertOptions
    from reference_impl.formats.trl import sft_row
    from reference_impl.formats.verl import data_source_of, ground_truth_of
    from reference_impl.messages import rollout_messages
    from reference_impl.pipeline import Skip, Tally

    data = load_dataset("json", data_files=str(source), split="train", cache_dir=str(work / "hf-cache"))
    read = len(data)
    kept = data.filter(lambda r: (r["reward"] or 0) >= MIN_REWARD and not r.get("mask_sample"))
    kept.to_json(str(work / "filtered.jsonl"))

    def to_sft(record):
        try:
            return sft_row(record, ConvertOptions(), Tally())
        except Skip:
            return {"messages": None, "tools": None}

    kept.map(to_sft, remove_columns=kept.column_names).to_json(str(work / "sft.jsonl"))

    def to_prompt(record, index):
        prompt, _ = rollout_messages({**record, "response": None})
        try:
            truth = ground_truth_of(record, ConvertOptions())
        except Skip:
            truth = ""
        return {"data_source": data_source_of(record, ConvertOptions()),
                "prompt": [{"role": m["role"], "content": m["content"]} for m in prompt], "ability": "nemo_gym",
                "reward_model": {"style": "rule", "ground_truth": truth}, "extra_info": {"index": index}}

    kept.map(to_prompt, with_indices=True, remove_columns=kept.column_names).to_parquet(str(work / "grpo.parquet"))
    return read


def floor(source: Path, work: Path) -> int:
    """Parse every line with orjson, and nothing else."""
    import orjson

    count = 0
    with open(source, "rb", buffering=1 << 22) as handle:
        for line in handle:
            orjson.loads(line)
            count += 1
    return count


def run_one(name: str, source: Path, work: Path) -> dict:
    """Run one approach in this process (the parent starts one process per approach)."""
    function = {"ours": ours, "seed": seed, "datasets": datasets_way, "floor": floor}[name]
    start = time.perf_counter()
    records = function(source, work)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size_mb = source.stat().st_size / 1e6
    return {"approach": name, "records": records, "seconds": round(seconds, 2),
            "records_per_second": round(records / seconds), "mb_per_second": round(size_mb / seconds, 1),
            "peak_rss_mb": round(peak_kib / 1024)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("bench-work"))
    parser.add_argument("--json", type=Path, help="append the results to this JSON file")
    parser.add_argument("--approaches", nargs="+", default=APPROACHES, choices=APPROACHES)
    parser.add_argument("--one", choices=APPROACHES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.input, args.workdir)))
        return 0
    size_mb = args.input.stat().st_size / 1e6
    results = []
    for name in args.approaches:
        work = args.workdir / name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        done = subprocess.run([sys.executable, __file__, "--input", str(args.input), "--workdir", str(work), "--one", name],
                              capture_output=True, text=True)
        if done.returncode != 0:
            results.append({"approach": name, "failed": done.stderr.strip().splitlines()[-1][:300]})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(results[-1]), flush=True)
    ours_rate = next((r["records_per_second"] for r in results if r["approach"] == "ours" and "failed" not in r), None)
    for r in results:
        if ours_rate and "records_per_second" in r:
            r["ours_vs_this"] = round(ours_rate / r["records_per_second"], 2)
    entry = {"input": str(args.input), "size_mb": round(size_mb), "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
             "results": results}
    print(f"\n{'approach':10} {'records/s':>10} {'MB/s':>7} {'peak RSS MB':>12} {'ours vs it':>10}   ({size_mb:.0f} MB)")
    for r in results:
        if "failed" in r:
            print(f"{r['approach']:10} failed: {r['failed']}")
        else:
            print(f"{r['approach']:10} {r['records_per_second']:>10} {r['mb_per_second']:>7} {r['peak_rss_mb']:>12} "
                  f"{r.get('ours_vs_this', ''):>10}")
    if args.json:
        previous = json.loads(args.json.read_text()) if args.json.exists() else []
        args.json.write_text(json.dumps(previous + [entry], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
