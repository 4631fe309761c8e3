"""Layer 10: the command line, ``provenance show|verify|history|diff|replay|adopt|demo``."""

from .commands import build_parser, main

__all__ = ["build_parser", "main"]
