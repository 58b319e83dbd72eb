"""A task's process-level surroundings on its worker: its environment variables, its
working directory, and its stdout/stderr captured per attempt. No Parsl."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any

from orchestrator.state.task_logs import attempt_header


@contextlib.contextmanager
def task_env(env: dict[str, str | None] | None):
    """The task's variables for the body (None: unset), then the worker's again; values the
    worker already has are left alone (each change is a putenv, per task)."""
    if env:
        env = {k: v for k, v in env.items() if os.environ.get(k) != v}
    if not env:
        yield
        return
    saved = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def in_dir(path: str):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def attempt_line(payload: dict[str, Any]) -> str:
    """The line before each attempt's output in the task's stdout/stderr (state/task_logs.py
    parses it; the driver numbers retries in the payload, parsl/attempts.retry_cost)."""
    return attempt_header(payload["task_id"], payload.get("attempt") or 1, time.time())


@contextlib.contextmanager
def captured(task_dir: str, payload: dict[str, Any]):
    """Send fds 1 and 2 to memory while the task runs, then append what was written to the
    task's stdout/stderr files. Silent tasks create no files (file creation is the main
    per-task cost on shared filesystems); retries append with an attempt header."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    buffers = [scratch_fd("stdout"), scratch_fd("stderr")]
    try:
        os.dup2(buffers[0], 1)
        os.dup2(buffers[1], 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        header = attempt_line(payload)
        for fd, name in zip(buffers, ("stdout", "stderr"), strict=True):
            spill(fd, os.path.join(task_dir, name), header)


def scratch_fd(name: str) -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create(f"orch-{name}")
    import tempfile

    return os.dup(tempfile.TemporaryFile().fileno())


def spill(fd: int, path: str, header: str) -> None:
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size:
            os.lseek(fd, 0, os.SEEK_SET)
            with open(path, "ab") as out:
                out.write(header.encode())
                while chunk := os.read(fd, 1 << 20):
                    out.write(chunk)
    finally:
        os.close(fd)
