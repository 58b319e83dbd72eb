"""Per-node placement at run time: each task gets exactly the cores, accelerator units and
memory its plan entry shows, and tasks of any shapes share a node without exceeding it.

Parsl's HighThroughputExecutor runs one task per worker and knows nothing of a task's
cores or devices; Parsl places tasks on nodes, this module places them inside a node. Every
worker process of one node (and, on a local site, of every pool, since the pools share the
machine) claims from one ledger: a small JSON file in node-local shared memory, changed only
under `flock`. A claim names the claiming pid, so the claims of a worker killed with
SIGKILL are dropped by the next reader (state/liveness.py: a zombie counts as dead, as its
parent may never reap it), and nothing leaks.

Policy (docs/placement.md): a task starts as soon as its planned units, its core count and
its memory are free (backfill: a small task may pass a large one that does not fit yet),
except that once the oldest waiting task has waited `STARVATION_S`, nothing else starts on
the node until it has: no shape waits forever behind a stream of smaller ones. A task larger
than the node (which the plan already refuses where it knows the node) fails at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from orchestrator.state.liveness import pid_alive

STARVATION_S = 5.0
_POLL_MIN, _POLL_MAX = 0.002, 0.05
_BOOT_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


class PlacementError(RuntimeError):
    """A task asks for more than this node has: it can never start here."""


@dataclass(frozen=True)
class Request:
    """What one task takes of a node: a core count, named units, bytes of memory."""

    task: str
    cores: int | None  # None: every core of the node (`cores: all`)
    units: tuple[str, ...] = ()  # "gpu:0", "xpu:0.1" (kind-qualified, per node)
    memory: int = 0


@dataclass(frozen=True)
class Grant:
    """What the task was given: the CPU ids it is bound to, its units, its memory."""

    cpus: tuple[int, ...]
    units: tuple[str, ...]
    memory: int
    waited: float  # seconds spent waiting for the node
    since: float  # wall-clock time the claim was taken


@dataclass
class _State:
    cpus: list[int]
    memory: int
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)


def node_memory() -> int:
    """Memory this node's tasks may share: the Slurm allocation's, else the machine's."""
    mb = os.environ.get("SLURM_MEM_PER_NODE")
    if mb and mb.isdigit() and int(mb) > 0:
        return int(mb) * 1024 * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 62


def node_cpus(planned: int | None = None) -> list[int]:
    """The CPUs this node gives the run: those the worker may run on, no more than the
    allocation's count (SLURM_CPUS_ON_NODE, when Slurm does not bind the job to them) and
    no more than the plan's `cores_per_node`."""
    cpus = list(_BOOT_CPUS) or list(range(os.cpu_count() or 1))
    given = os.environ.get("SLURM_CPUS_ON_NODE", "")
    if given.isdigit() and int(given) > 0:
        cpus = cpus[: int(given)]
    return cpus[:planned] if planned else cpus


JOB_ID_VARS = ("SLURM_JOB_ID", "PBS_JOBID")
"""What names the batch job on a compute node: each batch scheduler's `job_id_var`
(schedulers/*.py; the worker does not import the registry, a unit test ties the two)."""


def ledger_path(run_dir: str) -> str:
    """One ledger per run and allocation on this node: pools of a local site share the
    machine; on a batch system each job has its own CPUs and devices."""
    scope = next((os.environ[v] for v in JOB_ID_VARS if os.environ.get(v)), "local")
    # the node too: a test cluster runs several slurmd (nodes) on one host, one /dev/shm
    scope += "\0" + os.environ.get("SLURMD_NODENAME", "")
    digest = hashlib.sha256(f"{run_dir}\0{scope}".encode()).hexdigest()[:16]
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) \
        else tempfile.gettempdir()
    return os.path.join(root, f"orch-ledger-{digest}.json")


def remove_ledger(run_dir: str) -> None:
    """Drop this node's ledger when a run's attempt ends (its workers are gone: nothing
    holds a claim). A driver killed outright leaves it; its resume reuses the same file."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(ledger_path(run_dir))


class Ledger:
    """The node's claims. Methods take the file lock for one short read-modify-write."""

    def __init__(self, path: str, cpus: list[int] | None = None, memory: int | None = None):
        self.path = path
        self._cpus = list(cpus if cpus is not None else _BOOT_CPUS)
        self._memory = memory if memory is not None else node_memory()
        self._owner = f"{os.getpid()}"

    @property
    def cpus(self) -> list[int]:
        """The CPUs this process would give the node's ledger (the file's own are kept)."""
        return self._cpus

    @contextlib.contextmanager
    def _locked(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 1 << 22, 0)
            state = self._decode(raw)
            yield state
            data = json.dumps({"cpus": state.cpus, "memory": state.memory,
                               "claims": state.claims, "waiting": state.waiting}).encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)  # releases the flock

    def _decode(self, raw: bytes) -> _State:
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            return _State(self._cpus, self._memory)
        state = _State(doc["cpus"], doc["memory"], doc.get("claims", {}), doc.get("waiting", {}))
        for table in (state.claims, state.waiting):
            for key in [k for k, v in table.items() if not pid_alive(v["pid"])]:
                del table[key]
        return state

    def acquire(self, req: Request, key: str) -> Grant:
        """Block until `req` fits (see the module's policy); then hold it under `key`."""
        start = time.monotonic()
        delay = _POLL_MIN
        while True:
            with self._locked() as state:
                _check_fits_node(req, state)
                grant = self._try(state, req, key, start)
                if grant is None:
                    state.waiting.setdefault(key, {"pid": os.getpid(), "since": time.time(),
                                                   "task": req.task})
            if grant is not None:
                return grant
            time.sleep(delay)
            delay = min(_POLL_MAX, delay * 2)

    def _try(self, state: _State, req: Request, key: str, start: float) -> Grant | None:
        me = state.waiting.get(key)
        oldest = min(state.waiting.items(), key=lambda kv: kv[1]["since"], default=None)
        if oldest is not None and oldest[0] != key and \
                time.time() - oldest[1]["since"] > STARVATION_S and \
                (me is None or me["since"] > oldest[1]["since"]):
            return None  # the oldest waiter has waited long enough: it goes first
        busy_cpus = {c for claim in state.claims.values() for c in claim["cpus"]}
        busy_units = {u for claim in state.claims.values() for u in claim["units"]}
        used_memory = sum(claim["memory"] for claim in state.claims.values())
        free = [c for c in state.cpus if c not in busy_cpus]
        want = len(state.cpus) if req.cores is None else req.cores
        if len(free) < want or busy_units & set(req.units) or \
                used_memory + req.memory > state.memory:
            return None
        cpus = free[:want]
        now = time.time()
        state.waiting.pop(key, None)
        state.claims[key] = {"pid": os.getpid(), "task": req.task, "cpus": cpus,
                             "units": list(req.units), "memory": req.memory, "since": now}
        return Grant(tuple(cpus), req.units, req.memory, round(time.monotonic() - start, 6),
                     now)

    def release(self, key: str) -> None:
        with self._locked() as state:
            state.claims.pop(key, None)
            state.waiting.pop(key, None)


def _check_fits_node(req: Request, state: _State) -> None:
    if req.cores is not None and req.cores > len(state.cpus):
        raise PlacementError(f"{req.task} needs {req.cores} cores; this node "
                             f"({socket.gethostname()}) gives the run {len(state.cpus)}")
    if req.memory > state.memory:
        raise PlacementError(f"{req.task} needs {req.memory} bytes of memory; this node "
                             f"({socket.gethostname()}) has {state.memory}")


@contextlib.contextmanager
def bound(cpus) -> Any:
    """Run the body on `cpus` only (the calling thread's affinity, which subprocesses
    inherit), then restore what it was. Already on exactly those CPUs (a pinned worker
    whose task takes all of them), nothing changes: a set costs ~0.25 ms per call on a
    busy 2-core machine, more than a no-op task."""
    before = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") and cpus else None
    if before is not None and before == set(cpus):
        before = None
    if before is not None:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


@contextlib.contextmanager
def placed(ledger: Ledger, req: Request):
    """Hold `req` on this node for the body, bound to the granted CPUs, and give
    everything back after."""
    key = f"{os.getpid()}:{id(req)}:{time.monotonic_ns()}"
    grant = ledger.acquire(req, key)
    try:
        with bound(grant.cpus):
            yield grant
    finally:
        ledger.release(key)
