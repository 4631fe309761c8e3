"""``python -m provenance``."""

from __future__ import annotations

import sys

from ._cli.commands import main

if __name__ == "__main__":
    sys.exit(main())
