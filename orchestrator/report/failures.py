"""The report's Failures section: the first failed tasks in full (error, exit, stderr tail),
the rest listed or grouped by error, and the tasks that never ran because of them."""

from __future__ import annotations

from orchestrator.report.context import ReportContext
from orchestrator.report.parts import table
from orchestrator.report.status_text import exit_text, stderr_tail
from orchestrator.report.svg import esc, short
from orchestrator.state.states import TaskState
from orchestrator.state.status_model import TaskStatus

FAILED_DETAILED = 10
FAILED_LISTED = 10_000  # in full, in a <details>, unless a run failed wholesale
STDERR_LINES = 20


def failures_heading(ctx: ReportContext) -> str:
    """"Failures", with how many failed once anything failed, depended on one or was cancelled."""
    return f"Failures ({len(ctx.st.failed_tasks()):,} failed)" if _any(ctx) else "Failures"


def _any(ctx: ReportContext) -> bool:
    counts = ctx.st.counts
    return bool(counts["failed"] or counts["dep_failed"] or counts["cancelled"])


def failures(ctx: ReportContext) -> str:
    st = ctx.st
    failed = st.failed_tasks()
    dep = st.in_state(TaskState.DEP_FAILED)
    cancelled = st.counts["cancelled"]
    if not (failed or dep or cancelled):
        return "<p>No task failed.</p>"
    parts = [_error_groups(failed)] if len(failed) > FAILED_DETAILED else []
    parts += [_failure(t) for t in failed[:FAILED_DETAILED]]
    rest = failed[FAILED_DETAILED:FAILED_DETAILED + FAILED_LISTED]
    if rest:
        parts.append(f"<details><summary>{len(rest):,} more failed tasks</summary>" + table(
            ["task", "attempts", "error", "stderr"],
            [[esc(t.id), esc(t.attempts if t.attempts is not None else "-"),
              esc(short(_first_line(t.error), 160)), esc(t.stderr or "-")] for t in rest])
            + "</details>")
    if len(failed) > FAILED_DETAILED + len(rest):
        parts.append(f'<p class="note">{len(failed) - FAILED_DETAILED - len(rest):,} more failed '
                     "tasks (`orch status RUN_DIR --all` lists them).</p>")
    if dep:
        ids = ", ".join(t.id for t in dep[:20]) + (f" and {len(dep) - 20:,} more"
                                                   if len(dep) > 20 else "")
        parts.append(f"<p>Not run because a task they need failed: {esc(ids)}</p>")
    if cancelled:
        parts.append(f"<p>{cancelled:,} task(s) cancelled: the attempt ended before they "
                     "finished (`orch run --resume` runs them).</p>")
    return "".join(parts)


def _failure(t: TaskStatus) -> str:
    tries = (f" after {t.attempts} attempts" if isinstance(t.attempts, int) and t.attempts > 1
             else "")
    tail = stderr_tail(t, STDERR_LINES)
    log = (f"<pre>{esc(chr(10).join(tail))}</pre>" if tail else
           '<p class="note">(no stderr output)</p>')
    return (f'<div class="failure" data-task="{esc(t.id)}"><h3>{esc(t.id)} '
            f'<span class="note">{esc(t.stage)}{esc(tries)}</span></h3>'
            f'<pre class="error">{esc(t.error or "(no error recorded)")}</pre>'
            + (f'<p class="exit">{esc(exit_text(t))}</p>' if t.exit_code is not None else "") +
            f'<p class="note">stderr: {esc(t.stderr or "(no stderr file)")}'
            f'{f"; its last {len(tail)} lines:" if tail else ""}</p>{log}</div>')


def _error_groups(failed: list[TaskStatus]) -> str:
    groups: dict[str, list[str]] = {}
    for t in failed:
        groups.setdefault(_first_line(t.error), []).append(t.id)
    rows = [[f"{len(ids):,}", esc(short(err, 200)), esc(", ".join(ids[:3])
                                                        + (" …" if len(ids) > 3 else ""))]
            for err, ids in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:20]]
    return "<h3>By error</h3>" + table(["tasks", "error", "for example"], rows, {0})


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else "(no error recorded)"
