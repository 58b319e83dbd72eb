"""`orch report`: one self-contained HTML file about a run, from its run directory alone.

No network is needed to view it: the CSS is inline, the charts are inline SVG
(svg.py, graph.py), and there is no JavaScript (hover titles are SVG `<title>`s); a
Content-Security-Policy forbids loading anything. Every string from the run
(task ids, errors, logs, spec values) is escaped. Never imports Parsl.

SECTIONS is the one list of the page's sections: it makes both the sections, in order,
and the navigation's links to them. Each section is a module of its own (summary,
timeline, stages, metrics_view, failures, provenance) reading the run through
context.py; page.py is the chrome around them, parts.py the HTML pieces they share.
The file lineage in Provenance is lineage.py, the figures in Metrics figures.py.
See docs/report.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.report.context import ReportContext
from orchestrator.report.durations import durations
from orchestrator.report.failures import failures, failures_heading
from orchestrator.report.metrics_view import metrics
from orchestrator.report.page import page
from orchestrator.report.parts import section
from orchestrator.report.provenance import provenance
from orchestrator.report.stages import stages
from orchestrator.report.summary import summary
from orchestrator.report.table_view import timed
from orchestrator.report.timeline import timeline
from orchestrator.state.states import SUCCESS_STATES
from orchestrator.state.status import load_status

Render = Callable[[ReportContext], str]


def _always(ctx: ReportContext) -> bool:
    return True


def _timed(ctx: ReportContext) -> bool:
    if ctx.table is not None:
        return timed(ctx.table)
    return any(t.state in SUCCESS_STATES and t.duration is not None for t in ctx.st.tasks)


@dataclass(frozen=True)
class Anchor:
    """A heading inside a section that the navigation links to as well."""
    id: str
    title: str
    shown: Callable[[ReportContext], bool] = _always


@dataclass(frozen=True)
class Section:
    id: str                                          # its anchor
    title: str                                       # its link in the navigation
    render: Render                                   # its content, below the heading
    heading: Render | None = None                    # its <h2>, if not `title`
    shown: Callable[[ReportContext], bool] = _always
    anchors: tuple[Anchor, ...] = ()

    def links(self, ctx: ReportContext) -> list[tuple[str, str]]:
        return [(self.id, self.title), *((a.id, a.title) for a in self.anchors if a.shown(ctx))]

    def html(self, ctx: ReportContext) -> str:
        heading = self.heading(ctx) if self.heading else self.title
        return section(self.id, heading, self.render(ctx))


SECTIONS: tuple[Section, ...] = (
    Section("summary", "Summary", summary),
    Section("timeline", "Timeline", lambda ctx: timeline(ctx) + durations(ctx),
            anchors=(Anchor("durations", "Durations", _timed),)),
    Section("dag", "Stages", stages, heading=lambda ctx: "Stages (DAG)"),
    Section("metrics", "Metrics", metrics,
            anchors=(Anchor("figures", "Figures", lambda ctx: bool(ctx.figures)),)),
    Section("failures", "Failures", failures, heading=failures_heading),
    Section("provenance", "Provenance", provenance, anchors=(Anchor("lineage", "Lineage"),)),
)


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
    ctx = ReportContext(load_status(Path(run_dir), now=now))
    shown = [s for s in SECTIONS if s.shown(ctx)]
    body = "".join(s.html(ctx) for s in shown)
    return page(ctx.st, [link for s in shown for link in s.links(ctx)], body, now)
