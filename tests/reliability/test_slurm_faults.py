"""Scenario 7, Slurm faults on the local cluster (scripts/local-slurm.sh): a block cancelled
with scancel, a block killed by its walltime, slurmctld stopped for 60 s during a run, and the
driver killed with kill -9. Each run completes with every task done exactly once and no job of
the run left in squeue (the driver kill: no job and no process left)."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.backends.reaper import _start_time, descendants

from .conftest import (
    REPO,
    WF,
    count_events,
    final_results,
    journal,
    kill9,
    ledger_counts,
    run_processes,
    start_run,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(900)]

CTLD_PID = Path("/run/slurmctld.pid")


def _run_jobs(run_dir: Path) -> set[str]:
    """Jobs of this run still in squeue: recorded by the run, or running its block scripts."""
    recorded = set()
    if (run_dir / "slurm-jobs.json").exists():
        recorded = set(json.loads((run_dir / "slurm-jobs.json").read_text()))
    out = subprocess.run(["squeue", "-h", "-o", "%i|%o"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    left = set()
    for line in out.stdout.splitlines():
        job, _, command = line.partition("|")
        if job in recorded or str(run_dir) in command:
            left.add(job)
    return left


def _wait_no_jobs(run_dir: Path, timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    left = _run_jobs(run_dir)
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = _run_jobs(run_dir)
    return left


def _stop_ctld() -> float:
    """SIGTERM slurmctld and wait until it is gone; returns when (monotonic)."""
    import os
    import signal

    pid = _ctld_pid()
    assert pid, "slurmctld is not running"
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: _ctld_pid() is None, 60, "slurmctld to stop")
    return time.monotonic()


def _site(tmp_path: Path, **pool) -> Path:
    """local-slurm with the cpu pool changed (e.g. walltime)."""
    import yaml

    doc = yaml.safe_load((REPO / "site-configs" / "local-slurm.yaml").read_text())
    doc["pools"]["cpu"].update(pool)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _check_complete(run_dir: Path, ledger: Path, n: int) -> tuple[int, int]:
    """Every task done once in the journal, right results; (blocks used, re-run attempts)."""
    events = journal(run_dir)
    done = Counter(e["task"] for e in events if e["ev"] == "task_done")
    cached = {e["task"] for e in events if e["ev"] == "task_cached"}  # after a resume
    expected = {"prep", "total", *(f"work[{i}]" for i in range(n))}
    assert set(done) | cached == expected, sorted(expected ^ (set(done) | cached))[:10]
    assert all(c == 1 for c in done.values()), {t: c for t, c in done.items() if c > 1}
    res = final_results(run_dir)
    assert res["total"] == {"n": n, "sum": sum(i * i for i in range(n)),
                            "order": list(range(n))}
    blocks = len(json.loads((run_dir / "slurm-jobs.json").read_text()))
    starts = ledger_counts(ledger, "start")
    assert set(starts) == set(range(n))
    return blocks, sum(starts.values()) - n


def _start(tmp_path: Path, site: Path | str, n: int, seconds: float):
    run_dir = tmp_path / "run"
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    proc = start_run(WF / "chaos.yaml", "--site", site, "--set", f"n={n}", "--parsl-log", "info",
                     "--set", f"seconds={seconds}", "--set", f"ledger={ledger}",
                     "--run-dir", run_dir)
    return proc, run_dir, ledger


def _finish(proc, timeout: float = 600) -> str:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    return err


@pytest.mark.slow_reliability  # the default run has tests/integration's scancel test
def test_scancel_a_block(tmp_path, figure):
    n = 12
    t0 = time.monotonic()
    proc, run_dir, ledger = _start(tmp_path, "local-slurm", n, 0.5)
    wait_for(lambda: count_events(run_dir, "task_done") >= 3 or proc.poll() is not None, 240,
             "3 tasks done on Slurm")
    jobs = json.loads((run_dir / "slurm-jobs.json").read_text())
    subprocess.run(["scancel", *jobs], check=True, timeout=30)
    _finish(proc)
    blocks, reruns = _check_complete(run_dir, ledger, n)
    assert blocks >= 2, "no new block after the scancel"
    assert not _wait_no_jobs(run_dir), "jobs of the run left in squeue"
    figure(f"scancel of the running block after 3 tasks: {n + 2}/{n + 2} tasks done once, "
           f"{blocks} blocks used, {reruns} interrupted attempts re-run, 0 jobs left, "
           f"{time.monotonic() - t0:.0f}s", tasks=n + 2, blocks=blocks, reruns=reruns)


def test_driver_kill9_on_slurm_leaves_no_job(tmp_path, figure):
    n = 12
    proc, run_dir, ledger = _start(tmp_path, "local-slurm", n, 0.5)
    wait_for(lambda: count_events(run_dir, "task_done") >= 3 or proc.poll() is not None, 240,
             "3 tasks done on Slurm")
    assert proc.poll() is None
    wait_for(lambda: (run_dir / "slurm-jobs.json").exists(), 30, "the recorded block")
    snapshot = descendants(proc.pid)
    kill9(proc.pid)
    proc.wait()
    t0 = time.monotonic()
    left_jobs = _wait_no_jobs(run_dir, timeout=60)
    assert not left_jobs, f"jobs left after kill -9: {left_jobs}"
    gone_s = time.monotonic() - t0
    def left():
        return [f"{p}: {_cmdline(p)}" for p, s in snapshot if _start_time(p) == s] + \
            run_processes(str(run_dir))

    try:
        wait_for(lambda: not left(), 30, "the run's processes to go")
    except AssertionError:
        raise AssertionError(f"processes left after kill -9: {left()}") from None
    procs_s = time.monotonic() - t0
    p = start_run("--resume", run_dir)
    _finish(p)
    blocks, _ = _check_complete(run_dir, ledger, n)
    assert not _wait_no_jobs(run_dir), "jobs of the resumed run left in squeue"
    figure(f"kill -9 of `orch run` on Slurm: its block gone from squeue in {gone_s:.0f}s, "
           f"0 processes left after {procs_s:.0f}s; the resume finished {n + 2}/{n + 2} tasks done once, "
           f"0 jobs left", gone_s=round(gone_s, 1), blocks=blocks)


@pytest.mark.slow_reliability
def test_walltime_kills_the_block_mid_run(tmp_path, figure):
    """A pool whose blocks get 1 minute (Slurm's smallest walltime) and ~150 s of work: the
    block dies by TIMEOUT mid-run, a new one takes over.

    slurmctld enforces time limits on its 30 s background pass, then allows KillWait (5 s):
    a block can live up to ~95 s, so the work must outlast that by a margin on a fast
    machine (40 tasks, ~80 s of work, fitted in one block on a CI run)."""
    n = 100
    site = _site(tmp_path, walltime="00:01:00", task_walltime="00:00:30")
    t0 = time.monotonic()
    proc, run_dir, ledger = _start(tmp_path, site, n, 1.5)  # 1.5-4.5 s tasks, 2 workers: ~150 s
    _finish(proc, timeout=800)
    blocks, reruns = _check_complete(run_dir, ledger, n)
    log = "".join(f.read_text(errors="replace") for f in (run_dir / "parsl").glob("*/parsl.log"))
    assert blocks >= 2, "the run fitted in one block: the walltime never hit"
    assert not _wait_no_jobs(run_dir), "jobs of the run left in squeue"
    lost = log.count("failed with exception of type ManagerLost")
    figure(f"block walltime 1 min, run {time.monotonic() - t0:.0f}s: {n + 2}/{n + 2} tasks "
           f"done once, {blocks} blocks, {lost} task attempts lost with the timed-out block "
           f"and retried, {reruns} attempts re-run, 0 jobs left",
           blocks=blocks, manager_lost=lost, reruns=reruns)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "?"


def _ctld_pid() -> int | None:
    try:
        pid = int(CTLD_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) is not None else None


def _ctld_up() -> None:
    """Start slurmctld the way scripts/local-slurm.sh does (its `up` is idempotent)."""
    p = subprocess.run(["bash", str(REPO / "scripts" / "local-slurm.sh"), "up"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]


@pytest.mark.slow_reliability
def test_slurmctld_down_for_60s_mid_run(tmp_path, figure):
    import os

    if os.geteuid() != 0:
        pytest.skip("stopping slurmctld needs root")
    n = 60
    t0 = time.monotonic()
    proc, run_dir, ledger = _start(tmp_path, "local-slurm", n, 1.5)  # ~120 s of work
    try:
        wait_for(lambda: count_events(run_dir, "task_done") >= 4 or proc.poll() is not None,
                 240, "4 tasks done on Slurm")
        assert proc.poll() is None
        down_at = _stop_ctld()
        done_before = count_events(run_dir, "task_done")
        time.sleep(60)
        done_during = count_events(run_dir, "task_done") - done_before
    finally:
        if _ctld_pid() is None:
            _ctld_up()
    outage = time.monotonic() - down_at
    _finish(proc, timeout=800)
    blocks, reruns = _check_complete(run_dir, ledger, n)
    assert not _wait_no_jobs(run_dir), "jobs of the run left in squeue"
    figure(f"slurmctld stopped for {outage:.0f}s mid-run: {done_during} tasks finished during "
           f"the outage, {n + 2}/{n + 2} tasks done once, {blocks} block(s), {reruns} re-run "
           f"attempts, 0 jobs left, run {time.monotonic() - t0:.0f}s",
           outage_s=round(outage), done_during=done_during, blocks=blocks, reruns=reruns)


@pytest.mark.slow_reliability
def test_run_ends_while_slurmctld_is_down(tmp_path, figure):
    """The run finishes (and shuts down, cancelling its block) while slurmctld is down: it
    still exits promptly, and once slurmctld is back no job of the run is left."""
    import os

    if os.geteuid() != 0:
        pytest.skip("stopping slurmctld needs root")
    n = 10
    proc, run_dir, ledger = _start(tmp_path, "local-slurm", n, 0.5)
    try:
        wait_for(lambda: count_events(run_dir, "task_done") >= 3 or proc.poll() is not None,
                 240, "3 tasks done on Slurm")
        assert proc.poll() is None
        down_at = _stop_ctld()
        _finish(proc, timeout=300)
        exit_s = time.monotonic() - down_at
        assert _ctld_pid() is None, "slurmctld came back by itself?"
    finally:
        if _ctld_pid() is None:
            _ctld_up()
    up_at = time.monotonic()
    blocks, _ = _check_complete(run_dir, ledger, n)
    left = _wait_no_jobs(run_dir, timeout=120)
    assert not left, f"jobs of the run left in squeue after slurmctld came back: {left}"
    figure(f"run ended {exit_s:.0f}s into a slurmctld outage (exit 0), {n + 2}/{n + 2} tasks "
           f"done once; once slurmctld was back its block left squeue within "
           f"{time.monotonic() - up_at:.0f}s", exit_s=round(exit_s), blocks=blocks)
