#!/usr/bin/env python3
"""Write the NeMo RL config for prepared data, check it, and launch NeMo RL: see ``--help``."""

import sys

from reference_impl.launch.nemo_rl import main

if __name__ == "__main__":
    sys.exit(main())
