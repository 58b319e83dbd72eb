"""The scheduler seam: what orch asks of a batch system, behind one small interface.

A scheduler is one module in this package that defines a `Scheduler` subclass and sets
`SCHEDULER = TheClass()`; the registry (`orchestrator.schedulers`) finds it by the site's
`scheduler:` value. Everything scheduler-specific lives there:

- plan side (standard library and pydantic only, never Parsl): the options model of the
  site's `<name>:` section, the site checks it adds, the batch directives of a pool, the
  script template, the walltime format;
- run side: the Parsl provider of a pool's blocks (Parsl imported inside `provider`), and
  the job status and cancel commands the reaper runs (argument lists, never shell text);
- capabilities, as data (`Capabilities`);
- `orch site init`: `probe` runs the scheduler's read-only query commands and returns the
  cluster's queues and nodes (schedulers/probe.py, scheduler-neutral); `draft_hints` says
  how its site config is written (queue field, its section, the MPI launcher).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from orchestrator.units import format_walltime

if TYPE_CHECKING:
    from orchestrator.schedulers.probe import Cluster, DraftHints, Runner
    from orchestrator.site.models import Pool, Site

Problem = tuple[tuple[Any, ...], str]
"""A site-config problem a scheduler finds: (location in the site file, message)."""


class SchedulerOptions(BaseModel):
    """The site's `<scheduler>:` section (site-wide settings; unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Capabilities:
    """What a scheduler can do, as data the rest of orch reads instead of its name."""

    label: str                         # how messages name it: "Slurm", "PBS Pro"
    batch: bool                        # blocks are batch jobs (False: this machine)
    directive: str | None              # batch-script directive prefix: "#SBATCH", "#PBS"
    script_suffix: str | None          # file suffix of `orch plan --scripts` (".sbatch")
    provider: str                      # the Parsl provider class a pool's blocks use
    pool_fields: frozenset[str]        # scheduler-specific Pool fields it reads
    executors: tuple[str, ...]         # pool `executor:` values it can run
    jobs_file: str | None              # run-dir file of the run's job ids (cancelled at the end)
    job_id_var: str | None             # variable naming the job on a compute node
    heartbeat: tuple[int, int]         # worker heartbeat (period, threshold) seconds
    strategy_period: float             # seconds between Parsl's scaling decisions
    task_masks_in_script: bool = False  # the script lists every task's device mask


@dataclass(frozen=True)
class ProviderSpec:
    """A pool's Parsl provider as data: the class in `parsl.providers`, its keyword
    arguments, and the launcher (a class in `parsl.launchers` and its arguments). The
    backend builds it (backends/parsl/providers.py), so this package never imports Parsl."""

    cls: str
    kwargs: dict[str, Any]
    launcher: tuple[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class ScriptParts:
    """The scheduler-neutral parts of a block's batch script (plan/scripts.py makes them)."""

    jobname: str
    script_dir: str
    worker_init: str
    user_script: str


@dataclass(frozen=True)
class DriverJob:
    """The scheduler-neutral parts of the driver's own batch job (`orch submit`): the
    allocation holds the driver and every block of the run (plan/driver_job.py makes it).
    `pool` is the pool whose block directives size each node of the allocation."""

    jobname: str
    pool: str
    nodes: int
    walltime_s: int
    signal_lead_s: int                 # the driver is told this long before the time limit
    log: str                           # the job's stdout and stderr (one file per job)
    environment: str                   # shell lines before the driver starts (PATH, env)
    command: str                       # the driver's command line (shell text)


class Scheduler(ABC):
    """One batch system (or none: local). Subclasses set the three class attributes."""

    name: str
    options_model: type[SchedulerOptions]
    capabilities: Capabilities
    instead: dict[str, str] = {}  # another scheduler's pool field -> what to write here
    probe_commands: tuple[str, ...] = ()  # on PATH: `orch site init` finds this scheduler
    probe_order: int = 50         # auto-detection tries lower first (Slurm before PBS Pro:
                                  # Slurm's PBS wrappers also provide qstat and pbsnodes)

    # ---- plan side ------------------------------------------------------------------------
    def options(self, site: Site) -> SchedulerOptions:
        """The site's `<name>:` section (its defaults when the file has none)."""
        return getattr(site, self.name)

    @abstractmethod
    def directives(self, site: Site, pool_name: str) -> list[str]:
        """The directive lines of one pool's batch script (the provider gets the same)."""

    def queue(self, site: Site, pool_name: str) -> str | None:
        """The partition or queue a pool's blocks go to (None: the scheduler's default)."""
        return None

    def format_walltime(self, seconds: int) -> str:
        """A block walltime as this scheduler writes it; `units.parse_walltime` reads it."""
        return format_walltime(seconds)

    def script(self, site: Site, pool_name: str, parts: ScriptParts) -> str | None:
        """The batch script of one block of `pool_name` (None: no batch system)."""
        return None

    def check_site(self, site: Site) -> list[Problem]:
        """Site settings this scheduler cannot honour, located: directive lines of another
        batch system, pool fields of another scheduler, another scheduler's section."""
        out: list[Problem] = []
        prefixes = self.directive_prefixes()
        for name, pool in site.pools.items():
            out += _directive_problems(name, pool, prefixes)
            if self.capabilities.batch:
                out += self._foreign_fields(name, pool)
        if self.capabilities.batch:
            from orchestrator import schedulers

            for other in schedulers.names():
                if other != self.name and other in site.model_fields_set:
                    out.append(((other,), f"settings for {other}, but this site's scheduler "
                                f"is {self.name}"))
        return out

    def directive_prefixes(self) -> tuple[str, ...]:
        """Directive prefixes a pool's `scheduler_options` lines may start with."""
        return (self.capabilities.directive,) if self.capabilities.directive else ()

    def _foreign_fields(self, name: str, pool: Pool) -> list[Problem]:
        from orchestrator import schedulers

        out: list[Problem] = []
        for other in schedulers.every():
            for f in sorted(other.capabilities.pool_fields - self.capabilities.pool_fields):
                if f in pool.model_fields_set and not any(p[0][-1] == f for p in out):
                    hint = f" ({self.instead[f]})" if f in self.instead else ""
                    out.append((("pools", name, f), f"{f} is a {other.capabilities.label} "
                                f"setting; {self.capabilities.label} does not read it{hint}"))
        return out

    def driver_script(self, site: Site, job: DriverJob) -> str | None:
        """The batch script that runs the driver inside an allocation (None: no batch
        system, so no `orch submit`)."""
        return None

    # ---- run side -------------------------------------------------------------------------
    @abstractmethod
    def provider(self, site: Site, pool_name: str, worker_init: str, *, mpi: bool = False,
                 run_dir: Path | None = None) -> ProviderSpec:
        """The Parsl provider of a pool's blocks, as data. `mpi`: for the pool's MPI-mode
        executor (its launcher starts one worker pool per block)."""

    def allocation_provider(self, site: Site, pool_name: str, worker_init: str, *,
                            mpi: bool = False) -> ProviderSpec | None:
        """A pool's one block inside the driver's own allocation (`orch submit`): Parsl's
        LocalProvider with the launcher that starts a worker pool on each of the block's
        nodes. None: this scheduler has no allocations."""
        return None

    def submit_command(self, script: Path, link: int, after: str | None = None
                       ) -> list[str] | None:
        """The command that submits the driver's script as chain link `link`, held until
        job `after` has ended (whatever its outcome) when given."""
        return None

    def submitted_id(self, stdout: str) -> str:
        """The job id in the submit command's output."""
        return stdout.strip()

    def job_states(self, job_ids: list[str]) -> dict[str, str]:
        """What the scheduler says of each job it still knows (`running on n1`,
        `pending (Dependency)`, `timeout`); ids it no longer knows are left out."""
        return {}

    def status_command(self, job_ids: list[str]) -> list[str] | None:
        """The command that lists which of `job_ids` are still queued or running."""
        return None

    def cancel_command(self, job_ids: list[str]) -> list[str] | None:
        """The command that cancels `job_ids`."""
        return None

    def still_queued(self, job_ids: list[str], returncode: int, stdout: str, stderr: str
                     ) -> list[str] | None:
        """Which of `job_ids` the status command's output still lists; None: it cannot tell."""
        return []

    def job_notes(self, job_ids: list[str]) -> list[str]:
        """Lines for the progress display about blocks not running yet (and why)."""
        return []

    def valid_job_id(self, job_id: str) -> bool:
        """Whether a recorded id looks like one of this scheduler's job ids."""
        return False

    # ---- orch site init ------------------------------------------------------------------
    def probe(self, runner: Runner | None = None) -> Cluster:
        """The cluster's queues and nodes, from the scheduler's read-only query commands
        (`runner` runs each argument list; tests pass captured output). SchedulerError
        (exit 1) when the commands are missing or fail."""
        from orchestrator.schedulers.probe import SchedulerError

        raise SchedulerError(
            f"scheduler {self.name!r} has nothing to probe: `orch site init` reads a batch "
            f"system (--scheduler {'|'.join(_batch_names())}); for this machine start from "
            "site-configs/local.yaml (`orch devices` lists its devices)")

    def draft_hints(self, cluster: Cluster, oversubscribed: bool = False) -> DraftHints:
        """How the probed cluster's site config is written; `oversubscribed`: a pool
        shares cores between jobs."""
        raise NotImplementedError(f"{self.name} has no probe")


def _batch_names() -> list[str]:
    from orchestrator import schedulers

    return [s.name for s in schedulers.batch()]


def _directive_problems(name: str, pool: Pool, prefixes: tuple[str, ...]) -> list[Problem]:
    """Each `scheduler_options` entry must be exactly one directive line."""
    if not prefixes:
        return []
    wanted = " or ".join(f"'{p} ...'" for p in prefixes)
    return [(("pools", name, "scheduler_options", i), f"{line!r} must be one {wanted} line")
            for i, line in enumerate(pool.scheduler_options)
            if "\n" in line or not line.startswith(tuple(f"{p} " for p in prefixes))]
