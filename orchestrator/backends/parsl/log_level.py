"""How much Parsl writes to its own log (`RUN/parsl/NNN/parsl.log`) during a run.

Parsl's default is DEBUG: ~17 records, ~3 kB, per task, each formatted and flushed under
the DataFlowKernel's task-state lock. On a thread pool that lock and the log file are the
largest per-task cost of a run (a 5,000-task no-op run: 13.7 s at DEBUG, 6.2 s at WARNING
on two cores), and a 10^6-task run would write ~3 GB of it. Every task's tries, failures
and times are in the run's own journal, so runs keep Parsl's warnings and errors by
default; `orch run --parsl-log debug` (or ORCH_PARSL_LOG=debug) brings back Parsl's whole
record for debugging Parsl itself. The records Parsl writes while it starts (its config,
its executors) are kept at every level.
"""

from __future__ import annotations

import logging
import os

LEVELS = ("debug", "info", "warning", "error")
DEFAULT = "warning"
ENV = "ORCH_PARSL_LOG"


def chosen(level: str | None = None) -> str:
    """The level asked for (`--parsl-log`), else ORCH_PARSL_LOG, else the default."""
    value = (level or os.environ.get(ENV) or DEFAULT).lower()
    if value not in LEVELS:
        from orchestrator.errors import UsageError
        raise UsageError(f"{ENV}={value!r}: expected one of {', '.join(LEVELS)}")
    return value


def apply(level: str) -> None:
    """Set Parsl's logger (its file handler follows the logger) to `level` from now on."""
    logging.getLogger("parsl").setLevel(getattr(logging, level.upper()))
