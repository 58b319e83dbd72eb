"""What the journal says about failed tries, engine-neutral: how a command ended and how
many tries earlier runs made. The engine's retry handler numbers the tries themselves
(`parsl/attempts.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.backends.worker import CommandFailed

FAILED_EVENTS = ("task_failed",)


def tries_before(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Task id -> attempts made by earlier runs of the run directory that failed it (a
    resumed run numbers its tries after them, so `orch logs --attempt N` stays unique)."""
    tries: dict[str, int] = {}
    for rec in records:
        if rec.get("ev") in FAILED_EVENTS and isinstance(rec.get("task"), str):
            n = rec.get("attempts")
            tries[rec["task"]] = tries.get(rec["task"], 0) + (n if isinstance(n, int) else 1)
    return tries


def failure_fields(exc: BaseException) -> dict[str, Any]:
    """The journal's view of how a command ended (worker.CommandFailed): exit code, signal,
    the last lines of its stderr; {} for other failures (a python stage's exception)."""
    if not isinstance(exc, CommandFailed):  # (a UserError's class-level exit_code is not one)
        return {}
    out: dict[str, Any] = {"exit_code": exc.exit_code}
    if exc.signal:
        out["signal"] = exc.signal
    if exc.stderr_tail:
        out["stderr_tail"] = exc.stderr_tail
    return out
