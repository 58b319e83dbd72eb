"""What the driver (`driver.py`) asks of an engine, and what a run's execution ends with.
The Parsl engine (`parsl/engine.py`) is the one implementation; keeping the contract this
small keeps Parsl's types (futures' task records, DependencyError) out of the driver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestrator.plan.model import StagePlan


class Engine(Protocol):
    """What runs the tasks: the driver hands it payloads and reads back futures."""

    def start(self) -> None:
        """Prepare; start nothing yet (a resume with nothing left to do starts nothing)."""

    def load(self) -> None:
        """Start, before the first task that must run."""

    def submit(self, stage: StagePlan, payload: dict[str, Any], handles: list[Any],
               retries: int | None = None) -> Any:
        """A future of the task's record (`worker.run_task`), after its `handles`; for a
        bundle's payload (`points`: bundling.py), of its list of records and exceptions
        (`bundle_run.run_bundle`). `retries`: tries left, when not the stage's."""

    def failed_tries(self, fut: Any) -> int:
        """How many tries of a finished task failed."""

    def upstream_failure(self, exc: BaseException) -> str | None:
        """The message when `exc` says a task it needs failed, else None."""

    def waiting(self, handle: Any) -> bool:
        """A submitted task still waits for what it needs (not handed to a worker)."""

    def tick(self) -> None:
        """Housekeeping while the driver waits (record scheduler jobs)."""

    def notes(self, now: float) -> list[str]:
        """Lines for the progress display (e.g. scheduler blocks not running yet)."""

    def shutdown(self, drain: Callable[[], None]) -> None:
        """Stop; call `drain` once the engine can complete no more futures."""


@dataclass
class Outcome:
    """How the tasks of one execution ended (the summary `orch run` prints)."""

    state: str  # succeeded | failed
    counts: dict[str, int]
    failed: list[dict[str, Any]] = field(default_factory=list)
    loops: dict[str, dict[str, Any]] = field(default_factory=dict)
