"""Machine-readable views of a plan: the JSON contract, Graphviz dot and Mermaid.

The JSON is a documented, stable contract (docs/plan-json.md). It is written
incrementally so that a 100,000-task plan does not build one huge string.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from orchestrator.device_kinds import HOURS_FIELDS
from orchestrator.plan.cost import Expectation
from orchestrator.plan.inputs import edge_files, staged_inputs
from orchestrator.plan.model import Plan, StagePlan
from orchestrator.plan.packing import pool_packing

PLAN_FORMAT_VERSION = 1
STREAMED_NEEDS = 100_000  # a fan-in over more task ids is written in batches, not one list
_NEEDS = "\x00needs\x00"
_NEEDS_JSON = json.dumps(_NEEDS)


def stage_json(s: StagePlan, expected: Expectation | None = None) -> dict[str, Any]:
    out = {
        "name": s.name,
        "kind": s.kind,
        "target": s.target,
        "needs": list(s.needs),
        "tasks": len(s.tasks),
        "pool": s.binding.pool,
        "device": s.binding.device,
        "requested_device": s.binding.requested,
        "fallback": s.binding.fallback,
        "ranks_per_node": s.binding.ranks_per_node,
        "slots_per_node": s.binding.slots_per_node,
        "resources": s.resources,
        "loop": s.loop,
        "sweep": list(s.sweep_vars),
        "sampler": s.sampler,
        "seed": s.seed,
        "retries": s.retries,
        "bundle": s.bundle,
        "outputs": list(s.outputs),
        "inputs": [{"ref": i.ref, "stage": i.stage, "output": i.output, "path": i.path,
                    "mode": i.mode} for i in s.inputs],
        "environment": s.environment,
        "code_dir": s.code_dir,
        "node_hours": round(s.cost.node_hours, 6),
        **{f: round(getattr(s.cost, f), 6) for f in HOURS_FIELDS},
    }
    if expected is not None:
        out.update(_stage_expected(s.name, expected))
    return out


def _stage_expected(name: str, expected: Expectation) -> dict[str, Any]:
    """`orch plan`'s expected cost of a stage; null where no earlier run measured it."""
    e = expected.stages.get(name)
    if e is None:
        return dict.fromkeys(("expected_seconds", "expected_node_hours",
                              *(f"expected_{f}" for f in HOURS_FIELDS),
                              "expected_from_tasks"), None) | {"expected_from_runs": 0}
    return {"expected_seconds": round(e.seconds, 3),
            "expected_node_hours": round(e.cost.node_hours, 6),
            **{f"expected_{f}": round(getattr(e.cost, f), 6) for f in HOURS_FIELDS},
            "expected_from_tasks": e.measured, "expected_from_runs": e.runs}


def summary_expected(plan: Plan, expected: Expectation) -> dict[str, Any]:
    """Totals over the measured stages, and which stages no earlier run measured."""
    measured = bool(expected.stages)
    return {
        **{f"expected_{f}": round(expected.total(f), 6) if measured else None
           for f in ("node_hours", *HOURS_FIELDS)},
        "expected_charged_node_hours":
            round(expected.total("charged_hours"), 6) if measured else None,
        "expected_from_runs": expected.runs,
        "expected_unmeasured": [n for n in plan.stages if n not in expected.stages],
        "expected_estimate": "earlier runs' mean task run time x the same shares; "
                             "loops at max_iterations",
    }


def iter_json(plan: Plan, extra: dict[str, Any] | None = None,
              expected: Expectation | None = None) -> Iterator[str]:
    """Chunks of the plan's JSON document; `expected` (from earlier runs, `orch plan`
    only) adds the expected cost per stage and in the summary."""
    head = {
        "format": PLAN_FORMAT_VERSION,
        "workflow": plan.workflow,
        "site": plan.site,
        "scheduler": plan.scheduler,
        "params": plan.params,
        **(extra or {}),
        "stages": [stage_json(s, expected) for s in plan.stages.values()],
        "pools": pool_packing(plan),
        "loops": [
            {"name": lp.name, "stages": list(lp.stages), "max_iterations": lp.max_iterations,
             "until": lp.until, "feedback": [{"from": a, "to": b} for a, b in lp.feedback]}
            for lp in plan.loops.values()
        ],
        "warnings": list(plan.warnings),
        "environments": plan.environments,
    }
    yield json.dumps(head, indent=None)[:-1]
    yield ', "tasks": ['
    first = True
    for stage in plan.stages.values():
        needs_cache: list[str] | None = None
        resources = stage.resources
        per_task = bool(stage.inputs and stage.matched_needs())
        stream = not per_task and plan.fan_in(stage) > STREAMED_NEEDS
        for t in stage.tasks:
            if stream:
                needs_cache = [_NEEDS]
            elif needs_cache is None or per_task:
                needs_cache = plan.task_needs(t)
            item = {
                "id": t.id, "stage": t.stage, "needs": needs_cache, "pool": stage.binding.pool,
                "resources": resources, "device_mask": t.device_mask, "units": list(t.units),
                "sweep": t.point,
                "loop": stage.loop,
            }
            if stage.inputs:
                files = staged_inputs(plan, stage, t, "tasks", None)[1]
                item["inputs"] = [{"path": f[1], "task": f[2], "file": f[3]} for f in files]
            text = ("" if first else ",\n") + json.dumps(item)
            first = False
            if stream:
                yield from _streamed_needs(text, plan.iter_task_needs(t))
            else:
                yield text
    summary = plan.summary()
    if expected is not None:
        summary |= summary_expected(plan, expected)
    yield '], "summary": ' + json.dumps(summary) + "}\n"


def _streamed_needs(text: str, needs: Iterator[str], batch: int = 65_536) -> Iterator[str]:
    """A task's JSON with its `needs` written in batches where the placeholder is: the same
    text as `json.dumps` of the whole list (", " between items)."""
    head, _, tail = text.partition(_NEEDS_JSON)
    yield head
    sep = ""
    while True:
        chunk = list(itertools.islice(needs, batch))
        if not chunk:
            break
        yield sep + ", ".join(json.dumps(i) for i in chunk)
        sep = ", "
    yield tail


def to_json(plan: Plan, extra: dict[str, Any] | None = None,
            expected: Expectation | None = None) -> dict[str, Any]:
    return json.loads("".join(iter_json(plan, extra, expected)))


def _label(s: StagePlan) -> str:
    count = f"{len(s.tasks)} tasks" if len(s.tasks) != 1 else "1 task"
    return f"{s.name}\\n{count} on {s.binding.pool} ({s.binding.device})"


def to_dot(plan: Plan) -> str:
    lines = [f'digraph "{plan.workflow}" {{', "  rankdir=LR;", '  node [shape=box, style=rounded];']
    in_loop = {s for lp in plan.loops.values() for s in lp.stages}
    for lp in plan.loops.values():
        lines.append(f'  subgraph "cluster_{lp.name}" {{')
        lines.append(f'    label="loop {lp.name} (max {lp.max_iterations})"; style=dashed;')
        lines.extend(f'    "{s}" [label="{_label(plan.stages[s])}"];' for s in lp.stages
                     if s in plan.stages)
        lines.append("  }")
    lines.extend(f'  "{s.name}" [label="{_label(s)}"];' for s in plan.stages.values()
                 if s.name not in in_loop)
    for s in plan.stages.values():
        for need in s.needs:
            files = edge_files(s, need)
            label = f' [label="{files}", style=bold]' if files else ""
            lines.append(f'  "{need}" -> "{s.name}"{label};')
    for lp in plan.loops.values():
        lines.extend(f'  "{a}" -> "{b}" [style=dashed, label="next iteration"];'
                     for a, b in lp.feedback)
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(plan: Plan) -> str:
    lines = ["flowchart LR"]
    in_loop = {s for lp in plan.loops.values() for s in lp.stages}

    def node(s: StagePlan) -> str:
        label = _label(s).replace("\\n", "<br/>")
        return f'  s_{s.name}["{label}"]'

    for lp in plan.loops.values():
        lines.append(f'  subgraph l_{lp.name}["loop {lp.name} (max {lp.max_iterations})"]')
        lines.extend("  " + node(plan.stages[s]) for s in lp.stages if s in plan.stages)
        lines.append("  end")
    lines.extend(node(s) for s in plan.stages.values() if s.name not in in_loop)
    for s in plan.stages.values():
        for need in s.needs:
            files = edge_files(s, need)
            lines.append(f'  s_{need} ==>|"{files}"| s_{s.name}' if files
                         else f"  s_{need} --> s_{s.name}")
    for lp in plan.loops.values():
        lines.extend(f"  s_{a} -. next iteration .-> s_{b}" for a, b in lp.feedback)
    return "\n".join(lines) + "\n"
