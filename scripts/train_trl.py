#!/usr/bin/env python3
"""Train with TRL (SFT, DPO, KTO, GRPO) from a YAML config: see ``--help``."""

import sys

from reference_impl.train.trl import main

if __name__ == "__main__":
    sys.exit(main())
