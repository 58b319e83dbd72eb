"""`orch report`: one self-contained HTML file about a run, from its run directory alone.

No network is needed to view it: the CSS is inline, the charts are inline SVG
written here, and there is no JavaScript (hover titles are SVG `<title>`s); a
Content-Security-Policy forbids loading anything. Every string from the run
(task ids, errors, logs, spec values) is escaped. Never imports Parsl.
The Provenance section is provenance.py (its file lineage lineage.py), the figures in
Metrics figures.py, shared HTML pieces parts.py. See docs/report.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from orchestrator import __version__
from orchestrator.report import metrics as mx
from orchestrator.report.figures import figures
from orchestrator.report.graph import dag
from orchestrator.report.parts import badge, clock, section, table
from orchestrator.report.provenance import provenance
from orchestrator.report.status_text import exit_text, format_seconds, stderr_tail
from orchestrator.report.svg import PALETTE, STATE_COLOURS, chart, esc, gantt, short, thin
from orchestrator.state.history import earlier_runs, stage_history
from orchestrator.state.results import results_by_task
from orchestrator.state.states import TaskState
from orchestrator.state.status import load_status
from orchestrator.state.status_model import RunStatus, TaskStatus

MAX_LANES = 200
MAX_BARS = 5000
FAILED_DETAILED = 10
FAILED_LISTED = 200
STDERR_LINES = 20
MAX_POINT_TITLES = 200
NAME_CHARS = 17  # a stage's name in its 160 px box: 17 bold 12 px DejaVu characters fit
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2d3d;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}
header .sub{opacity:.8;font-size:13px}nav{margin-top:6px}nav a{color:#cfe3ff;margin-right:14px;font-size:13px}
main{padding:8px 28px 40px;max-width:1400px}section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:12px 18px;margin:16px 0}
h2{font-size:18px;margin:4px 0 10px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border-bottom:1px solid #eaecef;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f3f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:600;border-top:2px solid #ccc}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.chip{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:middle}
.note{color:#666;font-size:12px}pre{background:#f6f8fa;border:1px solid #eaecef;padding:6px 8px;overflow:auto;max-height:360px;font-size:12px;white-space:pre-wrap;word-break:break-all}
code{font-size:12px}.grid{display:flex;flex-wrap:wrap;gap:10px}.grid svg{border:1px solid #eaecef;background:#fff}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:0}dl.facts dt{color:#555}dl.facts dd{margin:0}
svg text{font-family:system-ui,sans-serif}svg .axis{stroke:#999;stroke-width:1}svg .gridl{stroke:#eee}
svg .bar{stroke:#fff;stroke-width:.3}svg .bar.failed{fill:#e15759;stroke:none}
.failure{border-left:4px solid #e15759;padding:2px 10px;margin:10px 0}details summary{cursor:pointer;color:#1f4f8f}
figure.fig{margin:0;border:1px solid #eaecef;padding:6px;background:#fff}figure.fig img{display:block;max-width:600px;max-height:600px;height:auto}
figure.fig img.svg{width:600px}figcaption{font-size:12px;color:#555;margin-top:4px}
"""
# Nothing may make the page wider than the window: the stage graph and charts shrink to
# fit, a wide table scrolls inside its own box, long words (paths) break.
FIT_CSS = """
body{overflow-wrap:break-word}table{display:block;max-width:100%;overflow-x:auto}
#dag-svg,svg.chart{max-width:100%;height:auto;box-sizing:border-box}
figure.fig{max-width:100%;box-sizing:border-box}figure.fig img{max-width:min(600px,100%)}
@media (max-width:900px){header{padding:12px 14px}main{padding:8px 12px 32px}section{padding:10px 12px}}
"""


def write_report(run_dir: Path, out: Path | None = None) -> tuple[Path, int]:
    """Write the report (default RUN_DIR/report.html); returns its path and size in bytes."""
    text = render_report(run_dir)
    target = Path(out) if out is not None else Path(run_dir) / "report.html"
    data = text.encode("utf-8")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target, len(data)


def render_report(run_dir: Path, now: float | None = None) -> str:
    st = load_status(Path(run_dir), now=now)
    ctx = _Context(st)
    body = [_summary(ctx), _timeline(ctx), _dag(ctx), _metrics(ctx), _failures(ctx),
            provenance(ctx)]
    return _page(ctx, "".join(body), now)


class _Context:
    """The run, read once: status, plan, spec, run.json, per-task journal extras."""

    def __init__(self, st: RunStatus):
        self.st = st
        self.plan = _json_file(st.run_dir / "plan.json")
        self.spec = _json_file(st.run_dir / "spec.json")
        self.meta = _json_file(st.run_dir / "run.json")
        self.notes: list[dict[str, Any]] = []
        self.extras = mx.journal_extras(st.run_dir / "journal.jsonl", self.notes)
        self.results = results_by_task(st.run_dir)  # the workers' records: files, pids
        mx.fill_pids_from_results(st.run_dir, st.tasks, self.extras, records=self.results)
        self.figures = figures(st.run_dir, st, self.results)  # "" when no task made one
        names = [s.name for s in st.stages]
        self.colour = {n: i % len(PALETTE) for i, n in enumerate(names)}
        self.by_stage: dict[str, list[TaskStatus]] = {n: [] for n in names}
        for t in st.tasks:
            self.by_stage.setdefault(t.stage, []).append(t)
            self.colour.setdefault(t.stage, len(self.colour) % len(PALETTE))

    def fill(self, stage: str) -> str:
        return PALETTE[self.colour.get(stage, 0)]


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _page(ctx: _Context, body: str, now: float | None) -> str:
    st = ctx.st
    title = f"{st.workflow or '?'} on {st.site or '?'}: {st.state}"
    stage_css = "".join(f".s{i}{{fill:{c}}}" for i, c in enumerate(PALETTE))
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("summary", "Summary"), ("timeline", "Timeline"), ("dag", "Stages"),
        ("metrics", "Metrics"), *((("figures", "Figures"),) if ctx.figures else ()),
        ("failures", "Failures"), ("provenance", "Provenance"), ("lineage", "Lineage")))
    made = clock(now if now is not None else time.time())
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="generator" content="orch report {esc(__version__)}">'
            f'<link rel="icon" href="data:,"><title>{esc(title)}</title>'
            f"<style>{CSS}{FIT_CSS}{stage_css}</style></head>\n<body><header><h1>{esc(title)}</h1>"
            f'<div class="sub">run directory {esc(st.run_dir)}</div><nav>{nav}</nav></header>'
            f"<main>{body}</main><footer class=\"note\" style=\"padding:0 28px 20px\">"
            f"generated by orch report {esc(__version__)} at {esc(made)} from the run "
            f"directory alone</footer></body></html>\n")


def _h(v: float | None) -> str:
    return "-" if v is None else "0" if v == 0 else f"{v:.3g}"


# ---- summary -------------------------------------------------------------------------------
def _summary(ctx: _Context) -> str:
    st = ctx.st
    facts = [("workflow", esc(st.workflow or "?")), ("site", esc(st.site or "?")),
             ("state", badge(st.state)), ("started", esc(clock(st.started))),
             ("ended", esc(clock(st.ended))), ("duration", esc(format_seconds(st.duration))),
             ("attempts", esc(len(st.attempts))), ("tasks", esc(f"{len(st.tasks):,}"))]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    chips = " ".join(f"{badge(k)} {v:,}" for k, v in st.counts.items() if v)
    warn = "".join(f'<p class="note">warning: {esc(w)}</p>' for w in st.warnings)
    return section("summary", "Summary", f'<dl class="facts">{dl}</dl><p>tasks by state: '
                   f"{chips or 'none'}</p>{warn}<h3>Stages and resources used</h3>"
                   + _usage_table(ctx))


def _earlier(st: RunStatus) -> tuple[dict[str, Any], int]:
    """History of the same workflow's other runs beside this one (the run root)."""
    if not st.workflow:
        return {}, 0
    runs = earlier_runs(st.run_dir.parent, st.workflow, exclude=st.run_dir)
    return stage_history(runs), len(runs)


def _usage_table(ctx: _Context) -> str:
    history, earlier = _earlier(ctx.st)
    usage = mx.stage_usage(ctx.plan, ctx.st, history)
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
                     *(_trio(u, k) for k in ("node", "gpu", "xpu"))])

    def tot(attr: str) -> float | None:
        vals = [getattr(u, attr) for u in usage if getattr(u, attr) is not None]
        return sum(vals) if vals else None

    total = ["total", "", f"{sum(u.tasks for u in usage):,}", "", "",
             esc(format_seconds(sum(u.busy_seconds for u in usage))), "", "",
             *(f"{_h(tot(k + '_hours'))} / {_h(tot('expected_' + k + '_hours'))} / "
               f"{_h(tot('planned_' + k + '_hours'))}" for k in ("node", "gpu", "xpu"))]
    head = ["stage", "pool · device", "tasks", "done", "failed", "busy", "median", "max",
            "node-h used / expected / planned", "GPU-h used / expected / planned",
            "XPU-h used / expected / planned"]
    source = (f"from {earlier} earlier run{'s' if earlier != 1 else ''} of "
              f"{esc(ctx.st.workflow)} in {esc(ctx.st.run_dir.parent)}" if earlier else
              f"none: no earlier run of {esc(ctx.st.workflow or '?')} in "
              f"{esc(ctx.st.run_dir.parent)}")
    return (table(head, rows, set(range(2, 11)), total) +
            '<p class="note">used = each done or cached task\'s run time (measured on the '
            "worker) &times; the nodes and accelerators it held, from plan.json (its share "
            "of a node, as the plan charges it); expected = the same, for every planned task "
            "at the mean run time of the stage's done tasks in earlier runs beside this one "
            f"({source}; - where a stage never ran); planned = the plan's estimate from "
            "walltimes (an upper bound). Expected and planned count loop stages at "
            "max_iterations. Failed attempts and idle workers are not counted. "
            "See docs/report.md.</p>")


def _trio(u: mx.StageUsage, kind: str) -> str:
    """used / expected / planned hours of one kind (node, gpu, xpu)."""
    return " / ".join(_h(getattr(u, name)) for name in (
        f"{kind}_hours", f"expected_{kind}_hours", f"planned_{kind}_hours"))


# ---- timeline ------------------------------------------------------------------------------
def _timeline(ctx: _Context) -> str:
    lanes = mx.timeline_lanes(ctx.st, ctx.extras)
    if not lanes:
        return section("timeline", "Timeline", "<p>No task has run yet.</p>")
    notes = []
    if len(lanes) > MAX_LANES:
        hidden = sum(len(lane.bars) for lane in lanes[MAX_LANES:])
        notes.append(f"{len(lanes) - MAX_LANES:,} more lanes ({hidden:,} tasks) are not drawn; "
                     f"the first {MAX_LANES} are.")
        lanes = lanes[:MAX_LANES]
    t0 = min(b.start for lane in lanes for b in lane.bars)
    t1 = max(b.end for lane in lanes for b in lane.bars)
    span = max(t1 - t0, 1e-3)
    left, width = 190, 1000
    total = sum(len(lane.bars) for lane in lanes)
    if total > MAX_BARS:
        for lane in lanes:
            lane.bars = mx.merge_bars(lane.bars, span / width)
        drawn = sum(len(lane.bars) for lane in lanes)
        notes.append(f"{total:,} tasks drawn as {drawn:,} bars: bars of one stage closer "
                     "than a pixel are merged (hover shows how many).")
    marks = [(a.started, f"attempt {a.number} started") for a in ctx.st.attempts[1:]]
    svg = gantt(lanes, ctx.colour, t0, span, marks, left, width)
    legend = "".join(f'<span class="chip" style="background:{ctx.fill(n)}"></span>{esc(n)}'
                     for n in ctx.by_stage)
    if any(b.approx for lane in lanes for b in lane.bars):
        legend += ('<span class="chip" style="background:#e15759"></span>failed (a mark when '
                   "the driver saw it fail: failed attempts have no worker times)")
    note = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    return section("timeline", "Timeline", f"<p>{legend}</p>{svg}{note}"
                   f'<p class="note">time from {esc(clock(t0))}; one lane per worker '
                   "(host and pid, or device mask); hover a bar for the task.</p>")


# ---- the DAG -------------------------------------------------------------------------------
def _dag(ctx: _Context) -> str:
    names = [s.name for s in ctx.st.stages]
    if not names:
        return section("dag", "Stages (DAG)", "<p>No stages.</p>")
    edges = mx.stage_edges(ctx.plan)
    counts = {s.name: s.counts for s in ctx.st.stages}
    boxes = []
    for lp in ctx.st.loops:
        label = f"loop {lp.name}: {lp.count} iteration{'s' if lp.count != 1 else ''}"
        boxes.append(([s.name for s in ctx.st.stages if s.loop == lp.name],
                      label + (f" ({lp.reason})" if lp.reason else "")))
    svg = dag(mx.dag_layers(names, edges), edges,
              lambda s, x, y: _dag_node(ctx, s, counts.get(s, {}), x, y), boxes)
    legend = "".join(f'<span class="chip" style="background:{STATE_COLOURS[k]}"></span>{k}'
                     for k in ("done", "partial", "running", "queued", "failed", "cancelled",
                               "pending"))
    return section("dag", "Stages (DAG)", f"<p>{legend}</p>{svg}<p class=\"note\">border: "
                   "the stage's state; stripe: its colour in the timeline; dashed purple: "
                   "loops and their feedback.</p>")


def _dag_node(ctx: _Context, name: str, counts: dict[str, int], x: float, y: float,
              bw: int = 160, bh: int = 46) -> str:
    state = mx.stage_state(counts)
    total = sum(counts.values())
    ok = counts.get("done", 0) + counts.get("cached", 0)
    detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no tasks"
    return (f'<g class="node" data-stage="{esc(name)}" data-state="{state}">'
            f"<title>{esc(name)}: {esc(state)}; {esc(detail)}</title>"
            f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6" fill="#fff" '
            f'stroke="{STATE_COLOURS.get(state, "#888")}" stroke-width="2.5"/>'
            f'<rect x="{x}" y="{y}" width="7" height="{bh}" rx="3" fill="{ctx.fill(name)}"/>'
            f'<text x="{x + 14}" y="{y + 19}" font-size="12" font-weight="600">'
            f"{esc(short(name, NAME_CHARS))}</text>"
            f'<text x="{x + 14}" y="{y + 36}" font-size="11" fill="#555">{ok:,}/{total:,} ok · '
            f"{esc(state)}</text></g>")


# ---- metrics -------------------------------------------------------------------------------
def _metrics(ctx: _Context) -> str:
    parts = []
    for lp in ctx.st.loops:
        pts, threshold = mx.loop_points(lp)
        if pts:
            parts.append(_loop_chart(lp, pts, threshold))
    for stage, tasks in ctx.by_stage.items():
        m = mx.stage_metrics(stage, tasks)
        if m is not None:
            parts.append(_stage_charts(ctx, m))
    if not parts:
        parts.append("<p>No numeric values were returned (a task returning a dict of numbers "
                     "gets a plot per field).</p>")
    return section("metrics", "Metrics", ctx.figures + "".join(parts))


def _loop_chart(lp, pts: list[tuple[int, float, bool | None]], threshold: float | None) -> str:
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


def _stage_charts(ctx: _Context, m: mx.StageMetrics) -> str:
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


def _points_chart(m: mx.StageMetrics, name: str, pts: list[tuple[float, float, str]],
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


# ---- failures ------------------------------------------------------------------------------
def _failures(ctx: _Context) -> str:
    st = ctx.st
    failed = st.failed_tasks()
    dep = [t for t in st.tasks if t.state is TaskState.DEP_FAILED]
    cancelled = sum(1 for t in st.tasks if t.state is TaskState.CANCELLED)
    if not (failed or dep or cancelled):
        return section("failures", "Failures", "<p>No task failed.</p>")
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
    return section("failures", f"Failures ({len(failed):,} failed)", "".join(parts))


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
