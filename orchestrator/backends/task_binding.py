"""A task's placement, applied in its worker: the CPUs it is bound to, its device mask
(per task, never per worker) and thread counts that match its cores (docs/placement.md).
Engine-neutral: no Parsl here."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from orchestrator import device_kinds
from orchestrator.backends.placement import (
    Grant,
    Ledger,
    Request,
    bound,
    ledger_path,
    node_cpus,
    placed,
)

PINNING_VARS = device_kinds.PINNING_VARS
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_PARSL_PINNED: dict[int, bool] = {}
_LEDGERS: dict[str, Ledger] = {}  # one per node ledger file, per worker process


def pinning(payload: dict[str, Any]) -> dict[str, str]:
    """The device variables the task ran with: its plan's mask over what the worker had."""
    placement = payload.get("placement")
    if not placement:
        return {k: os.environ[k] for k in PINNING_VARS if k in os.environ}
    seen = {**placement.get("mask", {}), **(payload.get("env") or {})}
    return {k: seen[k] for k in PINNING_VARS if k in seen}


def _ledger(run_dir: str, placement: dict[str, Any]) -> Ledger:
    path = ledger_path(run_dir)
    if path not in _LEDGERS:
        _LEDGERS[path] = Ledger(path, node_cpus(placement.get("node_cores")),
                                placement.get("node_memory"))
    return _LEDGERS[path]


@contextlib.contextmanager
def placed_task(payload: dict[str, Any], spec: dict[str, Any]) -> Iterator[Grant | None]:
    """Hold the task's cores, units and memory on this node while it runs (placement.py);
    tasks spanning nodes are placed by their launcher. `spec` says how (the executor's
    mode, admission.placement_modes): `cpus` chosen by an exact admission in the driver,
    `pinned` (Parsl pinned this worker: the task takes its share of the worker's cores), or
    neither: the node's ledger."""
    placement = payload.get("placement")
    if not placement:
        yield None
        return
    given = spec.get("cpus")
    if spec.get("pinned") or (not spec and parsl_pinned()):
        mine = _thread_block(placement["cores"]) if payload.get("in_process") \
            else sorted(os.sched_getaffinity(0))
        given = mine[:placement["cores"]] if placement["cores"] else mine
    if given:
        with bound(given):
            yield Grant(tuple(given), tuple(placement["units"]), placement.get("memory") or 0,
                        0.0, time.time())
        return
    ledger = _ledger(payload["run_dir"], placement)
    cores = placement["cores"]
    if payload.get("ranks", 1) > 1 and cores is not None and cores > len(ledger.cpus):
        cores = None  # an oversubscribed MPI task (the site allows it): it takes the node
    req = Request(payload["task_id"], cores, tuple(placement["units"]),
                  placement.get("memory") or 0)
    with placed(ledger, req) as grant:  # PlacementError when it can never fit here
        yield grant


def env_of(payload: dict[str, Any], grant: Grant | None) -> dict[str, str | None]:
    """The task's environment: its device mask (per task, not per worker), thread counts
    that match its cores, then the stage's own `env`."""
    env: dict[str, str | None] = {}
    if grant is not None:
        # job-wide values (Slurm sets CUDA_VISIBLE_DEVICES and ZE_AFFINITY_MASK for the whole
        # allocation) give way to the task's own mask: what it was not given, it does not see
        env.update((var, None) for var in PINNING_VARS if var in os.environ)
        env.update((payload.get("placement") or {}).get("mask") or {})
        threads = str(len(grant.cpus))
        env.update((var, threads) for var in THREAD_VARS)  # the stage's env may override
        env["ORCH_TASK_CPUS"] = ",".join(map(str, grant.cpus))
    env.update(payload.get("env") or {})
    return env


_THREAD = threading.local()
_NEXT_BLOCK = itertools.count()


def _thread_block(cores: int | None) -> list[int]:
    """The cores of this task thread of a `threads` pool, taken once per thread: the pool
    has as many threads as the node has blocks of `cores`, so each gets its own block (the
    threads-pool counterpart of Parsl's per-worker `cpu_affinity`)."""
    block = getattr(_THREAD, "cpus", None)
    if block is None:
        cpus = node_cpus()
        size = cores or len(cpus)
        k = next(_NEXT_BLOCK) % max(1, len(cpus) // size)
        block = _THREAD.cpus = cpus[k * size:(k + 1) * size]
    return block


def parsl_pinned() -> bool:
    """Whether Parsl pinned this worker process (HTEX `cpu_affinity`: the executor's
    "pinned" mode, whose tasks come without a resource spec). Parsl exports the cores it
    chose for OpenMP; read once per process, before any task binds it."""
    pid = os.getpid()
    if pid not in _PARSL_PINNED:
        mine = ",".join(map(str, sorted(os.sched_getaffinity(0))))
        _PARSL_PINNED[pid] = (os.environ.get("GOMP_CPU_AFFINITY") == mine and
                              os.environ.get("KMP_AFFINITY", "").startswith("explicit,"))
    return _PARSL_PINNED[pid]
