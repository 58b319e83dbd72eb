"""Is the process that wrote a journal still running? (pid plus start time, so a reused
pid is not mistaken for the run)."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int, since: float | None = None) -> bool:
    """Whether process `pid` runs (on this host) and, where /proc tells, started by `since`.

    A zombie is dead: a worker killed after its parent died is reparented to pid 1, which
    in a container often never reaps it, and `kill(pid, 0)` succeeds on it forever."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if _zombie(pid):
        return False
    started = _process_start(pid)
    return started is None or since is None or started <= since + 1.0


def _zombie(pid: int) -> bool:
    """Whether `pid` has exited and waits to be reaped (state Z or X in /proc)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def _process_start(pid: int) -> float | None:
    """Start time of a process from /proc (Linux), to see through pid reuse; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rpartition(")")[2].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
