"""`orch status --format text`: header, stages, loops, failures and a compact task table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from orchestrator.report.console import console
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import LoopStatus, RunStatus, TaskStatus

TASK_ROWS = 50
FAILED_SHOWN = 10
STDERR_TAIL = 5
PREVIEW_CHARS = 60

_RUN_STYLE = {"succeeded": "green", "running": "cyan", "failed": "red",
              "interrupted": "yellow", "crashed": "red"}
_TASK_STYLE = {TaskState.DONE: "green", TaskState.CACHED: "green", TaskState.FAILED: "red",
               TaskState.DEP_FAILED: "red", TaskState.CANCELLED: "yellow",
               TaskState.SUBMITTED: "cyan", TaskState.PENDING: "dim",
               TaskState.WAITING: "dim cyan", TaskState.QUEUED: "blue",
               TaskState.RUNNING: "cyan"}
# stage table columns: (heading, states counted)
_COLUMNS = (("done", (TaskState.DONE,)), ("cached", (TaskState.CACHED,)),
            ("failed", (TaskState.FAILED,)), ("dep_failed", (TaskState.DEP_FAILED,)),
            ("cancelled", (TaskState.CANCELLED,)), ("running", (TaskState.RUNNING,)),
            ("queued", (TaskState.QUEUED, TaskState.SUBMITTED)),
            ("waiting", (TaskState.WAITING,)), ("pending", (TaskState.PENDING,)))


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def preview(value: Any, width: int = PREVIEW_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str,
                                                           separators=(", ", ": "))
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def tail_lines(path: str | Path | None, n: int = STDERR_TAIL, max_bytes: int = 16384) -> list[str]:
    """The last `n` non-empty lines of a text file (reading at most its last `max_bytes`)."""
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except OSError:
        return []
    lines = [ln.rstrip() for ln in data.decode("utf-8", errors="replace").splitlines()]
    if size > max_bytes and lines:
        lines = lines[1:]  # the first one is probably cut
    return [ln for ln in lines if ln.strip()][-n:]


def exit_text(t: TaskStatus) -> str:
    """"exit code 3", or "exit code 137 (SIGKILL)" for a command killed by a signal."""
    return f"exit code {t.exit_code}" + (f" ({t.signal})" if t.signal else "")


def stderr_tail(t: TaskStatus, n: int = STDERR_TAIL) -> list[str]:
    """The last lines of a failed task's stderr: those its last attempt's command wrote (the
    journal has them), else the end of its stderr file (a python stage's traceback)."""
    if t.stderr_tail:
        return [ln for ln in t.stderr_tail.splitlines() if ln.strip()][-n:]
    return tail_lines(t.stderr, n)


def render_status(st: RunStatus, file=None, show_all: bool = False, view=None) -> None:
    """`view`: a live run's progress (report/progress_view.py) shown instead of the stage
    counts: the same table the driver shows."""
    con = console(file)
    _header(con, st)
    if view is not None:
        from orchestrator.report.progress_view import rich_table

        con.print(rich_table(view))
    else:
        _stage_table(con, st)
    for loop in st.loops:
        _loop_lines(con, loop)
    _failures(con, st, show_all)
    _task_table(con, st, show_all)
    for w in st.warnings:
        con.print(f"warning: {w}", style="yellow", markup=False)


def _header(con, st: RunStatus) -> None:
    from rich.text import Text

    n = len(st.attempts)
    line = Text()
    line.append(st.workflow or "?", style="bold").append(" on ").append(st.site or "?",
                                                                       style="bold")
    line.append(": ").append(st.state, style=f"bold {_RUN_STYLE.get(st.state, '')}")
    if st.driver and isinstance(st.driver.get("pid"), int):
        line.append(f" (driver pid {st.driver['pid']} on host {st.driver.get('host', '?')})")
    since = {"running": "for", "interrupted": "after", "crashed": "after"}.get(st.state, "in")
    line.append(f" {since} {format_seconds(st.duration)}, {n} attempt{'s' if n != 1 else ''}")
    con.print(line)
    con.print(f"run directory {st.run_dir}", markup=False)
    if st.started is not None:
        span = f"started {_clock(st.started)}"
        if st.ended is not None:
            span += f", ended {_clock(st.ended)}"
        con.print(span, style="dim", markup=False)
    if n and st.state in ("interrupted", "crashed", "failed"):
        con.print(f"resume with: orch run --resume {st.run_dir}", markup=False)


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _stage_table(con, st: RunStatus) -> None:
    from rich.table import Table
    from rich.text import Text

    if not st.stages:
        con.print("no tasks recorded yet")
        return
    shown = [(h, states) for h, states in _COLUMNS
             if h in ("done", "failed", "pending") or
             any(s.counts[x.value] for s in st.stages for x in states)]
    table = Table(show_lines=False)
    table.add_column("stage")
    table.add_column("tasks", justify="right")
    for heading, _ in shown:
        table.add_column(heading, justify="right")
    for s in st.stages:
        name = Text(s.name) + (Text(f"  (loop {s.loop})", style="dim") if s.loop else Text())
        cells = [Text(str(sum(s.counts[x.value] for x in states) or "·"),
                      style=_TASK_STYLE[states[0]] if sum(s.counts[x.value] for x in states)
                      else "dim") for _, states in shown]
        table.add_row(name, str(s.total), *cells)
    con.print(table)


def _loop_lines(con, loop: LoopStatus) -> None:
    until = loop.until or {}
    cond = (f"until {until.get('stage')}.{until.get('metric')} {until.get('op')} "
            f"{until.get('value')}" if until else "no condition")
    limit = f", max {loop.max_iterations}" if loop.max_iterations else ""
    ended = {"condition": "condition met", "max_iterations": "reached max_iterations",
             "failed": "failed"}.get(loop.reason or "", "not finished")
    done = loop.count
    con.print(f"loop {loop.name}: {ended} after {done} iteration{'s' if done != 1 else ''} "
              f"({cond}{limit})", markup=False)
    if loop.error:
        con.print(f"  error: {loop.error}", style="red", markup=False)
    for it in loop.iterations:
        met = "met" if it.met is True else "not met" if it.met is False else "?"
        metric = it.metric or until.get("metric") or "value"
        con.print(f"  iteration {it.iteration}: {metric} = {preview(it.value, 30)}  ({met})",
                  markup=False)


def _failures(con, st: RunStatus, show_all: bool) -> None:
    failed = st.failed_tasks()
    shown = failed if show_all else failed[:FAILED_SHOWN]
    for t in shown:
        tries = f" after {t.attempts} attempts" if isinstance(t.attempts, int) and \
            t.attempts > 1 else ""
        con.print(f"failed: {t.id}{tries}: {t.error or '(no error recorded)'}", style="red",
                  markup=False)
        ended = f"  {exit_text(t)}; " if t.exit_code is not None else "  "
        con.print(f"{ended}stderr: {t.stderr or '(no stderr file)'}", markup=False)
        for line in stderr_tail(t):
            con.print(f"  | {line}", style="dim", markup=False)
    if len(failed) > len(shown):
        con.print(f"… {len(failed) - len(shown)} more failed tasks (--all shows them)",
                  markup=False)
    dep = [t.id for t in st.in_state(TaskState.DEP_FAILED)]
    if dep:
        names = ", ".join(dep[:5]) + (f" and {len(dep) - 5} more" if len(dep) > 5 else "")
        con.print(f"not run because a task they need failed: {names}", style="red",
                  markup=False)


def _task_table(con, st: RunStatus, show_all: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    if not st.tasks:
        return
    rows = st.tasks if show_all else st.tasks[:TASK_ROWS]
    id_w = min(40, max(len(t.id) for t in rows))
    state_w = max(5, *(len(t.state.value) for t in rows))
    width = max(20, min(PREVIEW_CHARS, con.width - id_w - state_w - 8 - 13))  # 13: borders
    table = Table(show_lines=False)
    table.add_column("task", no_wrap=True, min_width=id_w)
    table.add_column("state", no_wrap=True, min_width=state_w)
    table.add_column("duration", justify="right", no_wrap=True, min_width=8)
    table.add_column("result", no_wrap=True, overflow="ellipsis")
    for t in rows:
        table.add_row(Text(t.id), Text(t.state.value, style=_TASK_STYLE[t.state]),
                      format_seconds(t.duration), _result_cell(t, width))
    con.print(table)
    if len(st.tasks) > len(rows):
        con.print(f"… {len(st.tasks) - len(rows)} more tasks (--all shows them)", markup=False)


def _result_cell(t: TaskStatus, width: int):
    from rich.text import Text

    if t.state in (TaskState.FAILED, TaskState.DEP_FAILED):
        return Text(preview(t.error or "", width), style="red")
    if t.state in (TaskState.DONE, TaskState.CACHED):
        return Text(preview(t.result, width))
    if t.state is TaskState.RUNNING:
        where = f"on {t.host or '?'}" + (f" pid {t.pid}" if t.pid else "")
        since = f" for {format_seconds(time.time() - t.started)}" if t.started else ""
        return Text(where + since, style="cyan")
    return Text("")
