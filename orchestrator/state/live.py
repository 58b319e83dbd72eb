"""What a submitted task is doing while its run is live: waiting, queued or running.

The journal says only `submitted` (one durable record per task start would cost
every task a write). A task is **running** once its worker wrote a start line
(state/results.py) after it was submitted; otherwise it is **queued** when every
task it needs (and its loop feedback) is done, else **waiting**. The driver knows
the same from Parsl's task records; `orch status` of a live run works it out here
from the run directory alone. No Parsl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.state.results import StartTail
from orchestrator.state.states import SUCCESS_STATES, TaskState
from orchestrator.state.status_model import TaskStatus


def refine_submitted(tasks: list[TaskStatus], plan: dict[str, Any], run_dir: Path,
                     starts: dict[str, dict[str, Any]] | None = None) -> None:
    """Turn every SUBMITTED task of `tasks` into WAITING, QUEUED or RUNNING, in place; one
    whose worker already wrote its result is DONE (the driver is about to journal it)."""
    submitted = [t for t in tasks if t.state is TaskState.SUBMITTED]
    if not submitted:
        return
    ends: dict[str, float] = {}
    if starts is None:
        tail = StartTail(run_dir)
        starts, ends = tail.poll(), tail.ends
    upstream = _Upstream(tasks, plan)
    for t in submitted:
        start = starts.get(t.id)
        if start is not None and _number(start.get("t")) >= (t.submitted or 0.0) - 1.0:
            if ends.get(t.id, 0.0) >= _number(start.get("t")):
                t.state, t.ended = TaskState.DONE, ends[t.id]  # the journal catches up soon
                t.started = _number(start.get("t"))
                continue
            t.state = TaskState.RUNNING
            t.started = _number(start.get("t"))
            t.host = start.get("host") if isinstance(start.get("host"), str) else t.host
            t.pid = start.get("pid") if isinstance(start.get("pid"), int) else t.pid
        elif upstream.ready(t):
            t.state = TaskState.QUEUED
        else:
            t.state = TaskState.WAITING


class _Upstream:
    """The ids of the tasks a task waits for, from plan.json's per-task `needs` (loop
    iterations resolved as the driver wires them)."""

    def __init__(self, tasks: list[TaskStatus], plan: dict[str, Any]):
        self.state = {t.id: t.state for t in tasks}
        self.needs: dict[str, list[str]] = {}
        self.stage_of: dict[str, str] = {}
        for p in plan.get("tasks") or []:
            if isinstance(p, dict) and isinstance(p.get("id"), str):
                self.needs[p["id"]] = [n for n in p.get("needs") or [] if isinstance(n, str)]
                self.stage_of[p["id"]] = str(p.get("stage") or p["id"])
        self.by_stage: dict[str, list[str]] = {}
        for tid, stage in self.stage_of.items():
            self.by_stage.setdefault(stage, []).append(tid)
        self.loop_of = {s["name"]: s.get("loop") for s in plan.get("stages") or []
                        if isinstance(s, dict) and isinstance(s.get("name"), str)}
        self.feedback: dict[str, list[str]] = {}
        for lp in plan.get("loops") or []:
            for edge in (lp.get("feedback") or []) if isinstance(lp, dict) else []:
                if isinstance(edge, dict):
                    self.feedback.setdefault(str(edge.get("to")), []).append(str(edge.get("from")))
        self.latest: dict[str, int] = {}  # base id -> newest iteration journaled
        for tid in self.state:
            base, _, k = tid.rpartition("@")
            if base and k.isdigit():
                self.latest[base] = max(self.latest.get(base, 0), int(k))

    def ready(self, t: TaskStatus) -> bool:
        base, _, k = t.id.rpartition("@")
        if not (base and k.isdigit()):
            base, k = t.id, ""
        ids = [self._resolve(n, t.loop, k) for n in self.needs.get(base, [])]
        if k and int(k) > 1:
            for src in self.feedback.get(t.stage, []):
                ids.extend(f"{p}@{int(k) - 1}" for p in self.by_stage.get(src, ()))
        return all(self.state.get(i) in SUCCESS_STATES for i in ids)

    def _resolve(self, need: str, loop: str | None, k: str) -> str:
        need_loop = self.loop_of.get(self.stage_of.get(need, ""))
        if need_loop is None:
            return need
        if need_loop == loop and k:
            return f"{need}@{k}"
        return f"{need}@{self.latest.get(need, 1)}"


def _number(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0
