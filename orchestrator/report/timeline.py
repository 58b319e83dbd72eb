"""The report's Timeline section: one lane per worker (report/lanes.py), drawn by
report/svg.py, with huge runs capped in lanes and merged into pixel-wide bars."""

from __future__ import annotations

from orchestrator.report.context import ReportContext
from orchestrator.report.lanes import cut_lanes, timeline_lanes
from orchestrator.report.lanes_columns import table_lanes
from orchestrator.report.parts import clock
from orchestrator.report.svg import esc, gantt

MAX_LANES = 200
MAX_BARS = 5000
WIDTH = 1000


def timeline(ctx: ReportContext) -> str:
    if ctx.table is not None:  # 10^6 tasks: packed and merged on the columns
        drawn = table_lanes(ctx.table, ctx.pids, MAX_LANES, MAX_BARS, WIDTH)
    else:
        drawn = cut_lanes(timeline_lanes(ctx.st, ctx.extras), MAX_LANES, MAX_BARS, WIDTH)
    if drawn is None:
        return "<p>No task has run yet.</p>"
    lanes, t0, span = drawn.lanes, drawn.t0, drawn.span
    left, width = 190, WIDTH
    notes = []
    if drawn.more_lanes:
        notes.append(f"{drawn.more_lanes:,} more lanes ({drawn.hidden:,} tasks) are not drawn; "
                     f"the first {MAX_LANES} are.")
    if drawn.total > MAX_BARS:
        bars = sum(len(lane.bars) for lane in lanes)
        notes.append(f"{drawn.total:,} tasks drawn as {bars:,} bars: bars of one stage closer "
                     "than a pixel are merged (hover shows how many).")
    marks = [(a.started, f"attempt {a.number} started") for a in ctx.st.attempts[1:]]
    svg = gantt(lanes, ctx.colour, t0, span, marks, left, width)
    legend = "".join(f'<span class="chip" style="background:{ctx.fill(n)}"></span>{esc(n)}'
                     for n in ctx.stage_names)
    if any(b.approx for lane in lanes for b in lane.bars):
        legend += ('<span class="chip" style="background:#e15759"></span>failed (a mark when '
                   "the driver saw it fail: failed attempts have no worker times)")
    note = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    return (f"<p>{legend}</p>{svg}{note}"
            f'<p class="note">time from {esc(clock(t0))}; one lane per worker '
            "(host and pid, or device mask); hover a bar for the task.</p>")
