"""Find where a value or key of a loaded YAML document came from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.errors import Loc
from orchestrator.spec.yamlio import YDict, YList


def dotted(path: Sequence[Any]) -> str:
    """`stages.train.resources.gpus`, with list indices as `[i]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def data_path(data: Any, loc: Sequence[Any]) -> tuple:
    """Drop parts of a pydantic error location that are not keys of the data (union tags)."""
    out = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict | list):
            # a key that does not exist (missing) or a union tag: keep real-looking keys last
            continue
        else:
            continue
    return tuple(out)


def locate(data: Any, path: Sequence[Any], key: bool = False, exact: bool = False) -> Loc | None:
    """Position of the value at `path` (or of its key), else of the nearest container
    (or None with `exact`)."""
    node = data
    best: Loc | None = getattr(data, "loc", None)
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, YDict) and part in node:
            loc = node.key_locs.get(part) if (key and last) else node.value_locs.get(part)
            best = loc or best
            node = node[part]
        elif isinstance(node, YList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_locs[part] if part < len(node.item_locs) else best
            node = node[part]
        else:
            return None if exact else best
    return best
