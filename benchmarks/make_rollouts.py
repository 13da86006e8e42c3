#!/usr/bin/env python3
"""Write realistic synthetic rollouts of any size, seeded and reproducible.

The records are reference_impl.samples' (single-turn reasoning, one tool call, multi-step
tool calls, multi-turn games; several rollouts per task with varied rewards; a masked
record now and then), made the size of real ones:

* reasoning runs to a few thousand characters (log-normal lengths, median ~1,500);
* in a share of the tasks (``--token-share``, a quarter by default: as if those environments
  were collected with the training model server), the last item of every model call
  carries ``prompt_token_ids`` (the whole conversation so far), ``generation_token_ids`` and
  ``generation_log_probs`` (full-precision floats), as NeMo Gym's ``vllm_model`` writes them
  with ``return_token_id_information: true``; their lengths follow the text, about four
  characters a token. In the real ``competitive_coding_challenges.jsonl`` they are 66% of
  the bytes; the other real files have none;
* task indexes are unique across the file.

With ``--repeat FILE ...`` it writes real records instead: the lines of real rollout files,
copy after copy, until the size is reached. Each copy is a campaign's next batch of tasks: its
task numbers (``_ng_task_index``, aviary's ``task_idx``) are moved past the previous copy's,
so that tasks grow with the file as they do in a real campaign (a record without a task
number gets its copy's, ``_ng_task_index``, from the second copy on). Lines that are not JSON
objects are left out (the count is printed), so that the file can be read strictly.

    python benchmarks/make_rollouts.py --size 2GB --output big.jsonl
    python benchmarks/make_rollouts.py --size 1GB --output real.jsonl --repeat ../shared/data/nemo_gym_rollouts/*.jsonl
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import time

import orjson

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])
from reference_impl.samples import sample_rollouts  # noqa: E402

UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
TOKEN_FIELDS = ("prompt_token_ids", "generation_token_ids", "generation_log_probs")
MODEL_ITEMS = ("reasoning", "function_call")
THOUGHTS = (
    "Let me restate the problem to be sure I read it right.",
    "First, what exactly is being asked?",
    "I could check this another way, to be safe.",
    "Wait, that step needs a second look.",
    "Breaking it into smaller parts makes it easier.",
    "The numbers are small enough to do by hand, carefully.",
    "Before answering, I should verify the intermediate result.",
    "Hmm, is there an edge case here?",
    "That matches what I expected, so the approach holds.",
    "I will write the final answer in the format the user asked for.",
)
BLOCK = 1 << 22  # bytes written at a time
TASK_FIELDS = ("_ng_task_index", "task_idx")
COPY_STRIDE = 1_000_000  # task numbers of copy k are moved up by k times this


def parse_size(text: str) -> int:
    """``2GB``, ``200MB``, ``512MiB`` or a number of bytes.

    >>> parse_size("2GB"), parse_size("1.5MiB")
    (2000000000, 1572864)
    """
    match = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 200MB, 2GB)")
    return int(float(match.group(1)) * UNITS[match.group(2).upper()])


class TokenPool:
    """Random token ids and log-probs, drawn once; each model call takes a slice at a random offset."""

    def __init__(self, rng: random.Random, size: int = 1 << 18):
        self.rng = rng
        self.ids = [rng.randrange(100, 151_000) for _ in range(size)]
        # Log-probs as a sampler returns them: mostly close to 0 (-7.7e-05), some far (-2.3), full precision.
        self.log_probs = [-math.exp(rng.uniform(-16.0, 1.2)) for _ in range(size)]

    def take(self, values: list, n: int) -> list:
        n = min(n, len(values))
        start = self.rng.randrange(len(values) - n + 1)
        return values[start : start + n]


def _text_chars(item: dict) -> int:
    """Characters of text an item adds to the conversation (what its tokens encode)."""
    chars = len(item.get("arguments") or "") + len(item.get("output") or "") if item.get("type") != "message" else 0
    content = item.get("content")
    if isinstance(content, str):
        chars += len(content)
    elif isinstance(content, list):
        chars += sum(len(part.get("text") or "") for part in content if isinstance(part, dict))
    chars += sum(len(part.get("text") or "") for part in item.get("summary") or [])
    return chars + 16  # the chat template's tokens around each turn


def lengthen_reasoning(record: dict, rng: random.Random) -> None:
    """Reasoning of a realistic length: log-normal, median ~1,500 characters, at most 16,000."""
    for item in record["response"]["output"]:
        if item.get("type") == "reasoning":
            target = min(16_000, int(rng.lognormvariate(math.log(1500), 0.9)))
            parts = [item["summary"][0]["text"]]
            size = len(parts[0])
            while size < target:
                parts.append(rng.choice(THOUGHTS))
                size += len(parts[-1]) + 1
            item["summary"][0]["text"] = " ".join(parts)


def add_token_ids(record: dict, pool: TokenPool) -> None:
    """The three token fields on the last item of every model call (a run of reasoning,
    function calls and an assistant message), sized like the text so far and the text generated."""
    prompt_chars = sum(len(m.get("content") or "") + 16 for m in record["responses_create_params"]["input"])
    prompt_chars += 400 * len(record["responses_create_params"].get("tools") or [])
    generated = 0
    output = record["response"]["output"]
    for i, item in enumerate(output):
        for field in TOKEN_FIELDS:
            item.pop(field, None)
        model_item = item.get("type") in MODEL_ITEMS or (item.get("type") == "message" and item.get("role") == "assistant")
        if not model_item:
            prompt_chars += _text_chars(item)
            continue
        generated += _text_chars(item)
        following = output[i + 1] if i + 1 < len(output) else None
        call_ends = following is None or not (following.get("type") in MODEL_ITEMS or following.get("role") == "assistant")
        if call_ends:
            n = max(1, generated // 4)
            item["prompt_token_ids"] = pool.take(pool.ids, prompt_chars // 4)
            item["generation_token_ids"] = pool.take(pool.ids, n)
            item["generation_log_probs"] = pool.take(pool.log_probs, n)
            prompt_chars += generated
            generated = 0


def rollouts(seed: int, token_share: float):
    """An endless, reproducible stream of rollout records (unique task indexes)."""
    rng = random.Random(seed)
    pool = TokenPool(random.Random(seed + 7))
    batch = 0
    while True:
        with_tokens: dict[int, bool] = {}
        for record in sample_rollouts(tasks_per_kind=50, rollouts_per_task=8, seed=seed * 100_003 + batch):
            task = record["_ng_task_index"] = record["_ng_task_index"] + batch * 1000
            lengthen_reasoning(record, rng)
            if with_tokens.setdefault(task, rng.random() < token_share):
                add_token_ids(record, pool)
            else:
                for item in record["response"]["output"]:
                    for field in TOKEN_FIELDS:
                        item.pop(field, None)
            yield record
        batch += 1


def write_rollouts(path: str, size: int, seed: int = 0, token_share: float = 0.25) -> tuple[int, int]:
    """Write at least ``size`` bytes of synthetic rollouts (whole lines) to ``path``; return (records, bytes)."""
    return write_records(path, size, rollouts(seed, token_share))


def real_records(paths: list[str], copy: int, left_out: list[int]):
    """The records of real rollout files, read again for each copy, with the copy's task numbers.

    Args:
        paths: real rollout files (JSON Lines).
        copy: which copy this is (0 keeps the numbers as they are).
        left_out: a one-item counter of the lines that are not JSON objects (the first copy counts).

    Returns:
        An iterator of records.
    """
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    record = orjson.loads(line) if line.strip() else None
                except orjson.JSONDecodeError:
                    record = None
                if not isinstance(record, dict):
                    left_out[0] += bool(line.strip()) and copy == 0
                    continue
                numbered = False
                for field in TASK_FIELDS:
                    value = record.get(field)
                    if isinstance(value, int) and not isinstance(value, bool):
                        record[field] = value + copy * COPY_STRIDE
                        numbered = True
                if copy and not numbered:  # its tasks are told apart by their prompts: number the copy
                    record["_ng_task_index"] = copy * COPY_STRIDE
                yield record


def repeated(paths: list[str], left_out: list[int]):
    """Copy after copy of the real records, endlessly (see :func:`real_records`)."""
    copy = 0
    while True:
        found = False
        for record in real_records(paths, copy, left_out):
            found = True
            yield record
        if not found:
            raise SystemExit(f"error: no JSON record in {', '.join(paths)}")
        copy += 1


def write_records(path: str, size: int, records) -> tuple[int, int]:
    """Write records (one JSON object a line) until at least ``size`` bytes; return (records, bytes).

    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> write_records(out, 20, iter([{"a": 1}] * 5))
    (3, 24)
    """
    written = count = 0
    block: list[bytes] = []
    block_bytes = 0
    with open(path, "wb") as out:
        for record in records:
            line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
            block.append(line)
            block_bytes += len(line)
            count += 1
            if written + block_bytes >= size or block_bytes >= BLOCK:
                out.write(b"".join(block))
                written += block_bytes
                block.clear()
                block_bytes = 0
                if written >= size:
                    break
    return count, written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, required=True, help="e.g. 200MB, 1GB, 2GB")
    parser.add_argument("--output", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-share", type=float, default=0.25,
                        help="the share of tasks whose rollouts carry token ids and log-probs (default: 0.25)")
    parser.add_argument("--repeat", nargs="+", metavar="FILE",
                        help="repeat the records of these real rollout files instead (see above)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.repeat:
        left_out = [0]
        records, written = write_records(args.output, args.size, repeated(args.repeat, left_out))
        if left_out[0]:
            print(f"left out {left_out[0]} lines of {len(args.repeat)} files that are not JSON objects")
    else:
        records, written = write_rollouts(args.output, args.size, args.seed, args.token_share)
    print(f"wrote {records} rollouts, {written / 1e6:.0f} MB, to {args.output} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
