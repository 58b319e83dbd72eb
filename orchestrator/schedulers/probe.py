"""What `Scheduler.probe()` returns: a cluster's queues and nodes as plain dataclasses,
scheduler-neutral, so that site/init.py maps any batch system to a site draft.

Slurm fills it from `scontrol` (schedulers/slurm.py), PBS Pro from `pbsnodes`/`qstat`
(schedulers/pbspro.py). A scheduler also says how its site config is written
(`DraftHints`: the pool field that names the queue, its `<scheduler>:` section, the MPI
launcher), since those differ by scheduler while the pools do not. No pydantic, no site
models: tests build these from captured command output.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import OrchestratorError

TIMEOUT_S = 30
MIB = 1024 * 1024


class SchedulerError(OrchestratorError):
    """No scheduler here, or one of its commands failed: the message names the command
    and its stderr (the CLI prints it and exits 1)."""


Runner = Callable[[list[str]], str]
"""Runs one read-only query command (an argument list) and returns its stdout."""


@dataclass(frozen=True)
class Gres:
    """One generic resource of a node: Slurm's `gpu:a100:4` is name gpu, type a100, 4;
    PBS Pro's `ngpus=6` with `gpu_type=pvc` is name gpu, type pvc, 6."""

    name: str
    type: str | None
    count: int


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int                     # CPUs the scheduler allocates (Slurm CPUEfctv, PBS ncpus)
    threads_per_core: int         # 1 where the scheduler does not say
    memory_mib: int | None        # None when not configured
    gres: tuple[Gres, ...]
    features: tuple[str, ...]     # Slurm features; PBS Pro host resources such as gpu_type
    partitions: tuple[str, ...]   # the partitions (Slurm) or queues (PBS Pro) it serves
    state: str

    def gres_count(self, name: str) -> int:
        return sum(g.count for g in self.gres if g.name == name)

    def gres_types(self, name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.type for g in self.gres if g.name == name and g.type))


@dataclass(frozen=True)
class Queue:
    """A Slurm partition or a PBS Pro queue (the field names are Slurm's, the meaning
    each scheduler's nearest)."""

    name: str
    default: bool
    state: str                    # UP, DOWN, DRAIN, INACTIVE
    max_time_s: int | None        # None: no limit
    default_time_s: int | None    # None: no default (jobs get the limit)
    max_nodes: int | None
    max_cpus_per_node: int | None
    max_mem_per_node_mib: int | None
    oversubscribe: str            # Slurm's NO, EXCLUSIVE, YES[:N], FORCE[:N]; PBS Pro: NO
    qos: str | None
    total_nodes: int
    allowed: tuple[str, ...] = ()  # `AllowGroups=a,b`, `acl_groups=a`: who may submit


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str | None
    partitions: tuple[Queue, ...]  # partitions or queues
    nodes: tuple[Node, ...]
    config: dict[str, str] = field(default_factory=dict)
    mpi_plugins: tuple[str, ...] = ()
    default_account: str | None = None
    scheduler: str = ""           # the registry name of the scheduler that probed it
    notes: tuple[str, ...] = ()   # what the probe left out, for the file's header

    def nodes_of(self, partition: str) -> list[Node]:
        return [n for n in self.nodes if partition in n.partitions]


@dataclass
class DraftHints:
    """How a scheduler's site config is written (Scheduler.draft_hints)."""

    queue_field: str                                  # pool field: partition / queue
    description: str
    header: list[str]
    mpi: dict[str, Any]
    mpi_notes: list[str]
    options: list[tuple[str, Any, str]] = field(default_factory=list)  # key, value, comment
    options_note: str = ""                            # a comment when `options` is empty
    default_name: str = "cluster"
    intel_gres: bool = False                          # xpu pools ask for `gres: gpu:N`
    constraints: bool = False                         # node features become `constraint:`
    terms: dict[str, str] = field(default_factory=dict)  # how comments name things

    def term(self, key: str) -> str:
        return self.terms.get(key, SLURM_TERMS[key])


SLURM_TERMS = {"queue": "partition", "max_time": "MaxTime", "default_time": "DefaultTime",
               "memory": "RealMemory", "cpus": "CPUs Slurm allocates per node",
               "gres": "GRES"}


def run_command(argv: list[str], timeout: float | None = None) -> str:
    """stdout of `argv`; SchedulerError naming the command and its stderr otherwise."""
    shown = " ".join(argv)
    timeout = timeout or TIMEOUT_S
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8",
                              errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SchedulerError(f"`{shown}` did not answer in {timeout:g} s "
                             "(is the scheduler's server up?)") from None
    except OSError as exc:
        raise SchedulerError(f"`{shown}` could not start: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.strip() or proc.stdout.strip() or "(no output)"
        raise SchedulerError(f"`{shown}` failed (exit {proc.returncode}): {err[-2000:]}")
    return proc.stdout


def optional(runner: Runner, argv: list[str]) -> str:
    """Extra facts: a command that is missing or fails adds nothing."""
    try:
        return runner(argv)
    except SchedulerError:
        return ""
