#!/usr/bin/env python3
"""Keep the rollouts worth training on (reward, task groups, length, duplicates): see ``--help``."""

import sys

from reference_impl.commands.filter import filter_main

if __name__ == "__main__":
    sys.exit(filter_main())
