"""The report's Timeline section: one lane per worker (report/lanes.py), drawn by
report/svg.py, with huge runs capped in lanes and merged into pixel-wide bars."""

from __future__ import annotations

from orchestrator.report.context import ReportContext
from orchestrator.report.lanes import merge_bars, timeline_lanes
from orchestrator.report.parts import clock
from orchestrator.report.svg import esc, gantt

MAX_LANES = 200
MAX_BARS = 5000


def timeline(ctx: ReportContext) -> str:
    lanes = timeline_lanes(ctx.st, ctx.extras)
    if not lanes:
        return "<p>No task has run yet.</p>"
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
            lane.bars = merge_bars(lane.bars, span / width)
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
    return (f"<p>{legend}</p>{svg}{note}"
            f'<p class="note">time from {esc(clock(t0))}; one lane per worker '
            "(host and pid, or device mask); hover a bar for the task.</p>")
