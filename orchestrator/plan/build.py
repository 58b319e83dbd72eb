"""Build a Plan from a loaded spec and site. Pure: no Parsl, and no I/O but one look
(on a local site: do the environment prefixes its tasks will use exist?).

Problems (no pool for a device, a task bigger than a node, walltime over the
partition limit, a zip of unequal lists) are reported together, each at the
YAML position that asked for it.
"""

from __future__ import annotations

import os

from orchestrator.errors import DiagnosticSink, PlanError
from orchestrator.plan.bind import (
    check_fit,
    choose_pool,
    device_slots,
    effective_resources,
    hidden_devices,
    node_units,
    slots_per_node,
)
from orchestrator.plan.compact import TaskList
from orchestrator.plan.cost import stage_cost
from orchestrator.plan.expand import ExpandError, derived_seed, expand
from orchestrator.plan.graph import topo_order
from orchestrator.plan.inputs import stage_inputs
from orchestrator.plan.model import Binding, LoopPlan, Plan, StagePlan
from orchestrator.site.environments import Environment
from orchestrator.site.load import LoadedSite
from orchestrator.site.models import Pool
from orchestrator.spec.checks import path_problem
from orchestrator.spec.load import LoadedSpec
from orchestrator.spec.models import Stage
from orchestrator.spec.params import render
from orchestrator.spec.suggest import did_you_mean
from orchestrator.units import parse_memory


def build_plan(spec: LoadedSpec, site: LoadedSite) -> Plan:
    wf = spec.workflow
    sink = DiagnosticSink()
    loop_of = {s: name for name, loop in wf.loops.items() for s in loop.stages}
    order = topo_order({n: list(s.needs) for n, s in wf.stages.items()})
    stages: dict[str, StagePlan] = {}
    warnings: list[str] = []
    for name in order:
        planned = _plan_stage(spec, site, name, wf.stages[name], loop_of.get(name), sink,
                              stages)
        if planned is not None:
            stages[name] = planned
            if planned.binding.fallback:
                warnings.append(f"stage {name!r}: site {site.site.name!r} has no "
                                f"{planned.binding.requested} pool; running on "
                                f"{planned.binding.pool!r} ({planned.binding.device})")
    used = _check_environments(spec, site, stages, sink)
    _check_required_environments(spec, site, sink)
    warnings += _missing_prefixes(site, used)
    sink.raise_if_any(PlanError)
    loops = {
        name: LoopPlan(name, tuple(loop.stages), loop.max_iterations,
                       loop.until.model_dump() if loop.until else None,
                       tuple((f.from_, f.to) for f in loop.feedback))
        for name, loop in wf.loops.items()
    }
    return Plan(wf.name, site.site.name, site.site.scheduler, dict(spec.params), stages, loops,
                tuple(warnings), site.site.stage_inputs, environments=used)


def _check_environments(spec: LoadedSpec, site: LoadedSite, stages: dict[str, StagePlan],
                        sink: DiagnosticSink) -> dict[str, dict]:
    """The site's definitions of the environments stages name (resolved, with their name);
    a name the site lacks, or one a stage's pool or ranks cannot use, is a located error."""
    defined = site.site.environments
    used: dict[str, dict] = {}
    for name, stage in spec.workflow.stages.items():
        env_name = stage.environment
        if env_name is None:
            continue
        where, path = spec.locate("stages", name, "environment"), f"stages.{name}.environment"
        env = defined.get(env_name)
        if env is None:
            sink.error(where, path, f"site {site.site.name!r} defines no environment "
                       f"{env_name!r}", did_you_mean(env_name, defined) or (
                           "environments: " + ", ".join(defined) if defined
                           else "the site defines no environments"))
            continue
        bound = stages.get(name)
        pool = site.site.pools[bound.binding.pool] if bound else None
        problem = _environment_misfit(stage, env, pool)
        if problem:
            sink.error(where, path, problem)
            continue
        used[env_name] = {"name": env_name, **env.model_dump(mode="json")}
    return used


def _check_required_environments(spec: LoadedSpec, site: LoadedSite,
                                 sink: DiagnosticSink) -> None:
    """`requires: {environments: [NAME]}` of the workflow and of every template it uses:
    the site must define each, or a located error at the name (docs/templates.md)."""
    defined = site.site.environments
    for req in spec.requirements:
        who = f"template {req.template!r}" if req.template else "the workflow"
        for name, loc in req.environments:
            if name not in defined:
                sink.error(loc, "requires.environments", f"{who} requires environment "
                           f"{name!r}; site {site.site.name!r} does not define it",
                           did_you_mean(name, defined) or (
                               "environments: " + ", ".join(defined) if defined
                               else "the site defines no environments"))


def _missing_prefixes(site: LoadedSite, used: dict[str, dict]) -> list[str]:
    """On a local site the plan can see the prefixes its tasks will use: say which are not
    there (their tasks would fail at start), with the site's description, which names
    what installs them. A cluster's prefixes live on its nodes: not checked."""
    if site.site.scheduler != "local":
        return []
    out = []
    for name, env in used.items():
        prefix = env.get("prefix")
        if prefix and not os.path.isdir(prefix):
            about = f" ({env['description']})" if env.get("description") else ""
            out.append(f"environment {name!r}: prefix {prefix} does not exist on this "
                       f"machine{about}; its tasks fail until it does")
    return out


def _environment_misfit(stage: Stage, env: Environment, pool: Pool | None) -> str | None:
    if env.container is not None and stage.resources.ranks > 1:
        return ("a container environment cannot run a multi-rank (ranks > 1) task: "
                "launch MPI inside the container from a single-rank stage instead")
    if pool is not None and pool.executor == "threads":
        return ("an environment runs the task in its own process; the stage's pool has "
                "executor: threads (use htex or processes)")
    return None


def _check_swept_outputs(spec: LoadedSpec, name: str, outputs: list[str] | dict[str, str],
                         points: list, sink: DiagnosticSink) -> None:
    """Outputs that interpolate sweep values must stay in the task directory at every point
    (the spec checks can only see the template)."""
    items = outputs.items() if isinstance(outputs, dict) else enumerate(outputs)
    for i, out in items:
        if "${" not in out:
            continue
        for k, point in enumerate(points):
            problem = path_problem(str(render(out, "sweep", point, False, lambda *a: None)))
            if problem:
                shown = f".{i}" if isinstance(i, str) else f"[{i}]"
                sink.error(spec.locate("stages", name, "outputs", i),
                           f"stages.{name}.outputs{shown}", f"{problem} (sweep point {k})")
                break


def _plan_stage(spec: LoadedSpec, site: LoadedSite, name: str, stage: Stage,
                loop: str | None, sink: DiagnosticSink,
                planned: dict[str, StagePlan]) -> StagePlan | None:
    res = stage.resources
    chosen = choose_pool(name, res, site.site, spec.locate, sink)
    if chosen is None:
        return None
    pool_name, fallback = chosen
    node_pool = site.site.pools[pool_name]
    # the pool as this stage's device class sees it (a mixed pool has several)
    pool = node_pool.for_class(site.site.fallbacks[res.device] if fallback else res.device)
    before = len(sink.items)
    rpn = check_fit(name, res, pool_name, pool, site.site, fallback, spec.locate, sink)
    sample = stage.sweep.sample if stage.sweep else None
    seed = None
    if sample is not None:
        seed = sample.seed if sample.seed is not None else derived_seed(spec.workflow.name, name)
    try:
        points = expand(stage.sweep, seed or 0)
    except ExpandError as exc:
        sink.error(spec.locate("stages", name, "sweep", *exc.path), f"stages.{name}.sweep", str(exc))
        return None
    if points and any("${" in o for o in stage.output_paths):
        _check_swept_outputs(spec, name, stage.outputs, points, sink)
    inputs = stage_inputs(spec, name, stage, points, planned, sink)
    if len(sink.items) > before:
        return None
    hide = hidden_devices(node_pool, pool.device)
    slots = [({**hide, **mask}, units) for mask, units in device_slots(res, pool, rpn, fallback)]
    tasks = TaskList(name, points, slots)
    binding = Binding(pool_name, pool.device, res.device, fallback, rpn,
                      0 if fallback else res.accelerators * rpn,
                      slots_per_node(res, pool, rpn, fallback),
                      pool.cores_per_node if isinstance(pool.cores_per_node, int) else None,
                      parse_memory(pool.memory_per_node)
                      if pool.memory_per_node not in (None, "auto") else None,
                      node_units(node_pool), pool.max_blocks * pool.nodes_per_block)
    sweep_vars: tuple[str, ...] = ()
    if stage.sweep is not None:
        sweep_vars = (*stage.sweep.values, *(sample.space if sample else {}))
    return StagePlan(
        name=name,
        kind="python" if stage.python else "shell",
        target=stage.python or stage.shell or "",
        needs=tuple(stage.needs),
        binding=binding,
        resources=effective_resources(res, pool, fallback),
        cost=stage_cost(res, pool, rpn, fallback, len(tasks)),
        tasks=tasks,
        loop=loop,
        sweep_vars=sweep_vars,
        seed=seed,
        sampler=sample.method if sample else None,
        retries=stage.retries,
        outputs=tuple(stage.output_paths),
        inputs=inputs,
        environment=stage.environment,
        code_dir=str(spec.code_dir(name)) if stage.python else None,
        bundle=stage.bundle if stage.bundle not in (None, 1) and len(tasks) > 1 else None,
    )
