"""A bundle of plain shell points run by one bash process (bundle_run.py).

Run one by one, every shell task costs the worker a fork and exec of bash from a large
Python process, its capture buffers and its records: ~2-3 ms on two cores, more than
`xargs -P 2 sh -c` per command. Here one bash runs all points of a bundle, each in a
subshell of its own (its variables, `cd` and `exit` stay its own) with the task's working
directory, environment and stdin from /dev/null, as a lone task gets. A point's output goes
to scratch files and is appended to its task's stdout/stderr after an attempt header only
when it wrote something (silent tasks create no files, as alone); bash reports each point's
exit status and start/end times, and the records are written together at the end.

Only points without a site environment, staged inputs or ranks run here (the others run
one by one). A bundle stopped halfway (its worker killed) is run again whole by Parsl:
shell points record nothing until the end. No Parsl here.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from typing import Any

from orchestrator.backends.exits import tail_text
from orchestrator.backends.files import FileProblem, check_outputs
from orchestrator.backends.task_binding import env_of, pinning, placed_task
from orchestrator.backends.task_io import attempt_line
from orchestrator.backends.worker import _HOST, CommandFailed, TaskFailure, _make_dir
from orchestrator.state.results import append_result


def plain(payload: dict[str, Any]) -> bool:
    """A shell point this module can run (the rest go through `worker.run_task`)."""
    return (payload["kind"] == "shell" and payload.get("ranks", 1) <= 1
            and not payload.get("environment") and not payload.get("stage_in"))


def run_shell_bundle(points: list[dict[str, Any]], spec: dict[str, Any] | None) -> list[Any]:
    """Each point's record (JSON) or the exception it ended with, in order."""
    scratch = tempfile.mkdtemp(prefix="orch-bundle-", dir=_scratch_root())
    try:
        with placed_task(points[0], spec or {}) as grant:
            script, sizes = _script(points, grant, scratch)
            status = os.path.join(scratch, "status")
            with open(os.path.join(scratch, "run.sh"), "w") as f:
                f.write(script)  # (a file: one argument holds at most 128 KiB)
            subprocess.run(["/bin/bash", "run.sh"], stdin=subprocess.DEVNULL, check=False,
                           cwd=scratch)
        try:
            with open(status) as f:
                rows = [line.split() for line in f]
        except OSError:
            rows = []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out: list[Any] = []
    lines = []
    for k, payload in enumerate(points):
        if k >= len(rows):  # bash ended early
            out.append(TaskFailure("the bundle's shell ended before this point ran"))
            continue
        rc, t0, t1 = int(rows[k][0]), float(rows[k][1]), float(rows[k][2])
        value = _ended(payload, rc, t0, t1, sizes[k])
        if isinstance(value, str):
            lines.append(value)
        out.append(value)
    if lines:
        append_result(points[0]["run_dir"], "\n".join(lines))
    return out


def _scratch_root() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _script(points: list[dict[str, Any]], grant: Any, scratch: str) -> tuple[str, list[int]]:
    """The bash script, and each point's stderr size before it runs (for its tail)."""
    q = shlex.quote
    parts = ['exec 3>status', 'O=out; E=err']
    sizes = []
    for payload in points:
        task_dir = payload["task_dir"]
        _make_dir(task_dir)
        try:
            sizes.append(os.stat(os.path.join(task_dir, "stderr")).st_size)
        except OSError:
            sizes.append(0)
        env = env_of(payload, grant)
        exports = "".join(f"export {k}={q(v)}; " if v is not None else f"unset {k}; "
                          for k, v in env.items())
        header = q(attempt_line(payload))
        parts.append(
            f"cd {q(task_dir)} && t0=$EPOCHREALTIME && ( {exports}\n{payload['target']}\n"
            f") >{q(scratch)}/$O 2>{q(scratch)}/$E </dev/null; rc=$?; t1=$EPOCHREALTIME; "
            f"[ -s {q(scratch)}/$O ] && {{ printf %s {header}; cat {q(scratch)}/$O; }} >>stdout; "
            f"[ -s {q(scratch)}/$E ] && {{ printf %s {header}; cat {q(scratch)}/$E; }} >>stderr; "
            f"echo \"$rc $t0 $t1\" >&3")
    return "\n".join(parts) + "\n", sizes


def _ended(payload: dict[str, Any], rc: int, t0: float, t1: float, before: int) -> Any:
    """A point's record (JSON), or CommandFailed / TaskFailure."""
    task_dir = payload["task_dir"]
    where = os.path.join(task_dir, "stderr")
    if rc != 0:
        failed = CommandFailed.of(rc, -1, None, where)
        failed.stderr_tail = _tail(where, before)
        return failed
    record = {"task": payload["task_id"], "key": payload["key"], "result": {"exit_code": 0},
              "started": t0, "ended": t1, "host": _HOST, "pid": os.getpid(),
              "devices": pinning(payload)}
    if payload.get("outputs"):
        try:
            record["files"] = check_outputs(payload["outputs"], task_dir)
        except FileProblem as exc:
            return TaskFailure(str(exc))
    return json.dumps(record, separators=(",", ":"))


def _tail(path: str, before: int) -> str:
    """The last lines a failed point wrote to its stderr (after its attempt header)."""
    try:
        with open(path, "rb") as f:
            f.seek(before)
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    first, _, rest = text.partition("\n")
    return tail_text(rest if first.startswith("---") else text)
