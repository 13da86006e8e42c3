#!/usr/bin/env python3
"""Convert NeMo Gym rollouts into trl training data: see ``--help``."""

import sys

from reference_impl.commands.prepare import prepare_main

if __name__ == "__main__":
    sys.exit(prepare_main("trl"))
