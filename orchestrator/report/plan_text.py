"""`orch plan --format text`: stages, placement, masks, a DAG and the cost summary."""

from __future__ import annotations

from orchestrator.device_kinds import HOURS_FIELDS
from orchestrator.plan.cost import Expectation
from orchestrator.plan.inputs import file_lines
from orchestrator.plan.model import Plan, StagePlan, device_masks
from orchestrator.plan.packing import packing_lines
from orchestrator.report.console import console

TASKS_SHOWN_PER_STAGE = 4


def _mask_text(mask: dict[str, str]) -> str:
    return " ".join(f"{k}={v!s}" if v != "" else f'{k}=""' for k, v in mask.items()) or "-"


def _resources(s: StagePlan) -> str:
    r = s.resources
    parts = [f"{r['cores']} core" + ("s" if r["cores"] != 1 else "")]
    if r["gpus"]:
        parts.append(f"{r['gpus']} gpu")
    if r["xpus"]:
        parts.append(f"{r['xpus']} xpu")
    if r["ranks"] > 1:
        parts.append(f"{r['ranks']} ranks")
    if r["nodes"] > 1:
        parts.append(f"{r['nodes']} nodes")
    if r["memory"]:
        parts.append(r["memory"])
    return ", ".join(parts)


def dag_lines(plan: Plan) -> list[str]:
    """One line per stage: `needs -> stage`, loops marked."""
    out = []
    for s in plan.stages.values():
        mark = f"  [loop {s.loop}]" if s.loop else ""
        width = f"[{len(s.tasks)}]" if s.sweep_vars else ""
        src = ", ".join(s.needs) if s.needs else "(start)"
        out.append(f"{src} -> {s.name}{width}{mark}")
    for lp in plan.loops.values():
        cond = lp.until
        until = (f"until {cond['stage']}.{cond['metric']} {cond['op']} {cond['value']:g}"
                 if cond else "no condition")
        fb = "; ".join(f"{a} -> next {b}" for a, b in lp.feedback)
        out.append(f"loop {lp.name}: {', '.join(lp.stages)} ({until}, max {lp.max_iterations}"
                   + (f"; feedback {fb}" if fb else "") + ")")
    return out


def environment_lines(plan: Plan) -> list[str]:
    """One line per environment the stages name: what the site made of it, and its stages."""
    from orchestrator.site.environments import Environment

    users: dict[str, list[str]] = {}
    for s in plan.stages.values():
        if s.environment:
            users.setdefault(s.environment, []).append(s.name)
    out = []
    for name, stages in users.items():
        resolved = {k: v for k, v in plan.environments[name].items() if k != "name"}
        out.append(f"environment {name} ({Environment(**resolved).summary()}): "
                   + ", ".join(stages))
    return out


def bundle_lines(plan: Plan) -> list[str]:
    """One line per bundled stage: how many sweep points share one engine task."""
    out = []
    for s in plan.stages.values():
        if s.bundle == "auto":
            out.append(f"bundle {s.name}: auto (points per Parsl task sized from the first "
                       f"points' run time), {len(s.tasks):,} tasks")
        elif s.bundle:
            n = -(-len(s.tasks) // s.bundle)
            out.append(f"bundle {s.name}: {s.bundle} points per Parsl task ({n:,} Parsl "
                       f"task{'s' if n != 1 else ''} for {len(s.tasks):,} tasks)")
    if out:
        out.append("  (each point is still its own task: journal, status, retries, resume)")
    return out


def _expected_cell(expected: Expectation | None, s: StagePlan, iterations: int) -> str:
    if expected is None or not expected.runs:
        return "-"
    e = expected.stages.get(s.name)
    if e is None:
        return "not measured"
    value = _short_hours(e.hours("node_hours"))
    return value if e.runs == expected.runs else f"{value} ({e.runs} run{'s' if e.runs != 1 else ''})"


def _short_hours(h: float) -> str:
    """Node-hours a narrow column holds: 0.0209, 5.4e-05 (not 5.36e-05), 12.5."""
    return f"{h:.2g}" if 0 < h < 1e-3 else f"{h:.3g}"


def _runs(n: int) -> str:
    return f"{n} earlier run" + ("s" if n != 1 else "")


def cost_lines(plan: Plan, expected: Expectation | None) -> list[str]:
    """The totals: the walltime bound (what the scheduler charges at most) and, from
    earlier runs, what to expect."""
    summ = plan.summary()
    figures = [("node-h", "node_hours", "node_hours"),
               *((f"{f.split('_')[0].upper()}-h", f, f) for f in HOURS_FIELDS)]
    measured = expected is not None and expected.stages
    out = []
    for label, key, attr in figures:
        if label != "node-h" and not summ[key]:
            continue
        line = f"{label:<7}≤ {summ[key]:<8.3g} (walltime)"
        if measured:
            line += f"   expected {expected.total(attr):.3g} (from {_runs(expected.runs)})"
        out.append(line)
    out.append(f"≤: {summ['estimate']}")
    if expected is not None and not expected.runs:
        out.append(f"expected: no earlier runs of {plan.workflow} under "
                   f"{expected.root.rstrip('/')}/")
    elif expected is not None:
        out.append("expected: earlier runs' mean task run time, same shares and loop count")
        missing = [n for n in plan.stages if n not in expected.stages]
        if missing:
            out.append(f"expected: {', '.join(missing)} never done in the {_runs(expected.runs)}"
                       " (not counted)")
    return out


def template_lines(sources) -> list[str]:
    """The templates that made the workflow: name, version and, from a source, the
    source's tag and commit (spec.compose.Source records)."""
    out = []
    for s in sources or ():
        if s.template is None:
            continue
        if s.source:
            where = f"{s.source}@{s.ref or s.commit[:12]}"
            if s.ref and s.commit and not s.commit.startswith(s.ref):
                where += f" (commit {s.commit[:12]})"
        else:
            where = s.path
        out.append(f"{s.template} {s.version or ''}".rstrip() + f" from {where}")
    return out


def render_plan(plan: Plan, file=None, expected: Expectation | None = None,
                sources=None) -> None:
    from rich.markup import escape
    from rich.table import Table

    con = console(file)
    params = ", ".join(f"{k}={v!r}" for k, v in plan.params.items()) or "none"
    con.print(f"[bold]workflow[/bold] {escape(plan.workflow)}   [bold]site[/bold] "
              f"{escape(plan.site)} ({plan.scheduler})")
    con.print(f"[bold]params[/bold] {escape(params)}")
    templates = template_lines(sources)
    if templates:
        con.print(f"[bold]templates[/bold] {escape('; '.join(templates))}")
    table = Table(title=None, show_lines=False)
    for col in ("stage", "tasks", "pool", "resources", "device masks", "walltime", "node-h ≤",
                "expected"):
        table.add_column(col, justify="left" if col in ("stage", "pool", "resources",
                                                        "device masks", "walltime") else "right")
    for s in plan.stages.values():
        masks = sorted({_mask_text(m) for m in device_masks(s.tasks)})
        shown = "; ".join(masks[:3]) + (f" (+{len(masks) - 3})" if len(masks) > 3 else "")
        pool = f"{s.binding.pool} ({s.binding.device})"
        if s.binding.fallback:
            pool += f" ← {s.binding.requested}"
        wall = s.resources["walltime"] or f"~{s.resources['estimated_walltime']}"
        times = plan.iterations(s.name)
        table.add_row(s.name, f"{len(s.tasks):,}", escape(pool), _resources(s), escape(shown), wall,
                      f"{s.cost.node_hours * times:.3g}", _expected_cell(expected, s, times))
    con.print(table)
    for line in environment_lines(plan):
        con.print(line, markup=False)
    for line in bundle_lines(plan):
        con.print(line, markup=False)
    con.print("[bold]tasks[/bold]")
    for s in plan.stages.values():
        for t in s.tasks[:TASKS_SHOWN_PER_STAGE]:
            point = " ".join(f"{k}={_short(v)}" for k, v in (t.point or {}).items())
            con.print(f"  {t.id:<24} {point:<40} {_mask_text(t.device_mask)}", markup=False)
        if len(s.tasks) > TASKS_SHOWN_PER_STAGE:
            con.print(f"  … {len(s.tasks) - TASKS_SHOWN_PER_STAGE:,} more {s.name} tasks",
                      markup=False)
        if s.seed is not None:
            con.print(f"  ({s.name}: {s.sampler} samples, seed {s.seed})", markup=False)
    con.print("[bold]packing[/bold] (tasks of every shape share a pool's nodes, never over "
              "its cores, units or memory; docs/placement.md)")
    for line in packing_lines(plan):
        con.print("  " + line, markup=False)
    con.print("[bold]graph[/bold]")
    for line in dag_lines(plan):
        con.print("  " + line, markup=False)
    files = file_lines(plan)
    if files:
        con.print(f"[bold]files[/bold] (staged into each task's directory: "
                  f"{'links' if plan.staging == 'link' else 'copies'})")
        for line in files:
            con.print("  " + line, markup=False)
    summ = plan.summary()
    con.print(f"[bold]total[/bold] {summ['tasks']:,} tasks in {summ['stages']} stages")
    for line in cost_lines(plan, expected):
        con.print("  " + line, markup=False)
    for w in plan.warnings:
        con.print(f"[yellow]warning:[/yellow] {escape(w)}")


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)
