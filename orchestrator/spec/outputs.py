"""Names of a stage's declared outputs, as `${stages.STAGE.outputs.NAME}` refers to them.

A mapping (`outputs: {model: model.pt}`) names each file; a list names each file by
its stem (`fields/u.npy` -> `u`), when that stem is an identifier no other output
of the stage shares. Works on raw YAML data too, so the spec checks can use it.
"""

from __future__ import annotations

import re
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def stem(path: str) -> str:
    """`fields/u.npy` -> `u`; `model.tar.gz` -> `model`."""
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0]


def output_names(outputs: Any) -> tuple[dict[str, str], set[str]]:
    """(name -> path template, names that two list entries share and so name nothing)."""
    if isinstance(outputs, dict):
        return {k: v for k, v in outputs.items() if isinstance(k, str)}, set()
    named: dict[str, str] = {}
    clashes: set[str] = set()
    for path in outputs if isinstance(outputs, list) else []:
        if not isinstance(path, str):
            continue
        name = stem(path)
        if not _IDENT.match(name):
            continue
        if name in named:
            clashes.add(name)
        named[name] = path
    for name in clashes:
        del named[name]
    return named, clashes
