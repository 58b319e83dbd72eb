"""No orphans: every process a run starts is tagged, and tagged processes are killed
when the run ends, however it ends.

The driver puts `ORCH_RUN_TAG` in its environment before Parsl starts, so the
interchange, worker pools and task processes inherit it. A small watchdog in
its own session polls the driver; when the driver is gone (even by kill -9) it
kills every process still carrying the tag. `--resume` also reaps leftovers of
earlier attempts before it starts, so no old worker races a re-submitted task.
Linux only (/proc); elsewhere these are no-ops.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.state.liveness import pid_alive

TAG_VAR = "ORCH_RUN_TAG"


def tagged_pids(prefix: str) -> list[int]:
    """PIDs (other than ours) whose environment has ORCH_RUN_TAG starting with `prefix`."""
    needle = f"{TAG_VAR}={prefix}".encode()
    me = os.getpid()
    out = []
    proc = Path("/proc")
    if not proc.is_dir():
        return out
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(item.startswith(needle) for item in env.split(b"\0")):
            out.append(int(entry.name))
    return out


def reap(prefix: str, grace: float = 3.0) -> int:
    """SIGTERM, then SIGKILL after `grace` seconds, every tagged process. Returns how many."""
    pids = tagged_pids(prefix)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid):
            _signal(pid, signal.SIGKILL)
    return len(pids)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def start_watchdog(tag: str) -> subprocess.Popen | None:
    """Tag this process's future children and start the watchdog that reaps them."""
    if not Path("/proc").is_dir():
        return None
    os.environ[TAG_VAR] = tag
    env = {k: v for k, v in os.environ.items() if k != TAG_VAR}
    pid = os.getpid()
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.backends.reaper", str(pid),
         _start_time(pid) or "", tag],
        env=env, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live descendant of `root`."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            with open(entry / "stat") as f:
                fields = f.read().split(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        starts[pid] = fields[19]
    out: set[tuple[int, str]] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.add((child, starts[child]))
            stack.append(child)
    return out


JOBS_FILE = "slurm-jobs.json"  # Slurm's; each batch scheduler names its own (jobs_file)


def _scheduler(name: str):
    from orchestrator import schedulers

    return schedulers.get(name)


def record_jobs(run_dir: Path, job_ids: list[str], scheduler: str = "slurm") -> None:
    """Remember the scheduler jobs of a run, so they can be cancelled whatever happens."""
    import json

    from orchestrator.state.atomic import atomic_write_text

    path = Path(run_dir) / _scheduler(scheduler).capabilities.jobs_file
    known = set(recorded_jobs(run_dir, scheduler))
    if set(job_ids) <= known:
        return
    atomic_write_text(path, json.dumps(sorted(known | set(job_ids))) + "\n")


def recorded_jobs(run_dir: Path, scheduler: str = "slurm") -> list[str]:
    """The job ids a run recorded for `scheduler` (those that look like its ids)."""
    import json

    sched = _scheduler(scheduler)
    try:
        data = json.loads((Path(run_dir) / sched.capabilities.jobs_file).read_text())
    except (OSError, ValueError):
        return []
    return [str(j) for j in data if sched.valid_job_id(str(j))] if isinstance(data, list) \
        else []


def cancel_jobs(run_dir: Path, wait: float = 0.0) -> int:
    """Cancel the run's recorded jobs that are still queued, of every batch scheduler that
    recorded some (the watchdog knows only the run directory); with `wait`, give them up to
    that many seconds to leave the queue (a cancelled job lingers while completing)."""
    from orchestrator import schedulers

    cancelled = 0
    for sched in schedulers.batch():
        if (Path(run_dir) / sched.capabilities.jobs_file).is_file():
            cancelled += _cancel(run_dir, sched.name, wait)
    return cancelled


def _cancel(run_dir: Path, scheduler: str, wait: float) -> int:
    import shutil

    sched = _scheduler(scheduler)
    recorded = recorded_jobs(run_dir, scheduler)
    jobs = queued(recorded, scheduler)
    jobs = recorded if jobs is None else jobs
    command = sched.cancel_command(jobs) if jobs else None
    if not command or not shutil.which(command[0]):
        return 0
    try:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    deadline = time.time() + wait
    while time.time() < deadline and queued(jobs, scheduler):  # None (broken) ends the wait
        time.sleep(0.5)
    return len(jobs)


def queued(jobs: list[str], scheduler: str = "slurm") -> list[str] | None:
    """The jobs of `jobs` that the scheduler still lists (squeue, qstat), or None when it
    cannot tell."""
    if not jobs:
        return []
    sched = _scheduler(scheduler)
    command = sched.status_command(jobs)
    if command is None:
        return []
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return sched.still_queued(jobs, out.returncode, out.stdout, out.stderr)


def stop_tree(known: set[tuple[int, str]], grace: float = 1.0) -> None:
    """SIGTERM every process of `known` (pid, start time) still alive, then SIGKILL what is
    left after `grace` seconds. The SIGTERM first lets a worker finish writing the record
    of a task whose function has returned (record_guard.py), so a resume does not run that
    task again; nothing waits longer than `grace`."""
    alive = lambda: [p for p, s in known if _start_time(p) == s]  # noqa: E731
    for p in alive():
        _signal(p, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and alive():
        time.sleep(0.05)
    for p in alive():
        _signal(p, signal.SIGKILL)


def _watch(pid: int, start: str, tag: str) -> None:
    """Remember the driver's process tree; when the driver dies, kill what is left of it.

    Forked children (Parsl's interchange) do not show a tag in /proc/PID/environ,
    so the tree snapshot is what catches them; exec'd ones carry the tag as well.
    """
    known: set[tuple[int, str]] = set()
    me = os.getpid()
    while pid_alive(pid) and (_start_time(pid) == start or not start):
        known |= {(p, s) for p, s in descendants(pid) if p != me}
        known = {(p, s) for p, s in known if _start_time(p) == s}
        time.sleep(0.5)
    stop_tree(known)
    reap(tag, grace=1.0)
    cancel_jobs(Path(tag.rsplit("#", 1)[0]))


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2], sys.argv[3])
