"""A run's state and running time from its attempts: an unfinished attempt is running while
its process lives, else crashed; an attempt run.json lists before the journal has it counts
while its process lives.
"""

from __future__ import annotations

from typing import Any

from orchestrator.state.liveness import pid_alive
from orchestrator.state.status_model import Attempt

RUN_STATES = ("running", "succeeded", "failed", "interrupted", "crashed")
FINISHED_NORMALLY = ("succeeded", "failed")  # the attempt ran every task to an end


def unjournaled_attempt(meta: dict[str, Any], journaled: list[Attempt]) -> list[Attempt]:
    """An attempt run.json lists but the journal has no run_started for (yet): one starting
    now, or one that died first. Counted if it is the only one, or while its process lives."""
    listed = [a for a in meta.get("attempts") or []
              if isinstance(a, dict) and isinstance(a.get("started"), int | float)]
    if len(listed) <= len(journaled):
        return []
    a = listed[-1]
    pid = a.get("pid") if isinstance(a.get("pid"), int) else None
    attempt = Attempt(len(journaled) + 1, float(a["started"]), pid, bool(journaled))
    if journaled and not (pid is not None and pid_alive(pid, since=attempt.started)):
        return []
    return [attempt]


def run_state(attempts: list[Attempt], last_ts: float | None) -> str:
    """The last attempt's state; unfinished means running if its process lives, else crashed."""
    if not attempts:
        return "crashed"
    last = attempts[-1]
    if last.ended is None:
        if last.pid is not None and pid_alive(last.pid, since=last.started):
            last.state = "running"
        else:
            last.state = "crashed"
            last.ended = last_ts if last_ts and last_ts >= last.started else last.started
    return last.state


def duration(attempts: list[Attempt], now: float) -> float:
    """Seconds spent running, summed over attempts (time between attempts is not counted)."""
    total = 0.0
    for a in attempts:
        if a.seconds is not None:
            total += a.seconds
        else:
            end = a.ended if a.ended is not None else now
            total += max(0.0, end - a.started)
    return round(total, 3)

