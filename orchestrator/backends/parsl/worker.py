"""What runs on a Parsl worker for every task (python and shell stages alike).

It runs in the task's own directory with its stdout/stderr captured to files
(at the file-descriptor level, so C libraries and subprocesses are captured
too), passes upstream results to the callable, checks declared outputs, and
writes `result.json` atomically before returning: a task whose result file
exists with the right key is never run twice, even if the driver died before
journaling it. This module must not import Parsl.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"
PINNING_VARS = ("CUDA_VISIBLE_DEVICES", "ZE_AFFINITY_MASK", "ONEAPI_DEVICE_SELECTOR",
                "ROCR_VISIBLE_DEVICES")


class TaskFailure(RuntimeError):
    """A task failed; the message says why and where its logs are."""


def run_task(payload: dict[str, Any], inputs: list[Any] = (),
             parsl_resource_specification: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one task described by `payload`; `inputs` are upstream records. Multi-rank tasks
    arrive with a resource specification and run under Parsl's MPI launcher prefix."""
    task_dir = Path(payload["task_dir"])
    task_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    upstream, feedback = _unpack(payload.get("layout", []), list(inputs))
    with _task_env(payload.get("env", {})), _in_dir(task_dir), _captured(task_dir, payload):
        if payload.get("ranks", 1) > 1:
            value = _mpi(payload, upstream, feedback, task_dir)
        elif payload["kind"] == "python":
            value = call_target(payload, upstream, feedback, task_dir)
        else:
            value = _shell(payload, task_dir)
    missing = [o for o in payload.get("outputs", []) if not (task_dir / o).exists()]
    if missing:
        raise TaskFailure(f"declared outputs missing: {', '.join(missing)} (in {task_dir})")
    record = {
        "task": payload["task_id"],
        "key": payload["key"],
        "result": value,
        "started": started,
        "ended": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "devices": {k: os.environ[k] for k in PINNING_VARS if k in os.environ},
    }
    _write_result(task_dir, record)
    return record


def _unpack(layout: list[list], inputs: list[Any]) -> tuple[dict, dict]:
    """Rebuild {stage: [results]} (needs, and loop feedback) from the flat inputs list."""
    needs: dict[str, list[Any]] = {}
    feedback: dict[str, list[Any]] = {}
    pos = 0
    for stage, count, role in layout:
        records = inputs[pos:pos + count]
        pos += count
        target = feedback if role == "feedback" else needs
        target.setdefault(stage, []).extend(r["result"] for r in records)
    return needs, feedback


def call_target(payload: dict[str, Any], upstream: dict[str, list[Any]],
                feedback: dict[str, list[Any]], task_dir: Path) -> Any:
    """Import and call a python stage's function with its args and what it asks for."""
    module_name, func_name = payload["target"].split(":", 1)
    base = payload.get("base_dir")
    if base and base not in sys.path:
        sys.path.insert(0, base)
    try:
        module = importlib.import_module(module_name)
        func = getattr(module, func_name)
    except (ImportError, AttributeError) as exc:
        raise TaskFailure(f"cannot load {payload['target']}: {exc}") from None
    kwargs = dict(payload.get("args", {}))
    accepts = _accepted(func)
    extras = {
        "results": upstream,
        "feedback": feedback if payload.get("iteration") else None,
        "context": {
            "task_id": payload["task_id"], "stage": payload["stage"],
            "index": payload.get("index"), "iteration": payload.get("iteration"),
            "task_dir": str(task_dir), "run_dir": payload.get("run_dir"),
            "devices": {k: os.environ[k] for k in PINNING_VARS if k in os.environ},
            **payload.get("context", {}),
        },
    }
    for name, value in extras.items():
        if name in accepts and name not in kwargs:
            kwargs[name] = value
    try:
        value = func(**kwargs)
    except Exception:
        traceback.print_exc()
        raise
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TaskFailure(f"{payload['target']} returned a value that is not JSON "
                          f"(dicts, lists, numbers, strings): {exc}") from None
    return value


def _accepted(func: Any) -> set[str]:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return {"results", "feedback", "context"}
    return {p.name for p in params}


def _mpi(payload: dict[str, Any], upstream: dict, feedback: dict, task_dir: Path) -> Any:
    """Run a multi-rank task under the launcher prefix Parsl's MPI mode composed for it."""
    prefix = os.environ.get("PARSL_MPI_PREFIX")
    if not prefix:
        raise TaskFailure("a multi-rank task needs an MPI-mode executor (no PARSL_MPI_PREFIX)")
    env = dict(os.environ)
    env.update(payload.get("rank_env", {}))
    if payload["kind"] == "shell":
        command = f"{prefix} {payload['target']}"
        return _run_bash(command, task_dir, env)
    spec = {**payload, "results": upstream, "feedback": feedback if payload.get("iteration")
            else None}
    path = task_dir / ".mpi-payload.json"
    path.write_text(json.dumps(spec))
    result_path = path.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    command = f"{prefix} {shlex.quote(sys.executable)} -m orchestrator.backends.mpi_entry {path.name}"
    _run_bash(command, task_dir, env)
    try:
        return json.loads(result_path.read_text())["result"]
    except (OSError, ValueError, KeyError):
        raise TaskFailure(f"rank 0 wrote no result ({result_path})") from None


def _run_bash(command: str, task_dir: Path, env: dict[str, str] | None = None) -> Any:
    proc = subprocess.run(["/bin/bash", "-c", command], cwd=task_dir, stdin=subprocess.DEVNULL,
                          check=False, env=env)
    if proc.returncode != 0:
        raise TaskFailure(f"command exited with {proc.returncode}; see {task_dir / 'stderr'}")
    return {"exit_code": 0}


def _shell(payload: dict[str, Any], task_dir: Path) -> Any:
    return _run_bash(payload["target"], task_dir)


@contextlib.contextmanager
def _task_env(env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _in_dir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def _captured(task_dir: Path, payload: dict[str, Any]):
    """Send fds 1 and 2 to memory while the task runs, then append what was written to the
    task's stdout/stderr files. Silent tasks create no files (file creation is the main
    per-task cost on shared filesystems); retries append with an attempt header."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    buffers = [_scratch_fd("stdout"), _scratch_fd("stderr")]
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
        header = f"--- {payload['task_id']} attempt at {time.strftime('%Y-%m-%dT%H:%M:%S')} ---\n"
        for fd, name in zip(buffers, ("stdout", "stderr"), strict=True):
            _spill(fd, task_dir / name, header)


def _scratch_fd(name: str) -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create(f"orch-{name}")
    import tempfile

    return os.dup(tempfile.TemporaryFile().fileno())


def _spill(fd: int, path: Path, header: str) -> None:
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


def _write_result(task_dir: Path, record: dict[str, Any]) -> None:
    """Atomic rename, deliberately without fsync: after a power loss the file may be
    missing or empty, which only means the task runs again (it is a recovery hint; the
    journal is the durable record)."""
    tmp = task_dir / f".{RESULT_FILE}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, task_dir / RESULT_FILE)


def read_result(task_dir: Path, key: str) -> dict[str, Any] | None:
    """A finished task's record if it exists and matches `key`."""
    try:
        record = json.loads((task_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("key") == key:
        return record
    return None
