"""Folding a run's journal, record by record, into tasks, attempts and loops: the latest
event of a task wins, except that a `task_cached` record keeps the timing of the earlier
`task_done` it stands for. state/status.py turns the fold into a RunStatus.
"""

from __future__ import annotations

from typing import Any

from orchestrator.state.states import TaskState
from orchestrator.state.status_model import Attempt, LoopIteration, LoopStatus, TaskStatus

NOTE_EVENTS = ("sources_changed",)
"""Records without a task that the report lists (a resume's changed sources)."""
_TASK_EVENTS = {
    "task_submitted": TaskState.SUBMITTED,
    "task_done": TaskState.DONE,
    "task_cached": TaskState.CACHED,
    "task_failed": TaskState.FAILED,
    "task_dep_failed": TaskState.DEP_FAILED,
}


class JournalFold:
    """Applies journal records in order."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskStatus] = {}
        self.table: Any = None
        """The tasks as a state/task_table.TaskTable instead (a large journal's index);
        `tasks` then holds those folded after it until journal_index merges them."""
        self.attempts: list[Attempt] = []
        self.loops: dict[str, LoopStatus] = {}
        self.loop_attempt: dict[str, int] = {}
        self.workflow: str | None = None
        self.site: str | None = None
        self.last_ts: float | None = None
        self.extras: dict[str, tuple[str | None, int | None, dict[str, str] | None]] = {}
        """task id -> (code key, worker pid, device mask): the last of each its records
        held (the report's task_extras.journal_extras, kept here for a large journal's
        index so that the report does not read the journal again)."""
        self.notes: list[dict[str, Any]] = []
        """The NOTE_EVENTS records, for the report."""

    def task_dict(self) -> dict[str, TaskStatus]:
        """`tasks`, with the table's (if any) made objects again."""
        if self.table is not None:
            self.tasks = {**{t.id: t for t in self.table}, **self.tasks}
            self.table = None
        return self.tasks

    def apply(self, rec: dict[str, Any]) -> None:
        ev = rec.get("ev")
        ts = rec.get("ts")
        if isinstance(ts, int | float):
            self.last_ts = float(ts)
        tid = rec.get("task")
        if isinstance(tid, str):
            self._extra(tid, rec)
        elif ev in NOTE_EVENTS:
            self.notes.append(rec)
        if ev == "run_started":
            self._run_started(rec)
        elif ev == "run_finished" and self.attempts:
            a = self.attempts[-1]
            a.state = str(rec.get("state") or "crashed")
            a.ended = self.last_ts
            a.seconds = _number(rec.get("seconds"))
        elif ev in _TASK_EVENTS and isinstance(rec.get("task"), str):
            self._task(_TASK_EVENTS[ev], rec)
        elif ev in ("loop_iteration", "loop_finished") and isinstance(rec.get("loop"), str):
            self._loop(ev, rec)

    def _extra(self, tid: str, rec: dict[str, Any]) -> None:
        key, pid, devices = self.extras.get(tid) or (None, None, None)
        if isinstance(k := rec.get("key"), str):
            key = k
        if isinstance(p := rec.get("pid"), int):
            pid = p
        if isinstance(d := rec.get("devices"), dict) and d:
            devices = {str(a): str(b) for a, b in d.items()}
        self.extras[tid] = (key, pid, devices)

    def _run_started(self, rec: dict[str, Any]) -> None:
        self.workflow = rec.get("workflow") or self.workflow
        self.site = rec.get("site") or self.site
        pid = rec.get("pid")
        self.attempts.append(Attempt(len(self.attempts) + 1, self.last_ts or 0.0,
                                     pid if isinstance(pid, int) else None,
                                     bool(rec.get("resume"))))

    def _task(self, state: TaskState, rec: dict[str, Any]) -> None:
        tid = rec["task"]
        prev = self.tasks.get(tid)
        t = TaskStatus(id=tid, stage=str(rec.get("stage") or tid.split("[")[0].split("@")[0]),
                       state=state, attempts=rec.get("attempts"), result=rec.get("result"),
                       started=_number(rec.get("started")), ended=_number(rec.get("ended")),
                       error=rec.get("error"), iteration=rec.get("iteration"),
                       loop=rec.get("loop"), index=rec.get("index"), host=rec.get("host"),
                       run_attempt=len(self.attempts), exit_code=_int(rec.get("exit_code")),
                       signal=_text(rec.get("signal")), stderr_tail=_text(rec.get("stderr_tail")))
        if state is TaskState.CACHED and prev is not None and prev.state in (
                TaskState.DONE, TaskState.CACHED):
            t.started = t.started if t.started is not None else prev.started
            t.ended = t.ended if t.ended is not None else prev.ended
            t.host = t.host or prev.host
            t.attempts = t.attempts if t.attempts is not None else prev.attempts
        if state is TaskState.SUBMITTED:
            t.submitted = self.last_ts
        t.pid = _int(rec.get("pid"))
        # paths as journaled; status._resolve_logs keeps those that exist
        t.stdout, t.stderr = rec.get("stdout"), rec.get("stderr")
        self.tasks[tid] = t

    def _loop(self, ev: str, rec: dict[str, Any]) -> None:
        name = rec["loop"]
        attempt = len(self.attempts)
        loop = self.loops.get(name)
        if loop is None or self.loop_attempt.get(name) != attempt:
            loop = self.loops[name] = LoopStatus(name)  # a resumed run re-runs its loops
            self.loop_attempt[name] = attempt
        if ev == "loop_iteration":
            k = rec.get("iteration")
            loop.iterations = [i for i in loop.iterations if i.iteration != k]
            loop.iterations.append(LoopIteration(k, rec.get("value"), rec.get("met"),
                                                 rec.get("metric"), rec.get("op"),
                                                 rec.get("threshold")))
            loop.iterations.sort(key=lambda i: i.iteration if isinstance(i.iteration, int) else 0)
        else:
            loop.reason = rec.get("reason")
            loop.error = rec.get("error")
            if isinstance(rec.get("iterations"), int):
                loop.count = rec["iterations"]



def _text(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

