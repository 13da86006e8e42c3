#!/usr/bin/env python3
"""Check prepared openrlhf data and launch training (or print the exact command and why it did not run)."""

import sys

from reference_impl.launch.openrlhf import main

if __name__ == "__main__":
    sys.exit(main())
