"""The environment Intel's oneAPI runtime needs when it comes from pip wheels.

`scripts/install-xpu.sh` installs the SYCL runtime (dpcpp-cpp-rt, intel-sycl-rt,
intel-opencl-rt, ...) into the virtualenv: the shared libraries land in `<venv>/lib`.
Three things then go wrong unless the process environment is prepared:

- `LD_LIBRARY_PATH` must contain `<venv>/lib`: dpctl's extension modules carry a broken
  RPATH (`/../..`, the `$ORIGIN` was lost when the wheel was built), so `import dpctl`
  fails with `libintlc.so.5: cannot open shared object file`; the SYCL runtime also
  dlopens its Unified Runtime adapters (`libur_adapter_opencl.so`) by bare name. The
  dynamic loader reads `LD_LIBRARY_PATH` once, when the process starts: setting
  `os.environ` later changes nothing for this process, hence the re-exec below.
- `OCL_ICD_FILENAMES` must name `<venv>/lib/libintelocl.so`: the OpenCL ICD loader finds
  vendor drivers through `*.icd` files, and the one in the wheel
  (`<venv>/etc/OpenCL/vendors/intel-cpu.icd`) holds the conda build placeholder
  `/opt/anaconda1anaconda2anaconda3/lib/libintelocl.so`. Without it dpctl imports but
  lists no device. `OCL_ICD_FILENAMES` adds to the system's registered ICDs (an Intel
  GPU's OpenCL driver in /etc/OpenCL/vendors stays visible); it is read when the runtime
  first enumerates platforms.
- `SYCL_CACHE_PERSISTENT=1` (optional, only set when the user has not chosen): the SYCL
  runtime keeps JIT-compiled device code in `~/.cache/libsycl_cache`, so dpctl.tensor
  kernels are not recompiled in every process (90 ms -> 7 ms per kernel on opencl:cpu).

`sycl_env()` computes those variables (pure: no dpctl import, only a look at the
files under the prefix); `ensure_sycl_env()` re-execs the current process with them
when they are missing; `shell_exports()` gives the lines a Parsl worker's `worker_init`
runs. `python -m orchestrator.library.sycl_env` prints them, or runs a command with them
(`python -m orchestrator.library.sycl_env -- python -c 'import dpctl'`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

MARKER = "ORCH_SYCL_REEXEC"
"""Set in the environment of a re-exec'd process so that it never re-execs again."""

DISABLE = "ORCH_NO_SYCL_ENV"
"""Set to 1 to stop `ensure_sycl_env` from touching the process (debugging)."""

CACHE_VAR = "SYCL_CACHE_PERSISTENT"
PLACEHOLDER_PREFIX = "/opt/anaconda1anaconda2anaconda3"
INSTALL_HINT = "scripts/install-xpu.sh (or: pip install 'orchestrator[xpu]')"


def lib_dir(prefix: str | os.PathLike = sys.prefix) -> Path:
    return Path(prefix) / "lib"


def runtime_installed(prefix: str | os.PathLike = sys.prefix) -> bool:
    """Whether the pip-installed SYCL runtime (libsycl) is in `<prefix>/lib`."""
    return any(lib_dir(prefix).glob("libsycl.so*"))


def find_intelocl(prefix: str | os.PathLike = sys.prefix) -> Path | None:
    """Intel's OpenCL CPU driver in `<prefix>/lib`: the unversioned name first."""
    lib = lib_dir(prefix)
    plain = lib / "libintelocl.so"
    if plain.exists():
        return plain
    versioned = sorted(p for p in lib.glob("libintelocl.so.*") if not p.name.endswith(".py"))
    return versioned[0] if versioned else None


def icd_files(prefix: str | os.PathLike = sys.prefix) -> dict[Path, str]:
    """The wheel's OpenCL vendor files and the library each names (to explain failures)."""
    vendors = Path(prefix) / "etc" / "OpenCL" / "vendors"
    out = {}
    for icd in sorted(vendors.glob("*.icd")):
        try:
            out[icd] = icd.read_text().strip()
        except OSError:
            continue
    return out


def _prepend(path: str, current: str | None) -> str:
    """`path` in front of a colon-separated list, unless it is already in it."""
    parts = [p for p in (current or "").split(os.pathsep) if p]
    if path in parts:
        return os.pathsep.join(parts)
    return os.pathsep.join([path, *parts])


def _append(path: str, current: str | None) -> str:
    parts = [p for p in (current or "").split(os.pathsep) if p]
    if path in parts:
        return os.pathsep.join(parts)
    return os.pathsep.join([*parts, path])


def sycl_env(prefix: str | os.PathLike = sys.prefix,
             environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Values of the variables the runtime in `prefix` needs, merged with `environ` (the
    current environment by default), so that `environ.update(sycl_env())` is idempotent.

    Empty when no runtime is installed under `prefix` (nothing to do)."""
    environ = os.environ if environ is None else environ
    if not runtime_installed(prefix):
        return {}
    lib = str(lib_dir(prefix))
    env = {"LD_LIBRARY_PATH": _prepend(lib, environ.get("LD_LIBRARY_PATH"))}
    ocl = find_intelocl(prefix)
    if ocl is not None:
        env["OCL_ICD_FILENAMES"] = _append(str(ocl), environ.get("OCL_ICD_FILENAMES"))
    env[CACHE_VAR] = environ.get(CACHE_VAR, "1")
    return env


def missing_sycl_env(prefix: str | os.PathLike = sys.prefix,
                     environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of `sycl_env()` that `environ` does not have yet."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in sycl_env(prefix, environ).items() if environ.get(k) != v}


def shell_exports(prefix: str | os.PathLike = sys.prefix) -> list[str]:
    """`export` lines for a worker's init script. They extend the variables the worker's
    shell already has at run time (a cluster's `module load` sets LD_LIBRARY_PATH), so they
    are not computed from this process's environment. Empty without a runtime."""
    if not runtime_installed(prefix):
        return []
    lib = shlex.quote(str(lib_dir(prefix)))
    lines = [f'export LD_LIBRARY_PATH={lib}"${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"']
    ocl = find_intelocl(prefix)
    if ocl is not None:
        q = shlex.quote(str(ocl))
        lines.append(f'export OCL_ICD_FILENAMES="${{OCL_ICD_FILENAMES:+$OCL_ICD_FILENAMES:}}"{q}')
    lines.append(f'export {CACHE_VAR}="${{{CACHE_VAR}:-1}}"')
    return lines


def reexec_argv(orig_argv: Sequence[str] | None = None) -> list[str]:
    """The command line that restarts this interpreter the way it was started (`orch ...`,
    `python -m orchestrator ...`, `python script.py ...`)."""
    argv = list(sys.orig_argv if orig_argv is None else orig_argv)
    return [sys.executable, *argv[1:]]


def ensure_sycl_env(prefix: str | os.PathLike = sys.prefix) -> bool:
    """Make the SYCL runtime of `prefix` usable by this process.

    When variables are missing, the process re-execs itself with them (`os.execve` of the
    original command line; the process id, stdin/stdout and the arguments stay the same)
    and this call does not return. Returns True when the environment is already complete
    (or there is no runtime to prepare), False when it is incomplete but re-exec is not
    allowed: already re-exec'd once (the marker is set), ORCH_NO_SYCL_ENV=1, or inside
    pytest (`orch` commands run in-process by tests).

    Call it first thing in a command (before dpctl or numba_dpex is imported, and before
    threads start): never in a long-lived process that must keep its state (a Parsl
    worker gets the variables from its worker_init instead, see `shell_exports`)."""
    missing = missing_sycl_env(prefix)
    if not missing:
        return True
    if os.environ.get(MARKER) or os.environ.get(DISABLE) == "1" or "pytest" in sys.modules:
        return False  # re-exec'ing a test runner would restart its whole session
    env = dict(os.environ)
    env.update(missing)
    env[MARKER] = "1"
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os.execve(sys.executable, reexec_argv(), env)  # same interpreter, same argv
    return False  # pragma: no cover  (execve does not return)


def _main(argv: list[str]) -> int:
    """`--shell`: export lines for worker_init; `-- CMD...`: run CMD with the variables;
    no arguments: the variables this process is missing, as JSON."""
    if argv[:1] == ["--shell"]:
        print("\n".join(shell_exports()))
        return 0
    if argv[:1] == ["--"] and len(argv) > 1:
        env = dict(os.environ)
        env.update(sycl_env())
        os.execvpe(argv[1], argv[1:], env)
    import json

    print(json.dumps({"prefix": sys.prefix, "runtime_installed": runtime_installed(),
                      "env": sycl_env(), "missing": missing_sycl_env()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
