#!/usr/bin/env python3
"""Check a prepared training file against the format it is for: see ``--help``."""

import sys

from reference_impl.commands.validate import validate_main

if __name__ == "__main__":
    sys.exit(validate_main())
