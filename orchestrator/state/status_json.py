"""The `orch status --format json` document (a stable contract: docs/status-json.md)."""

from __future__ import annotations

from typing import Any

from orchestrator.state.status_model import LoopStatus, RunStatus, TaskStatus

STATUS_FORMAT_VERSION = 1


def status_json(st: RunStatus, view: Any = None) -> dict[str, Any]:
    """`view`: the progress view of a live run (report/progress_view.ProgressView)."""
    return {
        "format": STATUS_FORMAT_VERSION,
        "run_dir": str(st.run_dir),
        "workflow": st.workflow,
        "site": st.site,
        "state": st.state,
        "attempts": len(st.attempts),
        "started": st.started,
        "ended": st.ended,
        "duration": st.duration,
        "counts": st.counts,
        "stages": [{"name": s.name, "loop": s.loop, "counts": s.counts} for s in st.stages],
        "loops": [_loop_json(lp) for lp in st.loops],
        "tasks": [_task_json(t) for t in st.tasks],
        "warnings": list(st.warnings),
        "progress": _progress_json(view) if view is not None else None,
    }


def _progress_json(view: Any) -> dict[str, Any]:
    return {"elapsed": round(view.elapsed, 3),
            "eta": round(view.eta, 3) if view.eta is not None else None,
            "stages": [{"name": r.name, "total": r.total, "done": r.done + r.cached,
                        "failed": r.failed, "running": r.running, "queued": r.queued,
                        "waiting": r.waiting,
                        "eta": round(r.eta, 3) if r.eta is not None else None,
                        "eta_from": r.source} for r in view.rows],
            "notes": list(view.notes)}


def _loop_json(lp: LoopStatus) -> dict[str, Any]:
    return {"name": lp.name, "max_iterations": lp.max_iterations, "iterations_run": lp.count,
            "iterations": [{"iteration": i.iteration, "value": i.value, "met": i.met}
                           for i in lp.iterations],
            "reason": lp.reason, "error": lp.error}


def _task_json(t: TaskStatus) -> dict[str, Any]:
    duration = t.duration
    return {"id": t.id, "stage": t.stage, "state": t.state.value, "attempts": t.attempts,
            "started": t.started, "ended": t.ended,
            "duration": round(duration, 6) if duration is not None else None,
            "result": t.result, "error": t.error, "exit_code": t.exit_code,
            "signal": t.signal, "stderr_tail": t.stderr_tail,
            "stdout": t.stdout, "stderr": t.stderr,
            "iteration": t.iteration, "loop": t.loop, "host": t.host, "pid": t.pid}
