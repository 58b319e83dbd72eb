"""One driver per run directory: an exclusive flock on RUN_DIR/.lock, held for the whole run.

The kernel drops the lock when the holding process dies (even by kill -9), so a
lock is never stale. The file also says who holds it (pid, host, start time,
argv), for the message a second driver prints. Engine-neutral.

Limits: flock is advisory and, on network file systems, only as good as the
server's lock manager (NFS emulates it with byte-range locks; a mount with
`local_lock=flock` or `nolock`, or Lustre without `-o flock`, keeps locks
local to one host). See docs/run.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.state.liveness import pid_alive

LOCK_NAME = ".lock"
SETTLE_S = 5.0  # how long a lock whose holder is gone may take to be let go (its children)


@dataclass
class RunLock:
    """A held lock; `release()` (or the process's death) lets the next driver in."""

    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)  # holder info is only true while the lock is held
        os.close(self.fd)  # closing the last descriptor releases the flock
        self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(run_dir: Path, argv: list[str] | None = None, settle: float = SETTLE_S) -> RunLock:
    """Take the run directory's lock or raise UserError naming its holder.

    A live holder means refusal at once. A holder that is gone (or has not written
    its details yet) gets `settle` seconds: processes it forked may still hold the
    descriptor until its watchdog has reaped them."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise UserError(f"{path}: cannot open the run directory's lock file "
                        f"({exc.strerror or exc})") from None
    deadline = time.monotonic() + settle
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            info = _read(fd)
            if _holder_alive(info) or time.monotonic() >= deadline:
                os.close(fd)
                raise UserError(_message(Path(run_dir), info)) from None
            time.sleep(0.05)
        except OSError as exc:  # e.g. ENOLCK: the file system has no locks
            os.close(fd)
            raise UserError(f"{path}: cannot lock the run directory ({exc.strerror}); "
                            "run it from a file system with working locks") from None
    _write(fd, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "argv": list(argv or [])})
    return RunLock(path, fd)


def holder(run_dir: Path) -> dict | None:
    """Who holds the lock now (pid, host, started, argv), or None when nobody does.

    Probes with a shared lock, released at once; a driver starting in that instant
    retries (see `acquire`)."""
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read(fd) or {}
    else:
        return None
    finally:
        os.close(fd)  # releases the probe's shared lock, if taken


def _read(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(fd: int, info: dict) -> None:
    data = (json.dumps(info) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _holder_alive(info: dict) -> bool:
    """A holder on another host cannot be checked from here: assume it lives."""
    pid = info.get("pid")
    if not isinstance(pid, int):
        return False
    if info.get("host") != socket.gethostname():
        return True
    started = info.get("started")
    return pid_alive(pid, since=started if isinstance(started, int | float) else None)


def describe(info: dict, now: float | None = None) -> str:
    """`pid 123 on host h, since 2026-11-24 23:15:00 (4 min ago): orch run ...`"""
    if not isinstance(info.get("pid"), int):
        return "a process that has not said who it is"
    text = f"pid {info['pid']} on host {info.get('host', '?')}"
    started = info.get("started")
    if isinstance(started, int | float):
        ago = _ago((now or time.time()) - started)
        text += f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))} ({ago})"
    argv = info.get("argv")
    if isinstance(argv, list) and argv:
        text += ": orch " + " ".join(str(a) for a in argv)
    return text


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def _message(run_dir: Path, info: dict) -> str:
    who = describe(info)
    if _holder_alive(info):
        pid, host = info["pid"], info.get("host", "?")
        where = "" if host == socket.gethostname() else f" (on {host})"
        return (f"{run_dir} is in use by another orch run: {who}. Only one driver may run a "
                f"run directory at a time: wait for it to finish, or stop it with "
                f"`kill {pid}`{where}, then `orch run --resume {run_dir}`")
    return (f"{run_dir} is locked by {who}, which has ended, but processes it started still "
            f"hold {run_dir / LOCK_NAME} (list them with `fuser -v {run_dir / LOCK_NAME}`); "
            f"stop them, then `orch run --resume {run_dir}`")
