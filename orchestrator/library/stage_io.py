"""Helpers that workflow stage functions share.

One copy here instead of one per workflow: how a stage finds the result of an upstream
stage and the directory it should write into. Standard library only: stages import it
in the orchestrator's venv and in site environments (dpgen's), which see this package
but none of its dependencies.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def one(results: dict[str, list[Any]] | None, stage: str, kind: type = object) -> Any:
    """The single result of the unswept upstream `stage` (an instance of `kind`); a clear
    error instead of an IndexError deep in a stage when it is missing or swept."""
    items = (results or {}).get(stage) or []
    if len(items) != 1 or not isinstance(items[0], kind):
        raise RuntimeError(f"expected one result of stage {stage!r}, got {items!r}")
    return items[0]


def first(results: dict[str, list[Any]] | None, stage: str, needed_by: str) -> Any:
    """The first result of upstream `stage` (a loop stage reads its own iteration's, an
    unswept stage has one); "`needed_by` needs `stage`'s result" when there is none."""
    found = ((results or {}).get(stage) or [None])[0]
    if found is None:
        raise RuntimeError(f"{needed_by} needs {stage}'s result")
    return found


def task_dir(context: dict[str, Any] | None) -> Path:
    """The task's own directory from the orchestrator's context (the cwd when run by
    hand), so stage outputs never collide between tasks."""
    return Path((context or {}).get("task_dir") or os.getcwd()).resolve()


def iteration_of(context: dict[str, Any] | None) -> int:
    """The task's loop iteration (1, 2, ...); 1 outside a loop."""
    return int((context or {}).get("iteration") or 1)


def input_paths(value: str | os.PathLike | list | tuple | None,
                context: dict[str, Any] | None) -> list[Path]:
    """The files an arg names: one path or a list of them (a `${stages.S.outputs.O}` of a
    swept stage is a list), relative to the task's directory (where inputs are staged),
    resolved (a staged link becomes the file it points to); [] for None or ""."""
    items = value if isinstance(value, list | tuple) else [value]
    base = task_dir(context)
    return [(base / str(p)).resolve() for p in items if p not in (None, "")]
