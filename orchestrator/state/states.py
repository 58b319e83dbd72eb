"""Task states, as the journal records them and `orch status` shows them."""

from __future__ import annotations

from enum import StrEnum


class TaskState(StrEnum):
    """Lifecycle of one task in a run."""

    PENDING = "pending"
    """Planned; not yet handed to the engine (waiting for a loop iteration, or never reached)."""

    SUBMITTED = "submitted"
    """Handed to Parsl: waiting for its inputs, a worker, or running."""

    DONE = "done"
    """Finished successfully; its result is in the journal and its task directory."""

    CACHED = "cached"
    """Done in an earlier attempt of this run with the same key; not re-run on resume."""

    FAILED = "failed"
    """Raised or exited non-zero on every allowed attempt."""

    DEP_FAILED = "dep_failed"
    """Not run because a task it needs failed."""

    CANCELLED = "cancelled"
    """The run was interrupted before the task finished; `--resume` runs it again."""


TERMINAL_STATES = frozenset({TaskState.DONE, TaskState.CACHED, TaskState.FAILED,
                             TaskState.DEP_FAILED})
SUCCESS_STATES = frozenset({TaskState.DONE, TaskState.CACHED})
