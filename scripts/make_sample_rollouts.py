#!/usr/bin/env python3
"""Write sample NeMo Gym rollouts (math, tool calls, multi-step, multi-turn), seeded and offline."""

import argparse
import sys

from reference_impl.samples import write_sample_rollouts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True, help="the JSONL file to write")
    parser.add_argument("--tasks-per-kind", "--tasks_per_kind", type=int, default=3)
    parser.add_argument("--rollouts-per-task", "--rollouts_per_task", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--game", choices=["blackjack"],
                        help="instead, a game with a random start: every rollout is task 0, the hand is in the prompt "
                             "(--tasks-per-kind hands)")
    args = parser.parse_args(argv)
    count = write_sample_rollouts(args.output, args.tasks_per_kind, args.rollouts_per_task, args.seed, args.game)
    print(f"wrote {count} rollouts to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
