"""Bind stages to site pools, check they fit, and compute per-task device masks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from orchestrator import device_kinds
from orchestrator.errors import DiagnosticSink, Loc
from orchestrator.site.models import Pool, Site
from orchestrator.spec.models import Resources
from orchestrator.spec.suggest import did_you_mean
from orchestrator.units import format_memory, format_walltime, parse_memory, parse_walltime

Locator = Callable[..., Loc | None]


def choose_pool(stage: str, res: Resources, site: Site, where: Locator,
                sink: DiagnosticSink) -> tuple[str, bool] | None:
    """(pool name, is_fallback), or None after reporting why nothing fits."""
    base = ("stages", stage, "resources")
    if res.pool is not None:
        pool = site.pools.get(res.pool)
        if pool is None:
            sink.error(where(*base, "pool"), f"stages.{stage}.resources.pool",
                       f"site {site.name!r} has no pool {res.pool!r}",
                       did_you_mean(res.pool, site.pools) or "pools: " + ", ".join(site.pools))
            return None
        if res.device not in pool.devices:
            sink.error(where(*base, "pool"), f"stages.{stage}.resources.pool",
                       f"pool {res.pool!r} is a {pool.device} pool but the stage asks for "
                       f"device {res.device}")
            return None
        return res.pool, False
    names = site.pools_for(res.device)
    if names:
        return names[0], False
    fallback = site.fallbacks.get(res.device)
    if fallback and site.pools_for(fallback) and res.fallback:
        return site.pools_for(fallback)[0], True
    why = "and this stage forbids fallbacks" if fallback else "and no fallback for it"
    sink.error(_first(where, (*base, "device"), (*base,), ("stages", stage)),
               f"stages.{stage}.resources.device",
               f"site {site.name!r} has no {res.device} pool {why}",
               "pools: " + ", ".join(f"{n} ({p.device})" for n, p in site.pools.items()))
    return None


def check_fit(stage: str, res: Resources, pool_name: str, pool: Pool, site: Site,
              fallback: bool, where: Locator, sink: DiagnosticSink) -> int:
    """Report every way a task of `stage` cannot fit `pool`; return ranks per node."""
    base = ("stages", stage, "resources")
    path = f"stages.{stage}.resources"
    rpn = math.ceil(res.ranks / res.nodes)
    on = f"pool {pool_name!r} ({site.name})"
    if res.nodes > 1 and res.ranks < res.nodes:
        sink.error(where(*base, "nodes"), f"{path}.nodes",
                   f"{res.nodes} nodes need at least {res.nodes} MPI ranks (ranks: {res.ranks})")
    if res.nodes > pool.nodes_per_block:
        sink.error(where(*base, "nodes"), f"{path}.nodes",
                   f"asks for {res.nodes} nodes; blocks of {on} have {pool.nodes_per_block} "
                   "(nodes_per_block)")
    if res.ranks > 1 and site.mpi.launcher == "none":
        sink.error(where(*base, "ranks"), f"{path}.ranks",
                   f"site {site.name!r} has no MPI launcher (mpi.launcher: none)")
    cores = pool.cores_per_node if isinstance(pool.cores_per_node, int) else None
    oversubscribed = pool.oversubscribe and res.ranks > 1
    if cores is not None and res.cores != "all" and rpn * res.cores > cores \
            and not oversubscribed:
        plural = "core" if res.cores == 1 else "cores"
        what = f"{rpn} ranks x {res.cores} {plural}" if rpn > 1 else f"{res.cores} {plural}"
        sink.error(_first(where, (*base, "cores"), (*base, "ranks")), f"{path}.cores",
                   f"needs {what} per node; {on} has {cores} cores per node")
    units = res.accelerators if not fallback else 0
    if units and rpn * units > pool.units_per_node:
        key = "gpus" if res.device == "gpu" else "xpus"
        unit = "tiles" if pool.pins_tiles else f"{res.device.upper()}s"
        sink.error(_first(where, (*base, key), (*base, "device")), f"{path}.{key}",
                   f"needs {rpn * units} {unit} per node; {on} has {pool.units_per_node}")
    if res.memory is not None and pool.memory_per_node not in (None, "auto"):
        have = parse_memory(pool.memory_per_node)
        need = rpn * parse_memory(res.memory)
        if need > have:
            sink.error(where(*base, "memory"), f"{path}.memory",
                       f"needs {format_memory(need)} per node; {on} has {format_memory(have)}")
    wall = res.walltime_seconds
    if wall is not None and wall > pool.limit_seconds:
        sink.error(where(*base, "walltime"), f"{path}.walltime",
                   f"{format_walltime(wall)} exceeds the {format_walltime(pool.limit_seconds)} "
                   f"limit of {on}")
    return rpn


def _first(where: Locator, *paths: tuple) -> Loc | None:
    """The first of `paths` that the user actually wrote, else the last one's container."""
    for path in paths:
        loc = where(*path, exact=True)
        if loc is not None:
            return loc
    return where(*paths[-1])


def slots_per_node(res: Resources, pool: Pool, rpn: int, fallback: bool) -> int:
    """How many tasks of this shape fit on one node at the same time."""
    if res.nodes > 1:
        return 1
    limits = []
    if res.cores == "all":
        return 1
    cores = pool.cores_per_node if isinstance(pool.cores_per_node, int) else 1
    limits.append(cores // max(1, rpn * res.cores))
    units = 0 if fallback else res.accelerators * rpn
    if units:
        limits.append(pool.units_per_node // units)
    return max(1, min(limits))


def unit_names(pool: Pool) -> list[str]:
    """Names of the pinnable units of a node: '0', '1' or '0.0', '0.1', ..."""
    if pool.pins_tiles and pool.tiles_per_accelerator > 1:
        return [f"{d}.{t}" for d in range(pool.accelerators_per_node)
                for t in range(pool.tiles_per_accelerator)]
    return [str(d) for d in range(pool.accelerators_per_node)]


def node_units(pool: Pool) -> tuple[str, ...]:
    """Every accelerator unit of a node, kind-qualified, over all the classes it serves."""
    out: list[str] = []
    for kind in pool.devices:
        view = pool.for_class(kind)
        if kind != "cpu":
            out.extend(f"{kind}:{u}" for u in unit_names(view))
    return tuple(out)


def hidden_devices(pool: Pool, device: str) -> dict[str, str]:
    """What a task of class `device` sets to see none of the node's GPUs when it was
    given none (a cpu or xpu task on a mixed node whose allocation holds GPUs), in the
    variable of the GPUs' backend."""
    if device != "gpu" and "gpu" in pool.devices:
        backend = device_kinds.BACKENDS.get(pool.for_class("gpu").accel_backend)
        if backend and backend.unit_var:
            return {backend.unit_var: ""}
    return {}


def task_cores(res: Resources, pool: Pool) -> int | None:
    """Cores one rank takes on a node; None for `cores: all` on a node of unknown size
    (the run gives it every core it finds)."""
    if res.cores != "all":
        return res.cores
    return pool.cores_per_node if isinstance(pool.cores_per_node, int) else None


def device_slots(res: Resources, pool: Pool, rpn: int, fallback: bool
                 ) -> list[tuple[dict[str, str], tuple[str, ...]]]:
    """The distinct (mask, units) pairs tasks cycle through, one per slot on a node. Units
    are kind-qualified ("gpu:0", "xpu:0.1"): the run holds them exclusively per task."""
    if fallback:
        return [(dict(device_kinds.KINDS[res.device].fallback), ())]
    if pool.device == "cpu":
        return [({}, ())]
    per_task = res.accelerators * rpn
    if per_task == 0:  # gpus: 0 on a gpu pool: the node's cores only, no device
        return [(mask_env(pool, ""), ())]
    names = unit_names(pool)
    slots = max(1, len(names) // per_task)
    out = []
    for slot in range(slots):
        chosen = names[slot * per_task:(slot + 1) * per_task]
        out.append((mask_env(pool, ",".join(chosen)),
                    tuple(f"{pool.device}:{u}" for u in chosen)))
    return out


def mask_env(pool: Pool, units: str) -> dict[str, str]:
    """Environment that pins a worker to `units` on a pool's backend."""
    backend = device_kinds.BACKENDS.get(pool.accel_backend)
    return backend.mask(units, pool.selector) if backend else {}


def effective_resources(res: Resources, pool: Pool, fallback: bool) -> dict[str, Any]:
    """What the JSON plan shows: requested values with defaults filled in."""
    wall = res.walltime_seconds
    return {
        "device": res.device,
        "cores": res.cores if res.cores != "all" else (task_cores(res, pool) or "all"),
        "gpus": res.accelerators if res.device == "gpu" and not fallback else 0,
        "xpus": res.accelerators if res.device == "xpu" and not fallback else 0,
        "ranks": res.ranks,
        "nodes": res.nodes,
        "memory": format_memory(res.memory_bytes) if res.memory is not None else None,
        "walltime": format_walltime(wall) if wall is not None else None,
        "estimated_walltime": format_walltime(wall or parse_walltime(pool.task_walltime)),
    }
