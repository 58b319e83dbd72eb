"""The report's Summary section: the run's facts, tasks by state, and per stage the hours
used, expected and planned (report/usage.py), one column per kind of hours it counts."""

from __future__ import annotations

from typing import Any

from orchestrator.report.context import ReportContext
from orchestrator.report.parts import badge, clock, table
from orchestrator.report.status_text import format_seconds
from orchestrator.report.svg import esc
from orchestrator.report.usage import HOURS, HoursColumn, StageUsage, stage_usage
from orchestrator.report.usage_columns import table_stage_tasks
from orchestrator.state.history import earlier_runs, stage_history
from orchestrator.state.status_model import RunStatus


def summary(ctx: ReportContext) -> str:
    st = ctx.st
    facts = [("workflow", esc(st.workflow or "?")), ("site", esc(st.site or "?")),
             ("state", badge(st.state)), ("started", esc(clock(st.started))),
             ("ended", esc(clock(st.ended))), ("duration", esc(format_seconds(st.duration))),
             ("attempts", esc(len(st.attempts))), ("tasks", esc(f"{len(st.tasks):,}"))]
    facts += _driver_jobs(st)
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    chips = " ".join(f"{badge(k)} {v:,}" for k, v in st.counts.items() if v)
    warn = "".join(f'<p class="note">warning: {esc(w)}</p>' for w in st.warnings)
    return (f'<dl class="facts">{dl}</dl><p>tasks by state: {chips or "none"}</p>{warn}'
            "<h3>Stages and resources used</h3>" + _usage_table(ctx))


def _driver_jobs(st: RunStatus) -> list[tuple[str, str]]:
    """`orch submit`'s driver jobs, each with its chain link and what the scheduler says
    of it now ("ended" once it no longer lists it)."""
    from orchestrator.state.submit_jobs import link_states

    links = link_states(st.run_dir)
    if not links:
        return []
    text = "; ".join(f"{x['job']} (link {x['link']} of {len(links)}): {x['state']}"
                     for x in links)
    return [("driver jobs", esc(text))]


def _earlier(st: RunStatus) -> tuple[dict[str, Any], int]:
    """History of the same workflow's other runs beside this one (the run root)."""
    if not st.workflow:
        return {}, 0
    runs = earlier_runs(st.run_dir.parent, st.workflow, exclude=st.run_dir)
    return stage_history(runs), len(runs)


def _usage_table(ctx: ReportContext) -> str:
    history, earlier = _earlier(ctx.st)
    found = table_stage_tasks(ctx.table) if ctx.table is not None else None
    usage = stage_usage(ctx.plan, ctx.st, history, found)
    counts = {s.name: s.counts for s in ctx.st.stages}
    rows = []
    for u in usage:
        c = counts.get(u.name, {})
        ok = c.get("done", 0) + c.get("cached", 0)
        bad = c.get("failed", 0) + c.get("dep_failed", 0)
        where = " · ".join(esc(x) for x in (u.pool, u.device) if x) or "-"
        rows.append([f'<svg width="10" height="10"><rect class="s{ctx.colour.get(u.name, 0)}" '
                     f'width="10" height="10"/></svg> {esc(u.name)}'
                     + (f' <span class="note">(loop {esc(u.loop)})</span>' if u.loop else ""),
                     where, f"{u.tasks:,}", f"{ok:,}", f"{bad:,}" if bad else "·",
                     esc(format_seconds(u.busy_seconds if u.timed else None)),
                     esc(format_seconds(u.quantile(0.5))), esc(format_seconds(u.quantile(1.0))),
                     *(_trio(u, col) for col in HOURS)])
    total = ["total", "", f"{sum(u.tasks for u in usage):,}", "", "",
             esc(format_seconds(sum(u.busy_seconds for u in usage))), "", "",
             *(" / ".join(_h(_total(usage, figures, col)) for figures in
                          ("used", "expected", "planned")) for col in HOURS)]
    head = ["stage", "pool · device", "tasks", "done", "failed", "busy", "median", "max",
            *(f"{col.heading} used / expected / planned" for col in HOURS)]
    source = (f"from {earlier} earlier run{'s' if earlier != 1 else ''} of "
              f"{esc(ctx.st.workflow)} in {esc(ctx.st.run_dir.parent)}" if earlier else
              f"none: no earlier run of {esc(ctx.st.workflow or '?')} in "
              f"{esc(ctx.st.run_dir.parent)}")
    return (table(head, rows, set(range(2, len(head))), total) +
            '<p class="note">used = each done or cached task\'s run time (measured on the '
            "worker) &times; the nodes and accelerators it held, from plan.json (its share "
            "of a node, as the plan charges it); expected = the same, for every planned task "
            "at the mean run time of the stage's done tasks in earlier runs beside this one "
            f"({source}; - where a stage never ran); planned = the plan's estimate from "
            "walltimes (an upper bound). Expected and planned count loop stages at "
            "max_iterations. Failed attempts and idle workers are not counted. "
            "See docs/report.md.</p>")


def _trio(u: StageUsage, col: HoursColumn) -> str:
    """used / expected / planned hours of one column (node, GPU, XPU)."""
    return " / ".join(_h(getattr(u, figures)[col.label])
                      for figures in ("used", "expected", "planned"))


def _total(usage: list[StageUsage], figures: str, col: HoursColumn) -> float | None:
    """Sum over stages of one figure of one column; None if no stage has it."""
    vals = [v for u in usage if (v := getattr(u, figures)[col.label]) is not None]
    return sum(vals) if vals else None


def _h(v: float | None) -> str:
    return "-" if v is None else "0" if v == 0 else f"{v:.3g}"
