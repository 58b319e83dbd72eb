"""Tasks of an `executor: threads` pool, run by threads of the driver process itself:
each thread gets its own working directory where Linux allows, and its Python-level
output is captured per thread (docs/site.md#thread-pools). No Parsl here."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from typing import Any

from orchestrator.backends.task_io import attempt_line, in_dir, scratch_fd, spill, task_env

_ONE_AT_A_TIME = threading.Lock()  # installs the stream proxies once


class _Shared:
    """Readers-writer lock: tasks that only need their own cwd share it; a task that sets
    environment variables (process-wide) or cannot have its own cwd runs alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    @contextlib.contextmanager
    def shared(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def alone(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._writer and not self._readers)
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


_PROCESS = _Shared()
_fs = threading.local()
_CLONE_FS = 0x200


def _own_cwd() -> bool:
    """Give the calling thread its own working directory (Linux `unshare(CLONE_FS)`), once
    per thread: its chdir then moves neither the driver nor the other task threads."""
    own = getattr(_fs, "own", None)
    if own is None:
        own = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                own = ctypes.CDLL(None, use_errno=True).unshare(_CLONE_FS) == 0
            except (OSError, AttributeError):
                own = False
        _fs.own = own
    return own


def run_in_process(payload: dict[str, Any], upstream: dict, feedback: dict,
                    task_dir: str) -> Any:
    """A task of a `threads` pool, run by a thread of the driver. Each task thread gets its
    own working directory where Linux allows (`_own_cwd`), so python stages run
    concurrently, each in its task directory; a stage with `env` (the environment belongs to
    the whole process) runs alone, and so does every python stage where a thread cannot
    have its own cwd. Python-level output (sys.stdout/sys.stderr) is captured per thread;
    what C code writes to fds 1/2 is not. Shell stages get their cwd, environment and output
    files through the subprocess."""
    from orchestrator.backends.worker import call_target  # (worker imports this module)

    if payload["kind"] == "shell":
        return _shell(payload, task_dir)
    _ThreadStreams.install()
    if _own_cwd() and not payload.get("env"):
        with _PROCESS.shared(), _ThreadStreams.capture(task_dir, payload):
            os.chdir(task_dir)  # this thread's own cwd: nothing to restore
            return call_target(payload, upstream, feedback, task_dir)
    with _PROCESS.alone(), task_env(payload.get("env")), in_dir(task_dir), \
            _ThreadStreams.capture(task_dir, payload):
        return call_target(payload, upstream, feedback, task_dir)


def _shell(payload: dict[str, Any], task_dir: str) -> dict[str, int]:
    """A shell stage in a subprocess whose output goes to buffers spilled to the task's log
    files; a non-zero exit raises CommandFailed with its stderr's tail."""
    from orchestrator.backends.worker import CommandFailed

    env = {**os.environ, **payload["env"]} if payload.get("env") else None
    buffers = [scratch_fd("stdout"), scratch_fd("stderr")]
    failure = None
    try:
        proc = subprocess.run(["/bin/bash", "-c", payload["target"]], cwd=task_dir,
                              stdin=subprocess.DEVNULL, stdout=buffers[0],
                              stderr=buffers[1], check=False, env=env)
        if proc.returncode != 0:  # the tail is read before the buffer is spilled and closed
            failure = CommandFailed.of(proc.returncode, buffers[1], 0,
                                       os.path.join(task_dir, "stderr"))
    finally:
        header = attempt_line(payload)
        for fd, name in zip(buffers, ("stdout", "stderr"), strict=True):
            spill(fd, os.path.join(task_dir, name), header)
    if failure is not None:
        raise failure
    return {"exit_code": 0}


class _ThreadStreams:
    """sys.stdout/sys.stderr replacements that send a task thread's writes to its buffer and
    every other thread's (the driver's progress display) to the real stream."""

    _local = threading.local()
    _installed = False

    def __init__(self, real: Any, index: int):
        self._real = real
        self._index = index

    def write(self, text: str) -> int:
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            return self._real.write(text)
        buffers[self._index].append(text)
        return len(text)

    def flush(self) -> None:
        if getattr(self._local, "buffers", None) is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @classmethod
    def install(cls) -> None:
        if cls._installed:
            return
        with _ONE_AT_A_TIME:
            if not cls._installed:
                sys.stdout = cls(sys.stdout, 0)
                sys.stderr = cls(sys.stderr, 1)
                cls._installed = True

    @classmethod
    @contextlib.contextmanager
    def capture(cls, task_dir: str, payload: dict[str, Any]):
        cls._local.buffers = ([], [])
        try:
            yield
        finally:
            buffers, cls._local.buffers = cls._local.buffers, None
            for parts, name in zip(buffers, ("stdout", "stderr"), strict=True):
                if parts:
                    with open(os.path.join(task_dir, name), "a") as out:
                        out.write(attempt_line(payload) + "".join(parts))
