"""The Parsl engine under the driver (`backends/driver.py`): site pools become executors,
tasks become apps, Parsl's retry handler spends each stage's retries, and the batch jobs
of its blocks (Slurm, PBS Pro) are recorded so they can be cancelled whatever happens."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import parsl
from parsl.app.app import python_app
from parsl.config import Config
from parsl.dataflow.errors import DependencyError
from parsl.dataflow.states import States

from orchestrator import schedulers
from orchestrator.backends import reaper
from orchestrator.backends.bundle_run import run_bundle
from orchestrator.backends.parsl import log_level
from orchestrator.backends.parsl.attempts import RETRY_BUDGET, retry_cost
from orchestrator.backends.parsl.executors import executor_label, make_executors
from orchestrator.backends.parsl.gated import SHAPE_KEY, Starter
from orchestrator.backends.worker import run_task
from orchestrator.plan.model import Plan, StagePlan
from orchestrator.site.models import Site
from orchestrator.state.rundir import RunDir


class ParslEngine:
    """Parsl for one execution of a plan (the driver's `Engine`)."""

    def __init__(self, plan: Plan, site: Site, rundir: RunDir, allocation: bool = False,
                 parsl_log: str = log_level.DEFAULT):
        self.plan = plan
        self.allocation = allocation  # inside the driver's own batch job (`orch submit`)
        self.parsl_log = parsl_log
        self.site = site
        self.scheduler = schedulers.get(site.scheduler)
        self.rundir = rundir
        self.retries: dict[str, int] = {}  # task id -> its stage's retries
        self.apps: dict[str, Any] = {}
        self.bundle_apps: dict[str, Any] = {}  # (bundle_run.py)
        self.dfk = None
        self.config: Config | None = None
        self.in_process = {name for name, pool in site.pools.items()
                           if pool.executor == "threads"}
        self.starter = Starter()  # starts tasks whose node share was busy (gated.py)
        self.pinned: dict[str, bool] = {}  # executors whose workers Parsl pinned
        self._jobs_checked = 0.0
        self._job_notes: tuple[float, list[str]] = (0.0, [])

    def start(self) -> None:
        """Prepare the engine; Parsl itself starts with the first task that must run, so a
        resume with nothing left to do starts no executors."""
        self.config = Config(
            executors=make_executors(self.plan, self.site, self.rundir.path, self.starter,
                                     self.allocation),
            run_dir=str(self.rundir.parsl_dir),
            retries=int(RETRY_BUDGET),
            retry_handler=self._retry_cost,
            # "simple" everywhere: a block that dies (scancel, walltime, a killed worker
            # pool on a laptop) is replaced while tasks are outstanding
            strategy="simple",
            strategy_period=self.scheduler.capabilities.strategy_period,
            usage_tracking=0,
            initialize_logging=True,
        )

    def load(self) -> None:
        if self.dfk is not None:
            return
        if self.config is None:
            self.start()
        self.pinned = {ex.label: getattr(ex, "mode", None) == "pinned"
                       for ex in self.config.executors}
        self.dfk = parsl.load(self.config)
        log_level.apply(self.parsl_log)  # after Parsl's start-up records (log_level.py)
        self.starter.lock = self.dfk.submitter_lock
        for s in self.plan.stages.values():
            label = executor_label(s.binding.pool, s.resources["ranks"])
            if label not in self.apps:
                self.apps[label] = python_app(run_task, executors=[label],
                                              data_flow_kernel=self.dfk)
            if s.bundle and label not in self.bundle_apps:
                self.bundle_apps[label] = python_app(run_bundle, executors=[label],
                                                     data_flow_kernel=self.dfk)

    def submit(self, stage: StagePlan, payload: dict[str, Any], handles: list[Any],
               retries: int | None = None):
        self.load()
        bundle = "points" in payload  # a bundle's points fail alone, the driver retries them
        self.retries[payload["task_id"]] = 0 if bundle else \
            stage.retries if retries is None else retries
        ranks = stage.resources["ranks"]
        label = executor_label(stage.binding.pool, ranks)
        app = self.bundle_apps[label] if bundle else self.apps[label]
        if ranks <= 1:
            place = payload["placement"]
            spec = {SHAPE_KEY: (place["cores"], place["units"], place["memory"])}
            if stage.binding.pool in self.in_process:
                if bundle:
                    payload = {**payload, "points": [{**p, "in_process": True}
                                                     for p in payload["points"]]}
                else:
                    payload = {**payload, "in_process": True}
                return app(payload, inputs=list(handles), parsl_resource_specification=spec)
            # JSON: Parsl pickles a str far faster than a dict (pure-Python dill)
            text = json.dumps(payload, separators=(",", ":"))
            if self.pinned.get(stage.binding.pool):  # (task_binding.parsl_pinned)
                return app(text, inputs=list(handles))
            return app(text, inputs=list(handles), parsl_resource_specification=spec)
        spec = {"num_nodes": stage.resources["nodes"], "num_ranks": ranks,
                "ranks_per_node": stage.binding.ranks_per_node}
        place = payload["placement"]
        if place is not None:  # one node: admitted with the rest of the node's tasks
            cores = place["cores"]
            node = stage.binding.node_cores
            spec[SHAPE_KEY] = (None if cores and node and cores > node else cores,
                               place["units"], place["memory"])
        if self.site.mpi.args:
            spec["launcher_options"] = " ".join(self.site.mpi.args)
        return app(payload, inputs=list(handles), parsl_resource_specification=spec)

    def _retry_cost(self, exc: Exception, task_record: Any) -> float:
        """Parsl's retry handler (attempts.retry_cost)."""
        return retry_cost(exc, task_record, self.retries)

    # ---- what the driver reads back -------------------------------------------------------
    def failed_tries(self, fut: Any) -> int:
        return int(getattr(fut, "task_record", {}).get("fail_count", 0) or 0)

    def upstream_failure(self, exc: BaseException) -> str | None:
        if not isinstance(exc, DependencyError):
            return None
        deps = getattr(exc, "dependent_exceptions_tids", None)
        return (f"a task it needs failed ({len(deps)} upstream)" if deps
                else "a task it needs failed")

    def waiting(self, handle: Any) -> bool:
        """Parsl's `pending`: the task waits for what it needs, not yet launched."""
        record = getattr(handle, "task_record", None) or {}
        return record.get("status", States.pending) is States.pending

    def tick(self) -> None:
        self.track_jobs()

    def notes(self, now: float) -> list[str]:
        """Batch blocks that are not running yet, with the scheduler's reason (every 5 s)."""
        if not self.scheduler.capabilities.batch or self.allocation:
            return []
        at, notes = self._job_notes
        if now - at >= 5.0:
            notes = self.scheduler.job_notes(
                reaper.recorded_jobs(self.rundir.path, self.scheduler.name))
            self._job_notes = (now, notes)
        return notes

    # ---- scheduler jobs and the end -------------------------------------------------------
    def track_jobs(self, force: bool = False) -> None:
        """Record the scheduler job ids of our blocks (for cancellation after a crash). Not
        inside the driver's allocation: its blocks are job steps, their "ids" process ids."""
        now = time.monotonic()
        if self.dfk is None or not self.scheduler.capabilities.batch or self.allocation:
            return
        if not force and now - self._jobs_checked < 2.0:
            return
        self._jobs_checked = now
        ids: list[str] = []
        for ex in self.dfk.executors.values():
            provider = getattr(ex, "provider", None)
            ids.extend(str(j) for j in getattr(provider, "resources", {}) or {})
        if ids:
            reaper.record_jobs(self.rundir.path, ids, self.scheduler.name)

    def shutdown(self, drain: Callable[[], None]) -> None:
        self.track_jobs(force=True)
        if self.dfk is not None:
            try:
                self.dfk.cleanup()
            finally:
                parsl.clear()
                self.dfk = None
                drain()  # what Parsl's cleanup completed too
                self.starter.stop()
                reaper.cancel_jobs(self.rundir.path, wait=15.0)
