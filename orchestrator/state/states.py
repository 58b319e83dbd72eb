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

    # What SUBMITTED means while its run is live (state/live.py); never journaled.
    WAITING = "waiting"
    """Submitted; a task it needs (or loop feedback) has not finished yet."""

    QUEUED = "queued"
    """Ready (everything it needs is done) but not started: no free slot or worker yet."""

    RUNNING = "running"
    """Started on a worker: its host and pid are known."""


TERMINAL_STATES = frozenset({TaskState.DONE, TaskState.CACHED, TaskState.FAILED,
                             TaskState.DEP_FAILED})
SUCCESS_STATES = frozenset({TaskState.DONE, TaskState.CACHED})
LIVE_STATES = (TaskState.WAITING, TaskState.QUEUED, TaskState.RUNNING)
