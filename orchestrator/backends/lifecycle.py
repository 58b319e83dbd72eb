"""One attempt of a run, from lock to exit, durably (docs/run.md): one driver per run
directory (its lock), leftovers of earlier attempts stopped, the run's processes tagged and
watched, SIGTERM taken like Ctrl-C, `run_started` and `run_finished` journaled, and the
engine shut down however the attempt ends. The CLI only asks and prints."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.backends.attempt import Attempt, RunRequest, prepare, previous_run

if TYPE_CHECKING:
    from orchestrator.backends.engine import Outcome
    from orchestrator.state.rundir import RunDir


@dataclass
class Reporter:
    """How an attempt talks to whoever started it, while it runs."""

    notice: Callable[[str], None]  # what a resume changes, leftovers stopped (stderr)
    started: Callable[[Path], None]  # the run directory, before the first task


@dataclass
class Ended:
    """How an attempt ended; `outcome` is None when it was interrupted (resumable)."""

    rundir: RunDir
    outcome: Outcome | None
    seconds: float


class _Terminated(KeyboardInterrupt):
    """SIGTERM (or, inside `orch submit`'s job, the scheduler's warning before the time
    limit, SIGUSR1), handled like Ctrl-C: shut down cleanly, leave a resumable run."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__()
        self.name = signal.Signals(signum).name


def _on_sigterm(signum, frame):
    raise _Terminated(signum)


def run_attempt(request: RunRequest, reporter: Reporter) -> Ended:
    """One driver per run directory: the lock is taken before anything in the run
    directory is read for resuming, written or reaped, and held until the run's own
    processes are gone (the kernel drops it if this process dies)."""
    from orchestrator.state.lock import acquire

    with contextlib.ExitStack() as held:
        if request.resume:
            previous_run(request.resume)  # a run directory, before a lock file appears in it
            held.callback(acquire(request.resume.resolve(), request.argv).release)
        attempt = prepare(request, held, reporter.notice)
        return _execute(request, attempt, reporter)


def _execute(request: RunRequest, run: Attempt, reporter: Reporter) -> Ended:
    from orchestrator.backends import reaper
    from orchestrator.backends.driver import Driver
    from orchestrator.backends.failures import tries_before
    from orchestrator.backends.parsl.engine import ParslEngine
    from orchestrator.backends.resume import done_records
    from orchestrator.report.progress import Progress
    from orchestrator.state.journal import Journal

    plan, rundir = run.plan, run.rundir
    resuming = bool(request.resume)
    if resuming:  # safe: we hold the run directory's lock, no live driver owns these
        reaped = reaper.reap(f"{rundir.path}#") + reaper.cancel_jobs(rundir.path)
        if reaped:
            reporter.notice(f"stopped {reaped} leftover process(es) of an earlier attempt")
    tag = f"{rundir.path}#{run.number}"
    reaper.start_watchdog(tag)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_usr1 = signal.signal(signal.SIGUSR1, _on_sigterm) if request.link else None
    journal = Journal(rundir.journal)
    driver = None
    started = time.time()
    try:  # from the journal's creation on: a SIGTERM during start-up is journaled too
        _journal_start(journal, run, resuming, request.link)
        progress = Progress(list(plan.stages), quiet=request.quiet)
        driver = Driver(plan, run.spec, rundir, journal, done_records(run.records), progress,
                        ParslEngine(plan, run.site.site, rundir, allocation=bool(request.link),
                                    parsl_log=request.parsl_log),
                        resuming=resuming,
                        payloads=run.payloads, tries_before=tries_before(run.records))
        progress.configure(_shape(run, request.quiet), driver.live)
        started = time.time()
        reporter.started(rundir.path)
        driver.start()
        with progress:
            outcome = driver.execute()
    except KeyboardInterrupt as exc:
        journal.append("run_finished", state="interrupted",
                       signal=exc.name if isinstance(exc, _Terminated) else "SIGINT",
                       seconds=round(time.time() - started, 3))
        _close(driver, journal, tag)
        return Ended(rundir, None, time.time() - started)
    except BaseException:
        journal.append("run_finished", state="crashed", seconds=round(time.time() - started, 3))
        _close(driver, journal, tag)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if previous_usr1 is not None:
            signal.signal(signal.SIGUSR1, previous_usr1)
    journal.append("run_finished", state=outcome.state, counts=outcome.counts,
                   failed=[f["task"] for f in outcome.failed],
                   seconds=round(time.time() - started, 3))
    _close(driver, journal, tag)
    return Ended(rundir, outcome, time.time() - started)


def _shape(run: Attempt, quiet: bool = False):
    """What the progress display's ETA needs: the plan's stages, each pool's nodes, and the
    task durations of earlier runs of this workflow in the same run root (not read for a
    quiet run, which shows no ETA: reading earlier journals took 1.3 s per 10,000 tasks)."""
    from orchestrator.plan.export import stage_json
    from orchestrator.report.progress import Shape
    from orchestrator.state.history import earlier_runs, stage_history

    capacity = {s.binding.pool: float(s.binding.pool_nodes) for s in run.plan.stages.values()}
    runs = [] if quiet else earlier_runs(run.rundir.path.parent, run.plan.workflow,
                                         exclude=run.rundir.path)
    return Shape([stage_json(s) for s in run.plan.stages.values()], capacity,
                 stage_history(runs))


def _journal_start(journal, run: Attempt, resume: bool, link: int | None = None) -> None:
    """`run_started` (inside `orch submit`'s job: its chain link and job id too), and on a
    resume what changed since the last attempt."""
    from orchestrator import schedulers

    where = {}
    if link is not None:
        var = schedulers.get(run.site.site.scheduler).capabilities.job_id_var
        where = {"link": link, "job": os.environ.get(var) if var else None}
    journal.append("run_started", workflow=run.plan.workflow, site=run.plan.site,
                   attempt=run.number, pid=os.getpid(), host=socket.gethostname(),
                   resume=resume, tasks=run.plan.task_count, **where)
    if run.changes and run.changes.sources:
        journal.append("sources_changed", sources=[
            {k: v for k, v in c.items() if k != "message"} for c in run.changes.sources])
    if run.changes and (run.changes.changes or run.changes.again):
        journal.append("resume_changes", **run.changes.record())


def _close(driver, journal, tag: str | None = None) -> None:
    from orchestrator.backends import reaper
    from orchestrator.backends.placement import remove_ledger

    try:
        if driver is not None:  # None: stopped before the driver existed
            driver.shutdown()
    finally:
        journal.close()
        if tag:
            reaper.reap(tag, grace=2.0)  # whatever the engine's shutdown left behind
            os.environ.pop(reaper.TAG_VAR, None)
            remove_ledger(tag.rsplit("#", 1)[0])
