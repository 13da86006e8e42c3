#!/usr/bin/env python3
"""Rewards, pass rates, pass@k, turns and tool calls of rollout files, with pictures: see ``--help``."""

import sys

from reference_impl.commands.stats import stats_main

if __name__ == "__main__":
    sys.exit(stats_main())
