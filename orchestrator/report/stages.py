"""The report's Stages (DAG) section: each stage a box with its state and counts, laid out
by report/stage_graph.py and drawn by report/graph.py, loops framed."""

from __future__ import annotations

from orchestrator.report.context import ReportContext
from orchestrator.report.graph import dag
from orchestrator.report.stage_graph import dag_layers, stage_edges, stage_state
from orchestrator.report.svg import STATE_COLOURS, esc, short

NAME_CHARS = 17  # a stage's name in its 160 px box: 17 bold 12 px DejaVu characters fit


def stages(ctx: ReportContext) -> str:
    names = [s.name for s in ctx.st.stages]
    if not names:
        return "<p>No stages.</p>"
    edges = stage_edges(ctx.plan)
    counts = {s.name: s.counts for s in ctx.st.stages}
    boxes = []
    for lp in ctx.st.loops:
        label = f"loop {lp.name}: {lp.count} iteration{'s' if lp.count != 1 else ''}"
        boxes.append(([s.name for s in ctx.st.stages if s.loop == lp.name],
                      label + (f" ({lp.reason})" if lp.reason else "")))
    svg = dag(dag_layers(names, edges), edges,
              lambda s, x, y: _node(ctx, s, counts.get(s, {}), x, y), boxes)
    legend = "".join(f'<span class="chip" style="background:{STATE_COLOURS[k]}"></span>{k}'
                     for k in ("done", "partial", "running", "queued", "failed", "cancelled",
                               "pending"))
    return (f"<p>{legend}</p>{svg}<p class=\"note\">border: the stage's state; stripe: its "
            "colour in the timeline; dashed purple: loops and their feedback.</p>")


def _node(ctx: ReportContext, name: str, counts: dict[str, int], x: float, y: float,
          bw: int = 160, bh: int = 46) -> str:
    state = stage_state(counts)
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
