"""The driver's progress view rebuilt from a run directory, for `orch status [--watch]`
of a run started elsewhere (a batch job, another terminal): same rows, same ETA."""

from __future__ import annotations

from orchestrator.report.progress_view import Durations, ProgressView, StageRow, estimate, loop_note
from orchestrator.state.history import earlier_runs, stage_history
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import RunStatus

_COUNTED = {TaskState.DONE: "done", TaskState.CACHED: "cached", TaskState.FAILED: "failed",
            TaskState.DEP_FAILED: "failed", TaskState.WAITING: "waiting",
            TaskState.QUEUED: "queued", TaskState.SUBMITTED: "queued",
            TaskState.RUNNING: "running"}


def status_view(st: RunStatus, now: float, notes: list[str] | None = None) -> ProgressView:
    rows = {s.name: StageRow(s.name, loop=s.loop) for s in st.stages}
    durations = Durations()
    for t in st.tasks:
        row = rows.setdefault(t.stage, StageRow(t.stage, loop=t.loop))
        if t.state is TaskState.PENDING or t.state is TaskState.CANCELLED:
            continue
        row.total += 1
        attr = _COUNTED.get(t.state)
        if attr:
            setattr(row, attr, getattr(row, attr) + 1)
        if t.state is TaskState.DONE and t.duration is not None:
            total, n = durations.measured.get(t.stage, (0.0, 0))
            durations.measured[t.stage] = (total + t.duration, n + 1)
        elif t.state is TaskState.RUNNING and t.started is not None:
            durations.running.setdefault(t.stage, []).append(max(0.0, now - t.started))
    view = ProgressView(st.duration or 0.0, list(rows.values()))
    if st.state == "running" and st.plan_stages:
        runs = earlier_runs(st.run_dir.parent, st.workflow or "", exclude=st.run_dir)
        durations.history = stage_history(runs)
        view.eta = estimate(view.rows, st.plan_stages, durations, st.capacity)
        loops = {lp.name: (lp.count, lp.max_iterations) for lp in st.loops if lp.reason is None}
        note = loop_note(loops)
        if note and view.eta is not None:
            view.notes.append(note)
    view.notes.extend(notes or [])
    return view
