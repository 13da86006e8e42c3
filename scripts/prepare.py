#!/usr/bin/env python3
"""Filter NeMo Gym rollouts and write several training formats from one read: see ``--help``."""

import sys

from reference_impl.commands.prepare_many import prepare_many_main

if __name__ == "__main__":
    sys.exit(prepare_many_main())
