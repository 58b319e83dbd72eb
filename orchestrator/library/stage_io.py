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
