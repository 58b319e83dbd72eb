"""What runs on a Parsl worker for every task (python and shell stages alike).

It runs in the task's own directory with its stdout/stderr captured (at the
file-descriptor level, so C libraries and subprocesses are captured too),
passes upstream results to the callable, checks declared outputs, and appends
the task's record to its worker's results file (`state/results.py`) before
returning it as one JSON string: a task whose record is there with the right
key is never run twice, even if the driver died before journaling it. Tasks
of an `executor: threads` pool run inside the driver process instead
(`in_process`): see `_run_in_process`. This module must not import Parsl.
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

from orchestrator.backends import record_guard
from orchestrator.backends.environments import (
    PACKAGE_DIR,
    EnvironmentProblem,
    ensure_lib,
    python_command,
    wrap,
)
from orchestrator.backends.exits import exit_status, fd_size, fd_tail
from orchestrator.backends.files import FileProblem, check_outputs, stage_in
from orchestrator.backends.in_process import run_in_process
from orchestrator.backends.placement import PlacementError
from orchestrator.backends.task_binding import (
    PINNING_VARS,
    THREAD_VARS,
    env_of,
    pinning,
    placed_task,
)
from orchestrator.backends.task_io import captured, in_dir, task_env
from orchestrator.state.results import append_result, append_start

LEGACY_RESULT_FILE = "result.json"  # written per task by earlier versions; still read on resume


class TaskFailure(RuntimeError):
    """A task failed; the message says why and where its logs are."""


class CommandFailed(TaskFailure):
    """A shell command (or an MPI launch) ended non-zero or by a signal. It carries the exit
    code, the signal's name and the last lines of the command's stderr to the driver, which
    journals them; all its state is in `__reduce__`, so it survives Parsl's pickling."""

    def __init__(self, exit_code: int, signal: str | None, stderr_tail: str, where: str):
        self.exit_code = exit_code
        self.signal = signal
        self.stderr_tail = stderr_tail
        self.where = where
        how = f"was killed by {signal} (exit {exit_code})" if signal else \
            f"exited with {exit_code}"
        super().__init__(f"command {how}; see {where}")

    def __reduce__(self):
        return (type(self), (self.exit_code, self.signal, self.stderr_tail, self.where))

    @classmethod
    def of(cls, returncode: int, stderr_fd: int, since: int | None, where: str) -> CommandFailed:
        """From a subprocess's return code (negative: killed by that signal; 128+N from a
        shell: its child was) and the stderr it wrote to `stderr_fd` after offset `since`."""
        return cls(*exit_status(returncode), fd_tail(stderr_fd, since), where)


class StageRaised(CommandFailed):
    """A python stage run by another interpreter (a site environment's) raised: the error
    is its exception's type and message, as for a stage run in the worker, not "command
    exited with 1"; the exit code and stderr tail are kept too."""

    def __init__(self, exit_code: int, signal: str | None, stderr_tail: str, where: str,
                 type_name: str = "Exception", message: str = ""):
        super().__init__(exit_code, signal, stderr_tail, where)
        self.type_name = type_name
        self.message = message
        self.args = (message,)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (type(self), (self.exit_code, self.signal, self.stderr_tail, self.where,
                             self.type_name, self.message))


def run_task(payload: dict[str, Any] | str, inputs: list[Any] = (),
             parsl_resource_specification: dict[str, Any] | None = None,
             held: Any = False) -> str:
    """Run one task described by `payload` (a dict, or its JSON: cheaper to ship than a
    dict through Parsl's pure-Python pickler); `inputs` are upstream records. Returns the
    task's record as JSON. Multi-rank tasks arrive with a resource specification and run
    under Parsl's MPI launcher prefix. `held`: the placement grant a bundle already holds
    for all its points (bundle_run.py)."""
    if isinstance(payload, str):
        payload = json.loads(payload)
    task_dir = payload["task_dir"]
    _make_dir(task_dir)
    started = time.time()
    upstream, feedback, producers = _unpack(payload.get("layout", ()), inputs)
    read = _stage_in(payload, task_dir, producers) if payload.get("stage_in") else None
    with contextlib.ExitStack() as recording:  # SIGTERM waits for the record: record_guard
        with _held(held) if held is not False else \
                _placed(payload, parsl_resource_specification or {}) as grant:
            append_start(payload["run_dir"], payload["task_id"])  # running, not queued
            if payload.get("in_process"):
                value = run_in_process(payload, upstream, feedback, task_dir)
            else:
                with task_env(env_of(payload, grant)), in_dir(task_dir), \
                        captured(task_dir, payload):
                    if payload.get("ranks", 1) > 1:
                        value = _mpi(payload, upstream, feedback, Path(task_dir))
                    elif payload["kind"] == "python" and payload.get("environment"):
                        value = _out_of_process(payload, upstream, feedback, Path(task_dir))
                    elif payload["kind"] == "python":
                        value = call_target(payload, upstream, feedback, task_dir)
                    else:
                        value = _shell(payload, Path(task_dir))
            recording.enter_context(record_guard.guarded())  # the function has returned
            held_until = time.time()
        files = None
        if payload.get("outputs"):
            try:
                files = check_outputs(payload["outputs"], task_dir)
            except FileProblem as exc:
                raise TaskFailure(str(exc)) from None
        record = {
            "task": payload["task_id"],
            "key": payload["key"],
            "result": value,
            "started": started,
            "ended": time.time(),
            "host": _HOST,
            "pid": os.getpid(),
            "devices": pinning(payload),
        }
        if files:
            record["files"] = files
        if read:
            record["inputs"] = read
        if grant is not None:
            record["placement"] = {"cpus": list(grant.cpus), "units": list(grant.units),
                                   "memory": grant.memory, "waited": grant.waited,
                                   "held": [grant.since, held_until]}
        try:
            line = json.dumps(record, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TaskFailure(f"{payload['target']} returned a value that is not JSON "
                              f"(dicts, lists, numbers, strings): {exc}") from None
        append_result(payload["run_dir"], line)
        return line


_HOST = socket.gethostname()


@contextlib.contextmanager
def _held(grant: Any):
    yield grant


@contextlib.contextmanager
def _placed(payload: dict[str, Any], spec: dict[str, Any]):
    """The task's share of its node while it runs (task_binding.placed_task)."""
    try:
        with placed_task(payload, spec) as grant:
            yield grant
    except PlacementError as exc:
        raise TaskFailure(str(exc)) from None


def record_of(value: dict[str, Any] | str) -> dict[str, Any]:
    """A task's record from what `run_task` returned (JSON) or a journaled record (dict)."""
    return json.loads(value) if isinstance(value, str) else value


def _make_dir(path: str) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)


def _unpack(layout: list[list], inputs: list[Any]) -> tuple[dict, dict, dict]:
    """Rebuild {stage: [results]} (needs, and loop feedback) from the flat inputs list, and
    {task id: record} of the upstream tasks that wrote files."""
    needs: dict[str, list[Any]] = {}
    feedback: dict[str, list[Any]] = {}
    producers: dict[str, dict[str, Any]] = {}
    pos = 0
    for stage, count, role in layout:
        records = [record_of(r) for r in inputs[pos:pos + count]]
        pos += count
        target = feedback if role == "feedback" else needs
        target.setdefault(stage, []).extend(r["result"] for r in records)
        producers.update((r["task"], r) for r in records if r.get("files"))
    return needs, feedback, producers


def _stage_in(payload: dict[str, Any], task_dir: str, producers: dict) -> dict[str, str]:
    try:
        return stage_in(payload["stage_in"], task_dir, payload.get("staging", "link"), producers)
    except FileProblem as exc:
        raise TaskFailure(str(exc)) from None
    except OSError as exc:
        raise TaskFailure(f"staging the task's input files failed: {exc}") from None


def call_target(payload: dict[str, Any], upstream: dict[str, list[Any]],
                feedback: dict[str, list[Any]], task_dir: Path) -> Any:
    """Import and call a python stage's function with its args and what it asks for."""
    func, accepts = _load(payload["target"], payload.get("base_dir"))
    kwargs = dict(payload.get("args", {}))
    if not accepts:
        return _call(func, kwargs)
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
    return _call(func, kwargs)


def _call(func: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return func(**kwargs)
    except Exception:
        traceback.print_exc()
        raise


_loaded: dict[tuple[str, str | None], tuple[Any, set[str]]] = {}


def _load(target: str, base: str | None) -> tuple[Any, set[str]]:
    """The stage's function and which of results/feedback/context it takes, looked up once
    per worker process (import and signature cost more than a no-op task)."""
    hit = _loaded.get((target, base))
    if hit is not None:
        return hit
    module_name, func_name = target.split(":", 1)
    if base:  # first on the path: a worker may have run stages of other code directories
        with contextlib.suppress(ValueError):
            sys.path.remove(base)
        sys.path.insert(0, base)
    try:
        module = importlib.import_module(module_name)
        func = getattr(module, func_name)
    except (ImportError, AttributeError) as exc:
        raise TaskFailure(f"cannot load {target}: {exc}") from None
    _check_origin(module, base)
    hit = _loaded[(target, base)] = (func, _accepted(func))
    return hit


def _check_origin(module: Any, base: str | None) -> None:
    """A module of the stage's code directory that this process already imported from
    another directory (two stages' code directories, say a template's and the workflow's,
    with a module of the same name) is an error naming both, not the wrong code run."""
    if not base:
        return
    rel = Path(*module.__name__.split("."))
    own = next((p for p in (Path(base) / f"{rel}.py", Path(base) / rel / "__init__.py")
                if p.is_file()), None)
    loaded = getattr(module, "__file__", None)
    if own is not None and loaded and Path(loaded).resolve() != own.resolve():
        raise TaskFailure(f"module {module.__name__!r} of {own} cannot be imported: this "
                          f"worker already imported {loaded} under that name (two stages' "
                          "code directories have a module of the same name; rename one)")


def _accepted(func: Any) -> set[str]:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return {"results", "feedback", "context"}
    return {p.name for p in params} & {"results", "feedback", "context"}


def _mpi(payload: dict[str, Any], upstream: dict, feedback: dict, task_dir: Path) -> Any:
    """Run a multi-rank task under the launcher prefix Parsl's MPI mode composed for it
    (in the stage's environment, if any: the launcher runs the environment's programs)."""
    prefix = os.environ.get("PARSL_MPI_PREFIX")
    if not prefix:
        raise TaskFailure("a multi-rank task needs an MPI-mode executor (no PARSL_MPI_PREFIX)")
    env = dict(os.environ)
    env.update(payload.get("rank_env", {}))
    if payload["kind"] == "shell":
        return _run_bash(_wrapped(payload, f"{prefix} {payload['target']}"), task_dir, env)
    return _out_of_process(payload, upstream, feedback, task_dir, prefix, env)


def _out_of_process(payload: dict[str, Any], upstream: dict, feedback: dict, task_dir: Path,
                    launcher: str = "", env: dict[str, str] | None = None) -> Any:
    """Run a python stage in another process (MPI ranks, or a site environment's own
    interpreter) from a payload file; the entry module writes the return value back."""
    spec = {**payload, "results": upstream, "feedback": feedback if payload.get("iteration")
            else None}
    multi = payload.get("ranks", 1) > 1
    path = task_dir / (".mpi-payload.json" if multi else ".env-payload.json")
    path.write_text(json.dumps(spec))
    result_path = path.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    module = "orchestrator.backends." + ("mpi_entry" if multi else "env_entry")
    environment = payload.get("environment")
    if environment:
        command = _wrapped(payload, python_command(environment, path.name, launcher, module),
                           python_path=True)
    else:
        command = f"{launcher} {shlex.quote(sys.executable)} -m {module} {path.name}"
    error_path = path.with_suffix(".error.json")
    error_path.unlink(missing_ok=True)
    try:
        _run_bash(command, task_dir, env)
    except CommandFailed as exc:
        raised = _read_json(error_path)
        if raised:
            raise StageRaised(exc.exit_code, exc.signal, exc.stderr_tail, exc.where,
                              raised.get("type", "Exception"), raised.get("message", "")
                              ) from None
        raise
    try:
        return json.loads(result_path.read_text())["result"]
    except (OSError, ValueError, KeyError):
        raise TaskFailure(f"{'rank 0' if multi else 'the stage'} wrote no result "
                          f"({result_path})") from None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _wrapped(payload: dict[str, Any], command: str, python_path: bool = False) -> str:
    """`command` inside the task's site environment (unchanged without one)."""
    environment = payload.get("environment")
    if not environment:
        return command
    try:
        lib = ensure_lib(payload["run_dir"]) if python_path else None
        code = [str(PACKAGE_DIR)] + ([payload["base_dir"]] if python_path and
                                     payload.get("base_dir") else [])
        return wrap(command, environment, payload["task_dir"], payload["run_dir"],
                    pass_env=[*PINNING_VARS, *THREAD_VARS, "ORCH_TASK_CPUS",
                              *payload.get("env", {})],
                    python_path=lib, read_only=code if python_path else ())
    except (OSError, EnvironmentProblem) as exc:
        raise TaskFailure(f"environment {environment.get('name')!r}: {exc}") from None


def _run_bash(command: str, task_dir: Path, env: dict[str, str] | None = None) -> Any:
    """Run `command` with bash; a non-zero exit raises CommandFailed with the tail of what it
    wrote to stderr (fd 2: the task's capture buffer, read before it is spilled)."""
    since = fd_size(2)
    proc = subprocess.run(["/bin/bash", "-c", command], cwd=task_dir, stdin=subprocess.DEVNULL,
                          check=False, env=env)
    if proc.returncode != 0:
        raise CommandFailed.of(proc.returncode, 2, since, str(task_dir / "stderr"))
    return {"exit_code": 0}


def _shell(payload: dict[str, Any], task_dir: Path) -> Any:
    return _run_bash(_wrapped(payload, payload["target"]), task_dir)


def read_legacy_result(task_dir: Path, key: str) -> dict[str, Any] | None:
    """A record from the `result.json` of a task run by an earlier version, if its key
    matches (runs started before per-worker result files can still be resumed)."""
    try:
        record = json.loads((task_dir / LEGACY_RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(record, dict) and record.get("key") == key:
        return record
    return None
