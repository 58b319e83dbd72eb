"""Local: no batch system. Workers run on this machine (Parsl's LocalProvider, one block
per pool that lives as long as the run); nothing to submit, watch or cancel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.schedulers.base import Capabilities, ProviderSpec, Scheduler, SchedulerOptions

if TYPE_CHECKING:
    from orchestrator.site.models import Site


class LocalOptions(SchedulerOptions):
    """A local site has no scheduler settings (the section may be given, empty)."""


class Local(Scheduler):
    name = "local"
    options_model = LocalOptions
    capabilities = Capabilities(
        label="this machine", batch=False, directive=None, script_suffix=None,
        provider="LocalProvider", pool_fields=frozenset(),
        executors=("htex", "processes", "threads"), jobs_file=None, job_id_var=None,
        heartbeat=(2, 10), strategy_period=0.5)

    def directives(self, site: Site, pool_name: str) -> list[str]:
        return []

    def directive_prefixes(self) -> tuple[str, ...]:
        """A local site keeps any batch system's lines (unused), so that a cluster's site
        config can be tried here by changing only `scheduler:`."""
        from orchestrator import schedulers

        return tuple(s.capabilities.directive for s in schedulers.batch()
                     if s.capabilities.directive)

    def provider(self, site: Site, pool_name: str, worker_init: str, *, mpi: bool = False,
                 run_dir: Path | None = None) -> ProviderSpec:
        """One block on this machine, for the whole run. Parsl's MPI mode learns its nodes
        from the batch system (`$PBS_NODEFILE`); here a nodefile names this host."""
        blocks = {"init_blocks": 1, "min_blocks": 1, "max_blocks": 1}
        if not mpi:
            return ProviderSpec("LocalProvider", {**blocks, "worker_init": worker_init})
        assert run_dir is not None, "an MPI block on this machine needs the run directory"
        nodefile = run_dir / "parsl" / "local-nodefile"
        nodefile.parent.mkdir(parents=True, exist_ok=True)
        nodefile.write_text("localhost\n")
        worker_init += f'\nexport PBS_NODEFILE="{nodefile}"'
        return ProviderSpec("LocalProvider", {**blocks, "worker_init": worker_init},
                            ("SimpleLauncher", {}))


SCHEDULER = Local()
