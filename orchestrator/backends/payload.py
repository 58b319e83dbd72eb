"""Turn a planned task into the payload its worker runs: rendered args or command,
task directory, environment and cache key. Engine-neutral: no Parsl here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import device_kinds
from orchestrator.plan.inputs import staged_inputs
from orchestrator.plan.model import Plan, PlannedTask, StagePlan
from orchestrator.spec.load import LoadedSpec
from orchestrator.spec.params import render
from orchestrator.state.keys import canonical_stage, code_hash, task_key
from orchestrator.state.rundir import RunDir, task_dirname
from orchestrator.units import parse_memory


def render_value(value: Any, point: dict[str, Any], quote: bool = False,
                 files: dict[str, Any] | None = None) -> Any:
    """Substitute `${sweep.x}` (and, given `files`, `${stages.S.outputs.O}`: staged paths)
    in every string of a nested value."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        if not files:
            return render(value, "sweep", point, quote, _unreachable)
        # escapes and swept values survive the first pass as data for the second
        first = render(value, "sweep", point, quote, _unreachable, keep_escapes=True,
                       escape_values=True)
        if not isinstance(first, str):
            return first
        return render(first, "stages", files, quote, _unreachable)
    if isinstance(value, dict):
        return {k: render_value(v, point, quote, files) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, point, quote, files) for v in value]
    return value


def narrow(parts: list[tuple[str, list[str], str]], matched: dict[str, tuple[int, ...]],
           index: int | None) -> list[tuple[str, list[str], str]]:
    """A task waits only for the producer task at its own sweep point of each stage it
    reads file by file at matching points (StagePlan.matched_needs)."""
    return [(src, [ids[matched[src][index or 0]]], role)
            if role == "results" and src in matched else (src, ids, role)
            for src, ids, role in parts]


def upstream_parts(plan: Plan, name: str, iteration: int | None,
                   ids: dict[tuple[str, int | None], list[str]], final: dict[str, int]
                   ) -> tuple[list[tuple[str, list[str], str]], dict[str, list[str]], list[str]]:
    """What a stage's tasks read, as the driver and the resume key walk both need it:
    (stage, task ids, role) parts, the ids per needed stage, and needed stages that did not
    run. A need in the consumer's own loop is read at the same iteration, one in another
    loop at that loop's final iteration; feedback comes from the iteration before."""
    stage = plan.stages[name]
    parts: list[tuple[str, list[str], str]] = []
    upstream_ids: dict[str, list[str]] = {}
    missing: list[str] = []
    for need in stage.needs:
        loop = plan.stages[need].loop
        it = None if loop is None else iteration if loop == stage.loop else final.get(loop)
        got = ids.get((need, it))
        if got is None:
            missing.append(need)
            continue
        upstream_ids[need] = got
        parts.append((need, got, "results"))
    if stage.loop and iteration and iteration > 1:
        for src, dst in plan.loops[stage.loop].feedback:
            if dst == name:
                parts.append((src, ids.get((src, iteration - 1), []), "feedback"))
    return parts, upstream_ids, missing


def _env_text(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _unreachable(message: str, hint: str | None = None) -> None:
    raise ValueError(message)  # spec checks reject unknown names before planning


@dataclass
class TaskPayloads:
    """Builds payloads for one run; caches per-stage code hashes and canonical definitions
    (a payload is built per task, so per-stage work is done once)."""

    plan: Plan
    spec: LoadedSpec
    rundir: RunDir

    def __post_init__(self) -> None:
        self._code: dict[tuple[str, str, str | None], str] = {}
        self._memo: dict[Any, str] = {}
        self._defs: dict[str, dict[str, Any]] = {}
        self._canon: dict[str, str] = {}
        self._tasks_root = str(self.rundir.path / "tasks")
        self._run_dir = str(self.rundir.path)
        self._base_dir = str(self.spec.base_dir)

    def code_dir(self, stage: StagePlan) -> str:
        """Where the stage's module is imported from: the directory of the file that set its
        `python:` (a template's own helpers), else the workflow's (spec/code_dirs.py)."""
        return stage.code_dir or self._base_dir

    def code_hash(self, stage: StagePlan) -> str:
        """Per target and code directory, not per stage: many stages run one function (a
        chain of 200 stages hashed the same file 200 times, with its stat and realpath
        calls)."""
        where = (stage.target, stage.kind, stage.code_dir)
        if where not in self._code:
            self._code[where] = code_hash(stage.target, stage.kind,
                                          Path(self.code_dir(stage)), self._memo)
        return self._code[where]

    def stage_definition(self, name: str) -> dict[str, Any]:
        if name not in self._defs:
            d = self.spec.workflow.stages[name].model_dump(mode="json")
            d.pop("bundle", None)  # how points are grouped for the engine changes no result
            self._defs[name] = d
        return self._defs[name]

    def canonical_definition(self, name: str) -> str:
        if name not in self._canon:
            self._canon[name] = canonical_stage(self.stage_definition(name))
        return self._canon[name]

    def placement(self, stage: StagePlan, task: PlannedTask) -> dict[str, Any] | None:
        """What the worker claims on its node before the task starts (backends/placement.py):
        the plan's cores, units, memory and mask; None for tasks spanning nodes."""
        res = stage.resources
        if res["nodes"] > 1:
            return None
        cores = res["cores"] if isinstance(res["cores"], int) else None
        memory = parse_memory(res["memory"]) if res["memory"] else 0
        return {
            "cores": None if cores is None else cores * stage.binding.ranks_per_node,
            "units": list(task.units),
            "memory": memory * stage.binding.ranks_per_node,
            "mask": task.device_mask,
            "node_cores": stage.binding.node_cores,
            "node_memory": stage.binding.node_memory,
        }

    def task_id(self, task: PlannedTask, iteration: int | None) -> str:
        return task.id if iteration is None else f"{task.id}@{iteration}"

    def build(self, task: PlannedTask, iteration: int | None, layout: list[list],
              upstream_keys: list[str], feedback_keys: list[str] | None = None,
              upstream_ids: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """`upstream_ids`: the task ids of each needed stage this task reads (the iteration's,
        in a loop); the plan's ids when omitted."""
        stage = self.plan.stages[task.stage]
        definition = self.spec.workflow.stages[task.stage]
        point = task.point or {}
        task_id = self.task_id(task, iteration)
        files, stage_in = staged_inputs(self.plan, stage, task, self._tasks_root,
                                        upstream_ids) if stage.inputs else (None, [])
        if stage.kind == "python":
            target = stage.target
            args = render_value(definition.args, point, files=files)
        else:
            target = render_value(definition.shell, point, quote=True, files=files)
            args = {}
        env = {k: _env_text(render_value(v, point, files=files))
               for k, v in definition.env.items()}
        if stage.binding.fallback:
            env.update(task.device_mask)
        else:  # Parsl pins the unit variables per worker; the selector variables are ours
            env.update((var, task.device_mask[var]) for var in device_kinds.SELECTOR_VARS
                       if var in task.device_mask)
        inputs = {"target": target, "args": args, "env": env, "point": point}
        key = task_key(self.canonical_definition(task.stage), inputs,
                       [*upstream_keys, *(feedback_keys or [])], self.code_hash(stage), iteration)
        resources = definition.resources
        rank_env = {}
        if resources.ranks > 1 and task.device_mask and not stage.binding.fallback:
            var = next((k for k in device_kinds.UNIT_VARS if k in task.device_mask), None)
            if var:  # each rank takes its share of the task's units (mpi_entry)
                rank_env = {"ORCH_RANK_UNITS": task.device_mask[var], "ORCH_RANK_UNITS_VAR": var}
        payload = {
            "placement": self.placement(stage, task),
            "ranks": resources.ranks,
            "cores": resources.cores,
            "nodes": resources.nodes,
            "ranks_per_node": stage.binding.ranks_per_node,
            "rank_env": rank_env,
            "task_id": task_id,
            "stage": task.stage,
            "index": task.index,
            "iteration": iteration,
            "kind": stage.kind,
            "target": target,
            "args": args,
            "env": env,
            "outputs": [render_value(o, point) for o in stage.outputs],
            "layout": layout,
            "key": key,
            "task_dir": f"{self._tasks_root}/{task_dirname(task_id)}",
            "run_dir": self._run_dir,
            "base_dir": self.code_dir(stage),
        }
        if stage.environment:  # (absent otherwise: every byte of a payload is paid per task)
            payload["environment"] = self.plan.environments[stage.environment]
        if stage_in:
            payload["stage_in"] = stage_in
            payload["staging"] = self.plan.staging
        return payload
