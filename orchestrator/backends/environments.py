"""A task's software environment as bash: module lines, a prefix's bin/ on PATH, variables,
and for containers the `podman run` / `apptainer exec` line that runs the command inside
the image. Stdlib only (the worker and `orch plan --scripts` both use it); every value
that reaches the script is shell-quoted, nothing is eval'd.

The environment is the site's resolved definition (Plan.environments[name]: a dict with
`name`, `prefix`, `modules`, `module_use`, `module_init`, `container`, `env`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from shlex import quote
from typing import Any

MODULE_INITS = ("$LMOD_PKG/init/bash", "/usr/share/lmod/lmod/init/bash",
                "/etc/profile.d/modules.sh", "/usr/share/modules/init/bash")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../orchestrator
LIB_DIR = ".orch-lib"  # in the run directory: holds only a link to PACKAGE_DIR
ENTRY = "orchestrator.backends.env_entry"


class EnvironmentProblem(ValueError):
    """An environment that cannot be applied to this task (said before anything runs)."""


def _fail(env: dict[str, Any], message: str, strict: bool) -> str:
    """`|| ...` tail of a setup line: fail the task (strict) or warn and go on."""
    text = quote(f"orch: environment {env.get('name', '?')}: {message}")
    return f"{{ echo {text} >&2; exit 1; }}" if strict else f"echo {text} >&2"


def module_lines(env: dict[str, Any], strict: bool = True) -> list[str]:
    """Define `module` if the shell lacks it, then `module use` and `module load` each,
    checking every exit status (a failed load must fail the task, not run it without)."""
    if not env.get("modules"):
        return []
    lines = []
    if env.get("module_init"):
        init = quote(env["module_init"])
        lines.append(f". {init} || " + _fail(env, f"sourcing {env['module_init']} failed",
                                            strict))
    else:
        tried = " ".join(quote(p) for p in MODULE_INITS[1:])
        lines.append('if ! type module >/dev/null 2>&1; then for __orch_init in '
                     f'${{LMOD_PKG:+"$LMOD_PKG/init/bash"}} {tried}; do '
                     'if [ -r "$__orch_init" ]; then . "$__orch_init"; break; fi; done; fi')
    where = env.get("module_init") or ", ".join(MODULE_INITS)
    lines.append("type module >/dev/null 2>&1 || " + _fail(
        env, f"no `module` command (Lmod or Environment Modules; tried {where})", strict))
    for path in env.get("module_use") or ():
        lines.append(f"module use {quote(path)} || " + _fail(env, f"module use {path} failed",
                                                             strict))
    for name in env["modules"]:
        lines.append(f"module load {quote(name)} || " + _fail(env, f"module load {name} failed",
                                                              strict))
    return lines


def _exports(env: dict[str, Any], prefix_var: str = "") -> list[str]:
    lines = []
    if env.get("prefix"):
        lines.append(f'export PATH={quote(env["prefix"] + "/bin")}:"$PATH"')
    lines += [f"export {prefix_var}{k}={quote(v)}" for k, v in sorted((env.get("env") or {})
                                                                      .items())]
    return lines


def interpreter(env: dict[str, Any]) -> str:
    """The shell word that runs the environment's Python: the prefix's, else `python3` as
    the modules or the image put it on PATH."""
    return quote(env["prefix"] + "/bin/python") if env.get("prefix") else "python3"


def python_command(env: dict[str, Any], payload_file: str, launcher: str = "",
                   module: str = ENTRY) -> str:
    """The command that runs a python stage from its payload file in the environment."""
    return f"{launcher + ' ' if launcher else ''}{interpreter(env)} -m {module} {quote(payload_file)}"


def wrap(command: str, env: dict[str, Any], task_dir: str, run_dir: str,
         pass_env: Iterable[str] = (), python_path: str | None = None,
         read_only: Iterable[str] = ()) -> str:
    """The bash script that runs `command` (itself bash) in `env`, in `task_dir`.

    `pass_env`: variables of the task's own environment a container must see (device masks,
    thread counts, the stage's env); `python_path`: a directory to put first on PYTHONPATH
    (python stages); `read_only`: more host directories a container sees (the code)."""
    lines = module_lines(env)
    container = env.get("container")
    if not container:
        if env.get("prefix"):   # a missing prefix says so, not "python: not found"
            lines.append(f"[ -d {quote(env['prefix'])} ] || " + _fail(
                env, f"prefix {env['prefix']} does not exist on this node", True))
        lines += _exports(env)
        if python_path:
            lines.append(f'export PYTHONPATH={quote(python_path)}"${{PYTHONPATH:+:$PYTHONPATH}}"')
        return "\n".join([*lines, command])
    inner = "\n".join([*_exports({"prefix": env.get("prefix")}), command])
    engine = container.get("engine", "podman")
    if engine == "apptainer":
        lines += _exports({"env": env.get("env")}, "APPTAINERENV_")
        if python_path:
            lines.append(f"export APPTAINERENV_PYTHONPATH={quote(python_path)}")
        argv = ["apptainer", "exec", "--bind", _bind(run_dir, run_dir),
                *[a for d in read_only for a in ("--bind", _bind(d, d) + ":ro")],
                "--pwd", task_dir]
    else:
        argv = ["podman", "run", "--rm", "--network=none", "-v", _bind(run_dir, run_dir),
                *[a for d in read_only for a in ("-v", _bind(d, d) + ":ro")],
                "-w", task_dir,
                *[f"--env={k}={v}" for k, v in sorted((env.get("env") or {}).items())],
                *[f"--env={k}" for k in sorted(set(pass_env)) if k in os.environ],
                *([f"--env=PYTHONPATH={python_path}"] if python_path else [])]
    argv += [*container.get("options", ()), container["image"], "/bin/sh", "-c", inner]
    lines.append("exec " + " ".join(quote(a) for a in argv))
    return "\n".join(lines)


def _bind(src: str, dst: str) -> str:
    for path in (src, dst):
        if ":" in path or "," in path:
            raise EnvironmentProblem(f"cannot bind {path!r} into a container: "
                                    "the path contains ':' or ','")
    return f"{src}:{dst}"


def ensure_lib(run_dir: str) -> str:
    """RUN_DIR/.orch-lib holding only a link to this package: what PYTHONPATH gives the
    environment's interpreter (the orch virtualenv's site-packages, built for another
    Python, must not leak into it). Safe when workers race to create it."""
    lib = Path(run_dir) / LIB_DIR
    link = lib / "orchestrator"
    if link.is_symlink() and link.resolve() == PACKAGE_DIR:
        return str(lib)
    lib.mkdir(exist_ok=True)
    tmp = lib / f".orchestrator.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(PACKAGE_DIR, target_is_directory=True)
    os.replace(tmp, link)
    return str(lib)
