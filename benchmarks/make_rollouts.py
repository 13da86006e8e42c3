#!/usr/bin/env python3
"""Write realistic synthetic rollouts of any size, seeded and reproducible.

The records are reference_impl.samples' (single-turn reasoning, tool calls, multi-step,
multi-turn, several rollouts per task with varied rewards), with token-id fields on every
assistant message as NeMo Gym's training model server writes them, and unique task indexes.

    python benchmarks/make_rollouts.py --size 2GB --output big.jsonl
"""

from __future__ import annotations

import argparse
import random
import re
import sys

import orjson

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])
from reference_impl.samples import sample_rollouts  # noqa: E402

UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """``2GB``, ``200MB``, ``512MiB`` or a number of bytes.

    >>> parse_size("2GB"), parse_size("1.5MiB")
    (2000000000, 1572864)
    """
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 200MB, 2GB)")
    return int(float(match.group(1)) * UNITS[match.group(2).upper()])


def with_token_ids(record: dict, rng: random.Random) -> dict:
    """Token ids and log-probs on every assistant message, sized like the text."""
    for item in record["response"]["output"]:
        if item.get("type") == "message" and item.get("role") == "assistant" and "generation_token_ids" not in item:
            n = max(8, sum(len(p.get("text", "")) for p in item.get("content", [])) // 3)
            item["prompt_token_ids"] = [rng.randrange(100, 150000) for _ in range(64)]
            item["generation_token_ids"] = [rng.randrange(100, 150000) for _ in range(n)]
            item["generation_log_probs"] = [round(-rng.random() * 3, 5) for _ in range(n)]
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, required=True, help="e.g. 200MB, 1GB, 2GB")
    parser.add_argument("--output", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    written = records = batch = 0
    with open(args.output, "wb", buffering=1 << 22) as out:
        while written < args.size:
            offset = batch * 1000
            for record in sample_rollouts(tasks_per_kind=50, rollouts_per_task=8, seed=args.seed * 100003 + batch):
                record["_ng_task_index"] += offset
                line = orjson.dumps(with_token_ids(record, rng), option=orjson.OPT_APPEND_NEWLINE)
                out.write(line)
                written += len(line)
                records += 1
                if written >= args.size:
                    break
            batch += 1
    print(f"wrote {records} rollouts, {written / 1e6:.0f} MB, to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
