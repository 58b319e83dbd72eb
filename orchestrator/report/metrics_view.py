"""The report's Metrics section: the figures tasks wrote (report/figures.py), a chart per
loop's condition and per numeric field tasks returned (report/metrics.py)."""

from __future__ import annotations

from orchestrator.report.context import ReportContext
from orchestrator.report.metrics import StageMetrics, loop_points, stage_metrics
from orchestrator.report.parts import table
from orchestrator.report.svg import PALETTE, chart, esc, thin
from orchestrator.report.table_view import SUCCESS_CODES
from orchestrator.state.status_model import LoopStatus, TaskStatus

MAX_POINT_TITLES = 200


def metrics(ctx: ReportContext) -> str:
    parts = []
    for lp in ctx.st.loops:
        pts, threshold = loop_points(lp)
        if pts:
            parts.append(_loop_chart(lp, pts, threshold))
    for stage, tasks in result_tasks(ctx).items():
        m = stage_metrics(stage, tasks)
        if m is not None:
            parts.append(_stage_charts(ctx, m))
    if not parts:
        parts.append("<p>No numeric values were returned (a task returning a dict of numbers "
                     "gets a plot per field).</p>")
    return ctx.figures + "".join(parts)


def result_tasks(ctx: ReportContext) -> dict[str, list[TaskStatus]]:
    """Each stage's tasks that may have returned a value: every task, or of a task table
    (ctx.table) only its done and cached tasks with a result, as objects."""
    if ctx.table is None:
        return ctx.by_stage
    out: dict[str, list[TaskStatus]] = {n: [] for n in ctx.stage_names}
    state = ctx.table.cols["state"]
    for r in sorted(ctx.table.odd["result"]):
        if int(state[r]) in SUCCESS_CODES:
            t = ctx.table.task(r)
            out[t.stage].append(t)
    return out


def _loop_chart(lp: LoopStatus, pts: list[tuple[int, float, bool | None]],
                threshold: float | None) -> str:
    until = lp.until or {}
    metric = until.get("metric") or next((i.metric for i in lp.iterations if i.metric), "value")
    op = until.get("op") or next((i.op for i in lp.iterations if i.op), "")
    dots = [(float(k), v, f"iteration {k}: {v:.6g} ({'met' if met else 'not met'})",
             "#59a14f" if met else "#f28e2b") for k, v, met in pts]
    svg = chart(f"loop {lp.name}: {until.get('stage', '')}.{metric}", "iteration", metric,
                 lines=[("value", [(x, y) for x, y, _, _ in dots], "#4e79a7")], dots=dots,
                 hline=(threshold, f"until {op} {threshold:g}") if threshold is not None
                 else None, integer_x=True)
    reason = {"condition": "condition met", "max_iterations": "stopped at max_iterations",
              "failed": f"failed: {lp.error or ''}"}.get(lp.reason or "", "not finished")
    return (f'<h3>Loop {esc(lp.name)}</h3><div class="grid">{svg}</div><p class="note">'
            f"{esc(lp.count)} iteration(s), {esc(reason)}; green: condition met.</p>")


def _stage_charts(ctx: ReportContext, m: StageMetrics) -> str:
    colour = ctx.fill(m.stage)
    xlabel = {"loop": "iteration", "sweep": "task index", "single": "position"}[m.kind]
    charts = []
    if m.kind == "single":
        rows = [[esc(k), esc(f"{v[0][1]:.6g}")] for k, v in m.points.items()]
        values = table(["value", ""], rows, {1}) if rows else ""
    else:
        values = ""
        for name, pts in m.points.items():
            charts.append(_points_chart(m, name, pts, colour, xlabel))
    for name, lines in m.series.items():
        charts.append(chart(f"{m.stage}.{name}", "position", name, integer_x=True,
                             lines=[(tid, [(float(i), y) for i, y in enumerate(ys)],
                                     PALETTE[k % len(PALETTE)]) for k, (tid, ys) in
                                    enumerate(lines)]))
    const = ", ".join(f"{k} = {v:.6g}" for k, v in m.constants.items())
    notes = (f'<p class="note">the same in every task: {esc(const)}</p>' if const else "")
    if m.dropped:
        notes += f'<p class="note">{m.dropped} more numeric field(s) not plotted.</p>'
    return (f"<h3>{esc(m.stage)} <span class=\"note\">({esc(m.kind)})</span></h3>{values}"
            f'<div class="grid">{"".join(charts)}</div>{notes}')


def _points_chart(m: StageMetrics, name: str, pts: list[tuple[float, float, str]],
                  colour: str, xlabel: str) -> str:
    pts = sorted(pts)
    if len(pts) <= MAX_POINT_TITLES:
        dots = [(x, y, f"{tid}: {y:.6g}", colour) for x, y, tid in pts]
    else:  # thousands of tasks: the lowest and highest value of each of 1,000 buckets
        dots = [(x, y, None, colour) for x, y in thin([(x, y) for x, y, _ in pts])]
    lines = []
    if m.kind == "loop":  # the mean per iteration
        by_x: dict[float, list[float]] = {}
        for x, y, _ in pts:
            by_x.setdefault(x, []).append(y)
        lines = [("mean", [(x, sum(v) / len(v)) for x, v in sorted(by_x.items())], "#333")]
    return chart(f"{m.stage}.{name}", xlabel, name, lines=lines, dots=dots,
                  integer_x=True)
