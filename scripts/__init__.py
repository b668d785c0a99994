"""Harnesses and tools run from a checkout: `python scripts/NAME.py`, or `python -m scripts.NAME` for a package."""
