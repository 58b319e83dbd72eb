"""Which upstream files a stage reads: its `${stages.S.outputs.O}` references, resolved
against the producing stage's sweep. Pure: no I/O.

A reference to an unswept stage is its one file. Where the consumer sweeps every
variable the producer sweeps, each consumer task reads the file of the producer task
at the same values (`match`); otherwise it reads the files of all the producer's
tasks (`all`, a fan-in), in task order.
"""

from __future__ import annotations

from typing import Any

from orchestrator.errors import DiagnosticSink
from orchestrator.plan.model import Plan, PlannedTask, StageInput, StagePlan
from orchestrator.spec.load import LoadedSpec
from orchestrator.spec.models import Stage
from orchestrator.spec.outputs import output_names
from orchestrator.spec.params import references, render
from orchestrator.state.rundir import task_dirname

INPUTS_DIR = "inputs"  # <task dir>/inputs/<producer task dir>/<output path>

def _ref_paths(stage: Stage, name: str) -> dict[str, tuple]:
    """Each referenced `S.outputs.O` -> the spec path of its first use (for errors)."""
    found: dict[str, tuple] = {}

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, str):
            for ref in references(node, "stages"):
                found.setdefault(ref, path)
        elif isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(stage.args, ("stages", name, "args"))
    walk(stage.shell, ("stages", name, "shell"))
    walk(stage.env, ("stages", name, "env"))
    return found


def stage_inputs(spec: LoadedSpec, name: str, stage: Stage, points: list | None,
                 planned: dict[str, StagePlan], sink: DiagnosticSink) -> tuple[StageInput, ...]:
    """The stage's inputs; a consumer point with no producer point at its values is a
    located error (the spec checks already located unknown stages and outputs)."""
    out = []
    for ref, where in _ref_paths(stage, name).items():
        src, _, output = ref.split(".", 2)
        producer = planned.get(src)
        if producer is None:
            continue  # failed to plan: reported there
        path = output_names(spec.workflow.stages[src].outputs)[0][output]
        if not producer.sweep_vars:
            out.append(StageInput(ref, src, output, path, "one"))
            continue
        if points is None or not set(producer.sweep_vars) <= set(points[0]):
            out.append(StageInput(ref, src, output, path, "all"))
            continue
        matches = _match(producer, points, ref, spec, where, sink)
        if matches is not None:
            out.append(StageInput(ref, src, output, path, "match", matches))
    return tuple(out)


def _match(producer: StagePlan, points: list, ref: str, spec: LoadedSpec, where: tuple,
           sink: DiagnosticSink) -> tuple[int, ...] | None:
    names = producer.sweep_vars
    index: dict[tuple, int] = {}
    for t in producer.tasks:
        index.setdefault(tuple(_norm(t.point[v]) for v in names), t.index)
    matches = []
    for k, point in enumerate(points):
        hit = index.get(tuple(_norm(point[v]) for v in names))
        if hit is None:
            at = ", ".join(f"{v}={point[v]!r}" for v in names)
            sink.error(spec.locate(*where), ".".join(map(str, where)),
                       f"${{stages.{ref}}}: task {k} ({at}) has no task of "
                       f"{producer.name!r} at the same values",
                       f"{producer.name!r} sweeps {', '.join(names)} over other values; "
                       "sweep the same values, or read all its files by not sweeping "
                       f"{names[0]!r} here")
            return None
        matches.append(hit)
    return tuple(matches)


def _norm(value: Any) -> Any:
    """1 and 1.0 are the same sweep value."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else value


def staged_inputs(plan: Plan, stage: StagePlan, task: PlannedTask, tasks_root: str,
                  upstream_ids: dict[str, list[str]] | None
                  ) -> tuple[dict[str, Any], list[list[str]]]:
    """The task's upstream files: placeholder name -> staged path(s) relative to the task
    directory (where every stage runs), and [source, staged path, producer task, output
    path] per file for the worker to stage (plan/inputs.py says which tasks)."""
    values: dict[str, Any] = {}
    files: dict[str, list[str]] = {}
    for inp in stage.inputs:
        producer = plan.stages[inp.stage]
        ids = (upstream_ids or {}).get(inp.stage) or [t.id for t in producer.tasks]
        paths = []
        for i in inp.producers(task.index, len(producer.tasks)):
            rel = render(inp.path, "sweep", producer.tasks[i].point or {}, False, _never)
            tid = ids[i]
            staged = f"{INPUTS_DIR}/{task_dirname(tid)}/{rel}"
            files.setdefault(staged, [f"{tasks_root}/{task_dirname(tid)}/{rel}", staged, tid, rel])
            paths.append(staged)
        values[inp.ref] = paths if inp.mode == "all" else paths[0]
    return values, list(files.values())


def _never(message: str, hint: str | None = None) -> None:
    raise ValueError(message)  # the spec checks reject unknown names before planning


MODE_WORDS = {"one": "its file", "match": "the file of the same sweep point",
              "all": "every task's file (fan-in)"}


def edge_files(stage: StagePlan, need: str) -> str:
    """What a `needs` edge carries, for graph labels: the files read from `need`."""
    return ", ".join(dict.fromkeys(i.path for i in stage.inputs if i.stage == need))


def file_lines(plan: Plan) -> list[str]:
    """One line per file reference: producer's file -> consumer, where it is staged."""
    out = []
    for s in plan.stages.values():
        for inp in s.inputs:
            producer = plan.stages[inp.stage]
            src = inp.stage + ("[i]" if producer.sweep_vars else "")
            where = f"{INPUTS_DIR}/{src}/{inp.path}"
            n = len(producer.tasks)
            count = f" ({n} files)" if inp.mode == "all" else ""
            out.append(f"{src}/{inp.path} -> {s.name}: ${{stages.{inp.ref}}} = {where}{count}; "
                       f"{MODE_WORDS[inp.mode]}")
    return out
