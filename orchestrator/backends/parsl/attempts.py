"""Which attempt of a task runs, and what a failed try costs of Parsl's retry budget.

Parsl retries a task by launching the same arguments again, so the worker cannot tell a
retry from a first try. The driver's retry handler (called by Parsl after each failed try,
before the next launch) writes the next attempt's number into the payload; the worker puts
it in the header of the task's log sections (state/task_logs.py). A first try carries no
number (1), so the common case ships nothing more. A resumed run continues the count of
the attempts earlier runs made (`failures.tries_before`).
"""

from __future__ import annotations

import json
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from parsl.executors.errors import BadStateException
from parsl.executors.high_throughput.errors import ManagerLost, WorkerLost

RETRY_BUDGET = 1000.0  # Parsl's fail-cost budget; per-stage retries are fractions of it
INFRA_RETRIES = 10  # a lost worker or block (walltime, scancel) is retried elsewhere


def retry_cost(exc: Exception, task_record: Any, retries: dict[str, int]) -> float:
    """Parsl's retry handler: lost workers/blocks cost little (the task did not fail, its
    node did); a task's own failures spend its stage's `retries` (task id -> count). The
    next try gets its attempt number."""
    number_next_try(task_record)
    if isinstance(exc, ManagerLost | WorkerLost | BadStateException | BrokenProcessPool):
        return RETRY_BUDGET / INFRA_RETRIES
    payload = task_record["args"][0] if task_record.get("args") else {}
    if isinstance(payload, str):
        payload = json.loads(payload)
    allowed = retries.get(payload.get("task_id"), 0)
    if allowed <= 0:
        return RETRY_BUDGET + 1
    return RETRY_BUDGET / allowed


def number_next_try(task_record: Any) -> None:
    """Give the payload in `task_record["args"][0]` the next attempt's number (it is only
    read by the task it is launched for: every try has its own record)."""
    args = task_record.get("args")
    if not args:
        return
    payload = args[0]
    text = isinstance(payload, str)
    data = json.loads(payload) if text else payload
    if not isinstance(data, dict) or "task_id" not in data:
        return
    data = {**data, "attempt": (data.get("attempt") or 1) + 1}
    new = json.dumps(data, separators=(",", ":")) if text else data
    rest = list(args[1:])
    task_record["args"] = tuple([new, *rest]) if isinstance(args, tuple) else [new, *rest]
