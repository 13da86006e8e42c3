#!/usr/bin/env python3
"""Build a tiny random-init chat model offline (tokenizer trained on your rollouts): see ``--help``."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True, help="the folder to write (a Hugging Face model folder)")
    parser.add_argument("--data", nargs="+", required=True, help="rollout JSONL files to train the tokenizer on")
    parser.add_argument("--vocab-size", "--vocab_size", type=int, default=1024)
    parser.add_argument("--hidden-size", "--hidden_size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args(argv)
    from reference_impl.train.tiny_model import make_tiny_model

    folder = make_tiny_model(args.output, args.data, args.vocab_size, hidden_size=args.hidden_size, layers=args.layers)
    print(f"wrote a tiny chat model to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
