"""The reliability suite (issue 8): hostile input, fuzzing, injection, chaos, crash-consistency,
Slurm faults and shutdown. Every test states its figure through the `figure` fixture: the
line is printed (visible with -s), repeated in the terminal summary and written to a JSON
file ($RELIABILITY_FIGURES, default $TMPDIR/reliability-figures.json).

The long versions of the scenarios are marked `slow_reliability`: they are deselected unless
RELIABILITY_SLOW=1 (`make test-reliability` sets it); a small version of each runs by default.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

WF = Path(__file__).parent / "wf"
REPO = Path(__file__).resolve().parents[2]
SLOW = os.environ.get("RELIABILITY_SLOW", "").strip() not in ("", "0")

_FIGURES: list[dict] = []


def figures_path() -> Path:
    return Path(os.environ.get("RELIABILITY_FIGURES")
                or Path(tempfile.gettempdir()) / "reliability-figures.json")


def pytest_collection_modifyitems(config, items):
    if SLOW:
        return
    slow = [i for i in items if i.get_closest_marker("slow_reliability") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if i.get_closest_marker("slow_reliability") is None]


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for f in _FIGURES:
        terminalreporter.write_line(f"{f['scenario']}: {f['figure']}")
    terminalreporter.write_line(f"(written to {figures_path()})")


def pytest_sessionfinish(session):
    if _FIGURES:
        path = figures_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_FIGURES, indent=2, default=str) + "\n")


@pytest.fixture
def figure(request):
    """figure(text, **data): record this test's figure (and print it)."""

    def record(text: str, **data) -> str:
        entry = {"scenario": request.node.nodeid.split("tests/reliability/")[-1],
                 "figure": text, **data}
        _FIGURES.append(entry)
        print(f"\nFIGURE {entry['scenario']}: {text}", flush=True)
        return text

    return record


# ---------------------------------------------------------------- child processes


@dataclass
class Child:
    rc: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    cpu_s: float = 0.0


def run_limited(argv: list[str], *, cwd: Path | None = None, timeout: float = 60,
                mem_limit: int = 2 << 30, env: dict[str, str] | None = None) -> Child:
    """Run a child under an address-space limit; return its exit code, output, wall time, CPU
    time and peak RSS (from wait4's rusage: this child only)."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))

    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, env=env,
                                stdin=subprocess.DEVNULL, preexec_fn=limit)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        seconds = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(proc.returncode, out.read().decode(errors="replace"),
                     err.read().decode(errors="replace"), seconds, usage.ru_maxrss / 1024,
                     usage.ru_utime + usage.ru_stime)


def orch_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "orchestrator", *map(str, args)]


def orch_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ORCH_TEMPLATE_PATH", "ORCH_DEBUG")}
    env.update(PYTHONDONTWRITEBYTECODE="1", COLUMNS="200", TMPDIR=str(tmp), **extra)
    return env


def start_run(*args: str | Path, cwd: Path | None = None) -> subprocess.Popen:
    """`orch run ARGS -q` in the background, in its own process group (so a test can signal
    exactly it)."""
    return subprocess.Popen(orch_argv("run", *args, "-q"), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """Ctrl-C as in a terminal, even when the test suite itself runs as a background job
    (`make test &`: the shell ignores SIGINT there, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ---------------------------------------------------------------- run directories


def journal(run_dir: Path) -> list[dict]:
    from orchestrator.state.journal import read_journal

    return list(read_journal(run_dir / "journal.jsonl"))


def count_events(run_dir: Path, ev: str) -> int:
    if not (run_dir / "journal.jsonl").exists():
        return 0
    return sum(1 for e in journal(run_dir) if e["ev"] == ev)


def wait_for(predicate, timeout: float, what: str, period: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def final_results(run_dir: Path) -> dict[str, object]:
    """task id -> result, from the journal (task_done and task_cached records, last wins)."""
    out = {}
    for e in journal(run_dir):
        if e["ev"] in ("task_done", "task_cached"):
            out[e["task"]] = e.get("result")
    return out


def ledger_counts(ledger: Path, what: str) -> dict[int, int]:
    """Per task index, how many times the stage function reached `what` (start or end)."""
    out = {}
    for f in ledger.glob(f"{what}-*"):
        out[int(f.name.split("-", 1)[1])] = len(f.read_text().splitlines())
    return out


# ---------------------------------------------------------------- processes


def _proc_info(pid: int) -> tuple[str, str, str] | None:
    base = Path("/proc") / str(pid)
    try:
        cmd = (base / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = (base / "stat").read_text().split(") ", 1)[1][0]
        env = (base / "environ").read_bytes().decode(errors="replace")
    except (OSError, IndexError):
        return None
    return cmd, state, env


def run_processes(marker: str) -> list[str]:
    """Live (non-zombie) processes whose command line or ORCH_RUN_TAG mention `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        info = _proc_info(int(entry.name))
        if info is None or info[1] == "Z":
            continue
        cmd, _, env = info
        if marker in cmd or f"ORCH_RUN_TAG={marker}" in env:
            found.append(f"{entry.name}: {cmd[:160]}")
    return found


def wait_no_processes(marker: str, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    left = run_processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = run_processes(marker)
    return left


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().split(") ", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


def managers(run_dir: Path) -> list[int]:
    """PIDs of the process_worker_pool managers of a run (their cmdline names the run dir)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        info = _proc_info(int(entry.name))
        if info and info[1] != "Z" and "process_worker_pool" in info[0] and str(run_dir) in info[0]:
            out.append(int(entry.name))
    return out


def _writes_worker_log(pid: int) -> bool:
    try:
        fds = list((Path("/proc") / str(pid) / "fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if Path(target).name.startswith("worker_") and target.endswith(".log"):
            return True
    return False


def workers(run_dir: Path) -> list[int]:
    """PIDs of the HTEX worker processes: spawn children of the managers that write a
    worker_N.log (the manager's other spawn child is its multiprocessing server)."""
    out = []
    for m in managers(run_dir):
        for c in children_of(m):
            info = _proc_info(c)
            if info and info[1] != "Z" and "spawn_main" in info[0] and _writes_worker_log(c):
                out.append(c)
    return out


def kill9(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture
def rng():
    return random.Random(int(os.environ.get("RELIABILITY_SEED", "8")))
