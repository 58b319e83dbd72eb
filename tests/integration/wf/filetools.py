"""Python stages of files.yaml: they receive upstream files as paths."""

import os


def total(path, parts):
    """Sum of the gathered squares, and what the paths given look like."""
    with open(path) as f:
        values = [int(line) for line in f]
    return {"total": sum(values), "lines": len(values), "parts": len(parts),
            "path": path, "is_link": os.path.islink(path), "first": parts[0]}
