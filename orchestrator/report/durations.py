"""The report's task durations, under the Timeline: per stage the run times of its done
tasks as figures (count, quantiles) and a histogram, and a sample of its tasks (the
slowest and some evenly spaced) linked to their task directories. The same size for a
10^6-task run as for a small one: `orch status RUN --format json` lists every task."""

from __future__ import annotations

import math

import numpy as np

from orchestrator.report.context import ReportContext
from orchestrator.report.parts import table
from orchestrator.report.status_text import format_seconds
from orchestrator.report.svg import esc
from orchestrator.state.rundir import task_dirname
from orchestrator.state.states import SUCCESS_STATES
from orchestrator.state.task_table import STATE_CODE, TaskTable

BINS = 30
SLOWEST = 5
SPREAD = 5
_SUCCESS_CODES = [STATE_CODE[s] for s in SUCCESS_STATES]


def durations(ctx: ReportContext) -> str:
    rows, charts, samples = [], [], []
    columns = ctx.table is not None and timed_columns(ctx.table, "") is not None
    for stage in ctx.stage_names:
        if columns:  # the same figures from arrays (task_table.py): no sort of 10^6 objects
            d_arr, at = timed_columns(ctx.table, stage)
            d = d_arr.tolist()
            sample = [ctx.table.task(r) for r in at[_picks(d)].tolist()] if d else []
        else:
            timed = sorted(((t.duration, t) for t in ctx.by_stage[stage]
                            if t.state in SUCCESS_STATES and t.duration is not None),
                           key=lambda p: p[0])
            d = [x for x, _ in timed]
            sample = [timed[i][1] for i in _picks(d)]
        if not d:
            continue
        rows.append([esc(stage), f"{len(d):,}", *(esc(_secs(_q(d, q)))
                                                   for q in (0.0, 0.5, 0.9, 0.99, 1.0))])
        charts.append(_histogram(stage, d, ctx.fill(stage)))
        samples += sample
    if not rows:
        return ""
    sample_rows = [[f'<a href="tasks/{esc(task_dirname(t.id))}/">{esc(t.id)}</a>',
                    esc(t.stage), esc(t.state.value), esc(_secs(t.duration)),
                    esc(t.host or "-")] for t in samples]
    return ('<h3 id="durations">Task durations</h3>'
            + table(["stage", "timed tasks", "min", "median", "p90", "p99", "max"], rows,
                    {1, 2, 3, 4, 5, 6})
            + f'<div class="grid">{"".join(charts)}</div>'
            + "<h3>Sample of tasks</h3>"
            + table(["task", "stage", "state", "run time", "host"], sample_rows)
            + '<p class="note">per stage its slowest tasks and some evenly spaced ones; a '
              "task's link opens its directory (stdout, stderr, outputs) beside this report "
              "in the run directory; `orch status RUN_DIR --format json` lists every task.</p>")


def _secs(s: float | None) -> str:
    """Run times of milliseconds stay readable (format_seconds rounds to 0.1 s)."""
    if s is not None and s < 1:
        return f"{s * 1000:.3g} ms"
    return format_seconds(s)


def _q(d: list[float], q: float) -> float:
    return d[min(len(d) - 1, int(q * len(d)))]


def _picks(d: list[float]) -> list[int]:
    """The sample's positions in `d` (run times, sorted): the slowest and evenly spaced."""
    n = len(d)
    picks = set(range(max(0, n - SLOWEST), n))
    picks |= {round(k * (n - 1) / max(1, SPREAD - 1)) for k in range(SPREAD)} if n else set()
    return sorted(picks, key=lambda i: -d[i])


def timed_columns(table: TaskTable, stage: str):
    """(run times sorted, their rows) of the stage's done and cached tasks, from the table's
    columns; None where a time or stage is not a plain column value (then: objects)."""
    c, odd = table.cols, table.odd
    if odd["started"] or odd["ended"] or odd["stage"] or (c["stage"] < 0).any():
        return None
    names = table.names["stage"]
    if stage not in names:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    ok = (c["stage"] == names.index(stage)) & np.isin(c["state"], _SUCCESS_CODES) \
        & ~np.isnan(c["started"]) & ~np.isnan(c["ended"])
    rows = np.flatnonzero(ok)
    d = np.maximum(0.0, c["ended"][rows] - c["started"][rows])
    order = np.argsort(d, kind="stable")
    return d[order], rows[order]


def _histogram(stage: str, d: list[float], fill: str, w: int = 360, h: int = 150) -> str:
    lo, hi = d[0], d[-1]
    log = lo > 0 and hi / lo > 20
    a, b = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
    width = (b - a) / BINS or 1.0
    counts = [0] * BINS
    for x in d:
        v = math.log10(x) if log else x
        counts[min(BINS - 1, int((v - a) / width))] += 1
    top = max(counts)
    left, bottom, pw, ph = 36, h - 28, w - 46, h - 48
    bars = []
    for k, c in enumerate(counts):
        if not c:
            continue
        x0, x1 = a + k * width, a + (k + 1) * width
        edge = (lambda v: 10 ** v) if log else (lambda v: v)
        bh = max(1.0, ph * c / top)
        bars.append(f'<rect x="{left + k * pw / BINS:.1f}" y="{bottom - bh:.1f}" '
                    f'width="{max(1.0, pw / BINS - 1):.1f}" height="{bh:.1f}" fill="{fill}">'
                    f"<title>{c:,} task(s): {esc(_secs(edge(x0)))} to "
                    f"{esc(_secs(edge(x1)))}</title></rect>")
    scale = "log scale" if log else "linear"
    # the caption is HTML, not SVG text: a long stage name wraps instead of leaving the page
    return (f'<div class="chart-box"><div style="overflow-wrap:anywhere;font-size:12px">'
            f'<span style="font-weight:600">{esc(stage)}</span> <span style="color:#555">run time ({scale}), '
            f'{len(d):,} tasks</span></div>'
            f'<svg class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'role="img" aria-label="{esc(stage)} run times" data-stage="{esc(stage)}">'
            f'<title>{esc(stage)}: run times</title>'
            f'<line class="axis" x1="{left}" y1="{bottom}" x2="{left + pw}" y2="{bottom}"/>'
            + "".join(bars)
            + f'<text x="{left}" y="{h - 8}" font-size="10">{esc(_secs(lo))}</text>'
            f'<text x="{left + pw}" y="{h - 8}" font-size="10" text-anchor="end">'
            f"{esc(_secs(hi))}</text>"
            f'<text x="4" y="{bottom - ph + 4}" font-size="10">{top:,}</text></svg></div>')
