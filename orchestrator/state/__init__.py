"""The run directory: journal, caches and atomic files."""
