#!/usr/bin/env python3
"""Write sample rollouts with real token ids (the tiny model's tokenizer and template), seeded and offline."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True, help="the JSONL file to write")
    parser.add_argument("--tokenizer", help="a tokenizer folder (default: the tiny model's, trained on "
                                            "samples/rollouts.jsonl, as make_tiny_model.py builds it)")
    parser.add_argument("--tasks-per-kind", "--tasks_per_kind", type=int, default=2)
    parser.add_argument("--rollouts-per-task", "--rollouts_per_task", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from reference_impl.token_samples import sample_tokenizer, write_token_rollouts

    if args.tokenizer:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:
        tokenizer = sample_tokenizer()
    count = write_token_rollouts(args.output, tokenizer, args.tasks_per_kind, args.rollouts_per_task, args.seed)
    print(f"wrote {count} rollouts with token ids to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
