"""`orch submit --chain`: the driver's job ends before the workflow does, and the next link
resumes the same run directory and finishes it (local Slurm cluster). Each run ends with
every task done exactly once, the run lock free, and no job of the chain left queued.

- the scheduler's warning (`--signal=B:USR1@T`), sent by hand with `scancel --signal=USR1
  --batch` (the driver's handler, without waiting for a time limit);
- a real time limit: the running job's limit cut to one minute with `scontrol update`
  (Slurm's own USR1 warning, or SIGTERM at the limit then SIGKILL after KillWait).
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from .conftest import WF, journal, ledger_counts, orch_argv, wait_for


def _submit(tmp_path: Path, n: int, seconds: float, chain: int = 3) -> tuple[Path, Path, list]:
    run_dir, ledger = tmp_path / "run", tmp_path / "ledger"
    ledger.mkdir()
    out = subprocess.run(orch_argv("submit", WF / "chaos.yaml", "--site", "local-slurm",
                                   "--set", f"n={n}", "--set", f"seconds={seconds}",
                                   "--set", f"ledger={ledger}", "--run-dir", run_dir,
                                   "--chain", str(chain), "--time", "00:10:00",
                                   "--format", "json"),
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    jobs = [j["job"] for j in json.loads(out.stdout)["jobs"]]
    assert len(jobs) == chain
    return run_dir, ledger, jobs


def _squeue(jobs: list[str]) -> dict[str, str]:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(jobs), "-o", "%i|%T"],
                         capture_output=True, text=True, timeout=30)
    return dict(line.split("|", 1) for line in out.stdout.split())


def _done(run_dir: Path) -> int:
    if not (run_dir / "journal.jsonl").exists():
        return 0
    return sum(1 for e in journal(run_dir) if e["ev"] == "task_done")


def _running(job: str) -> bool:
    return _squeue([job]).get(job) == "RUNNING"


def _finish(run_dir: Path, jobs: list[str], n: int, ledger: Path) -> list[dict]:
    """Wait for the chain to end; check what every chain must leave behind."""
    live = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
    try:
        wait_for(lambda: not any(s in live for s in _squeue(jobs).values()), 420,
                 "the chain to end", period=1.0)
    finally:
        subprocess.run(["scancel", *jobs], timeout=30)
    events = journal(run_dir)
    logs = "\n".join(p.read_text() for p in (run_dir / "submit").glob("driver-*.out"))
    finished = [e for e in events if e["ev"] == "run_finished"]
    assert finished and finished[-1]["state"] == "succeeded", logs
    # a resume journals what an earlier link finished as task_cached: it is not run again
    done = Counter(e["task"] for e in events if e["ev"] == "task_done")
    cached = {e["task"] for e in events if e["ev"] == "task_cached"}
    assert set(done) | cached == {"prep", "total", *(f"work[{i}]" for i in range(n))}, done
    assert max(done.values()) == 1, done  # every task done exactly once
    assert cached <= set(done), cached  # only what a link finished counts as cached
    assert min(ledger_counts(ledger, "end").get(i, 0) for i in range(n)) >= 1
    from orchestrator.state.lock import holder

    assert holder(run_dir) is None  # the lock is free
    return events


@pytest.mark.slurm
@pytest.mark.slow_reliability
@pytest.mark.timeout(900)
def test_usr1_warning_stops_the_driver_and_the_next_link_resumes(tmp_path, figure):
    n = 12
    run_dir, ledger, jobs = _submit(tmp_path, n, 3.0)
    wait_for(lambda: _done(run_dir) >= 3, 240, "three tasks done in link 1", period=0.5)
    subprocess.run(["scancel", "--signal=USR1", "--batch", jobs[0]], check=True, timeout=30)
    events = _finish(run_dir, jobs, n, ledger)
    starts = [(e.get("link"), e.get("job")) for e in events if e["ev"] == "run_started"]
    assert starts == [(1, jobs[0]), (2, jobs[1])], starts
    first = next(e for e in events if e["ev"] == "run_finished")
    assert (first["state"], first["signal"]) == ("interrupted", "SIGUSR1")
    # the run ended in link 2: link 3 was cancelled, never started
    assert _squeue([jobs[2]]).get(jobs[2], "CANCELLED") == "CANCELLED"
    res = subprocess.run(orch_argv("status", run_dir), capture_output=True, text=True,
                         timeout=60)
    assert f"driver job {jobs[1]} (link 2 of 3):" in res.stdout, res.stdout
    figure(f"submit chain, SIGUSR1: link 1 stopped, link 2 finished {n + 2} tasks, each done "
           "once; link 3 cancelled")


@pytest.mark.slurm
@pytest.mark.slow_reliability
@pytest.mark.timeout(900)
def test_time_limit_ends_the_job_and_the_next_link_finishes_the_run(tmp_path, figure):
    n = 16
    run_dir, ledger, jobs = _submit(tmp_path, n, 8.0)
    wait_for(lambda: _running(jobs[0]) and _done(run_dir) >= 2, 240,
             "link 1 running with two tasks done", period=0.5)
    # one minute from the job's start: Slurm warns (USR1) or ends it (SIGTERM, KillWait)
    subprocess.run(["scontrol", "update", f"JobId={jobs[0]}", "TimeLimit=1"], check=True,
                   timeout=30)
    events = _finish(run_dir, jobs, n, ledger)
    first = next(e for e in events if e["ev"] == "run_finished")
    assert first["state"] == "interrupted" and first["signal"] in ("SIGUSR1", "SIGTERM"), first
    starts = [(e.get("link"), e.get("job")) for e in events if e["ev"] == "run_started"]
    assert starts[0] == (1, jobs[0]) and starts[-1][0] in (2, 3), starts
    # link 1 ended: at its limit (TIMEOUT), or on the warning, the driver's 130 (FAILED)
    assert _squeue([jobs[0]]).get(jobs[0], "TIMEOUT") in ("TIMEOUT", "FAILED"), jobs
    figure(f"submit chain, time limit: link 1 ended by {first['signal']}, link "
           f"{starts[-1][0]} finished {n + 2} tasks, each done once")


# ---- the small version: the link protocol, without a Slurm cluster -------------------------
STAND_IN_SRUN = """\
#!/bin/bash
# stand-in for srun inside the driver's job: drop srun's options, run the command (step 0)
echo "srun $*" >> {log}
while [ $# -gt 0 ] && [ "$1" != "bash" ]; do shift; done
export SLURM_STEP_ID=0
exec "$@"
"""


@pytest.mark.timeout(600)
def test_link_protocol_with_a_stand_in_srun(tmp_path, figure):
    """What each link does, run here with `srun` and `scancel` stand-ins (the real cluster:
    the tests above): link 1 starts the run in its allocation (the pool's block is an srun
    step, never an sbatch job) and stops on SIGUSR1; link 2 resumes and finishes it and
    cancels link 3; link 3, started anyway, finds the run ended and does nothing."""
    import os
    import signal

    bin_dir, log = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(STAND_IN_SRUN.format(log=log))
    (bin_dir / "scancel").write_text(f'#!/bin/sh\necho "scancel $*" >> {log}\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    run_dir, ledger = tmp_path / "run", tmp_path / "ledger"
    ledger.mkdir()
    run_dir.mkdir()
    (run_dir / "submit.json").write_text(json.dumps({"scheduler": "slurm", "script": "x", "links": [
        {"link": k, "job": str(900 + k)} for k in (1, 2, 3)]}))
    n = 4

    def link(k: int) -> subprocess.Popen:
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "SLURM_JOB_ID": str(900 + k), "SLURM_CPUS_ON_NODE": "2",
               "SLURM_JOB_NAME": "orch.chaos.driver", "SLURM_JOB_NUM_NODES": "1"}
        return subprocess.Popen(orch_argv(
            "run", WF / "chaos.yaml", "--site", "local-slurm", "--run-dir", run_dir, "-q",
            "--set", f"n={n}", "--set", "seconds=1.5", "--set", f"ledger={ledger}",
            "--chain-link", str(k)), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    first = link(1)
    try:
        wait_for(lambda: _done(run_dir) >= 2, 120, "two tasks done in link 1", period=0.2)
        first.send_signal(signal.SIGUSR1)
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130, err
    second = link(2)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "cancelled the later link(s) 903" in err
    third = link(3)
    _, err = third.communicate(timeout=120)
    assert third.returncode == 0 and "already ended (succeeded)" in err, err

    events = journal(run_dir)
    starts = [(e["link"], e["job"], e["resume"]) for e in events if e["ev"] == "run_started"]
    assert starts == [(1, "901", False), (2, "902", True)]
    ends = [(e["state"], e.get("signal")) for e in events if e["ev"] == "run_finished"]
    assert ends == [("interrupted", "SIGUSR1"), ("succeeded", None)]
    done = Counter(e["task"] for e in events if e["ev"] == "task_done")
    assert set(done) == {"prep", "total", *(f"work[{i}]" for i in range(n))}
    assert max(done.values()) == 1
    calls = log.read_text().splitlines()
    steps = [c for c in calls if c.startswith("srun ")]
    assert len(steps) == 2 and all("--overlap" in c and "--nodes=1" in c for c in steps)
    assert calls[-1] == "scancel 903"
    assert not (run_dir / "slurm-jobs.json").exists()  # no batch job of its own
    figure(f"submit link protocol (stand-in srun): {n + 2} tasks each done once over 2 links")
