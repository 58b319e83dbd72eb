"""`orch run` with per-stage environments, for real: a venv prefix, Lmod modules, a podman
container (localhost/orch-test:1, built by scripts/install-envtools.sh), plain variables,
and a module environment under the local Slurm cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from needs import require

from .conftest import REPO, orch, results

pytestmark = pytest.mark.timeout(300)

IMAGE = "localhost/orch-test:1"
LMOD_INIT = Path("/usr/share/lmod/lmod/init/bash")
LOCAL_POOL = """\
  cpu:
    device: cpu
    executor: processes
    cores_per_node: auto
    memory_per_node: auto
"""
SLURM_POOL = """\
  cpu:
    device: cpu
    partition: cpu
    cores_per_node: 2
    memory_per_node: 4GiB
    walltime: "00:30:00"
"""


def _run(tmp: Path, environments: str, stages: str, scheduler: str = "local",
         expect: int = 0, timeout: float = 180) -> Path:
    """Write a site with `environments` and a workflow of `stages`; run it; the run dir."""
    pool = LOCAL_POOL if scheduler == "local" else SLURM_POOL
    (tmp / "site.yaml").write_text(
        f"apiVersion: orchestrator/v1\nkind: site\nname: envlab\nscheduler: {scheduler}\n"
        f"pools:\n{pool}environments:\n" + textwrap.indent(textwrap.dedent(environments), "  "))
    (tmp / "wf.yaml").write_text("apiVersion: orchestrator/v1\nname: envs\nstages:\n"
                                 + textwrap.indent(textwrap.dedent(stages), "  "))
    run_dir = tmp / "run"
    p = orch("run", str(tmp / "wf.yaml"), "--site", str(tmp / "site.yaml"), "--run-dir",
             str(run_dir), "-q", timeout=timeout)
    assert p.returncode == expect, p.stdout + p.stderr
    return run_dir


def _out(run_dir: Path, task: str, name: str = "out.txt") -> str:
    return (run_dir / "tasks" / task / name).read_text()


def test_prefix_environment_runs_python_and_shell_stages(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    tool = venv / "bin" / "envtool"
    tool.write_text("#!/bin/sh\necho tool-from-venv\n")
    tool.chmod(0o755)
    (tmp_path / "where.py").write_text(
        "import sys\ndef where(context):\n"
        "    return {'prefix': sys.prefix, 'task_dir': context['task_dir']}\n")
    run_dir = _run(tmp_path, f"venv:\n  prefix: {venv}\n", """\
        py:
          python: where:where
          environment: venv
        sh:
          shell: "command -v envtool > out.txt && envtool >> out.txt"
          environment: venv
        host:
          python: where:where
        """)
    res = results(run_dir)
    assert res["py"]["prefix"] == str(venv)
    assert res["py"]["task_dir"] == str(run_dir / "tasks" / "py")
    assert res["host"]["prefix"] == sys.prefix  # no environment: the worker's own Python
    assert _out(run_dir, "sh").splitlines() == [str(tool), "tool-from-venv"]


def test_a_python_stage_raising_in_an_environment_reports_its_exception(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (tmp_path / "bad.py").write_text(
        "def bad():\n    raise ValueError('the mesh has 0 cells\\nsecond line')\n")
    run_dir = _run(tmp_path, f"venv:\n  prefix: {venv}\n", """\
        py:
          python: bad:bad
          environment: venv
        """, expect=3)
    s = orch("status", str(run_dir), "--format", "json")
    task = json.loads(s.stdout)["tasks"][0]
    # as for a stage run in the worker: the exception, not "command exited with 1"
    assert task["error"] == "ValueError: the mesh has 0 cells\nsecond line"
    assert task["exit_code"] == 1
    stderr = (run_dir / "tasks" / "py" / "stderr").read_text()
    assert stderr.count("Traceback (most recent call last)") == 1   # printed once


def test_env_environment_sets_variables(tmp_path):
    run_dir = _run(tmp_path, "plain:\n  env: {ANSWER: \"42 'q' $(x)\"}\n", """\
        s:
          shell: 'echo "$ANSWER" > out.txt'
          environment: plain
        """)
    assert _out(run_dir, "s") == "42 'q' $(x)\n"


def _lmod_problem() -> str | None:
    if not LMOD_INIT.is_file() and not os.environ.get("LMOD_PKG"):
        return "Lmod is not installed (scripts/install-envtools.sh)"
    return None


def _modulefiles(tmp: Path) -> Path:
    """A Lua modulefile foo/1 that sets a variable and puts a bin/ dir first on PATH."""
    bindir = tmp / "foo-bin"
    bindir.mkdir()
    (bindir / "footool").write_text("#!/bin/sh\necho footool-ran\n")
    (bindir / "footool").chmod(0o755)
    (tmp / "mf" / "foo").mkdir(parents=True)
    (tmp / "mf" / "foo" / "1.lua").write_text(
        f'setenv("FOO_MARK", "from-module")\nprepend_path("PATH", "{bindir}")\n')
    return tmp / "mf"


def _foo_module(tmp: Path) -> str:
    """The site's `foo` environment: module foo/1 from the test's modulefiles."""
    return f"""\
        foo:
          modules: [foo/1]
          module_use: [{_modulefiles(tmp)}]
        """.rstrip(" ")


def test_module_environment_and_a_missing_module(tmp_path):
    require(_lmod_problem())
    mf = tmp_path / "mf"
    run_dir = _run(tmp_path, _foo_module(tmp_path) + f"""\
        broken:
          modules: [nope/2]
          module_use: [{mf}]
        """, """\
        mod:
          shell: 'echo "$FOO_MARK" > out.txt; footool >> out.txt'
          environment: foo
        missing:
          shell: 'echo ran > out.txt'
          environment: broken
        """, expect=3)
    assert _out(run_dir, "mod") == "from-module\nfootool-ran\n"
    assert not (run_dir / "tasks" / "missing" / "out.txt").exists()
    assert "orch: environment broken: module load nope/2 failed" in \
        _out(run_dir, "missing", "stderr")


def _podman_problem() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/install-envtools.sh)"
    subprocess.run(["bash", str(REPO / "scripts" / "install-envtools.sh")], check=False,
                   capture_output=True, timeout=300)  # builds the image once (cached)
    probe = subprocess.run(["podman", "run", "--rm", "--network=none", IMAGE, "true"],
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        return f"podman cannot run {IMAGE}: {probe.stderr.strip()[-300:]}"
    return None


def test_container_stage_runs_in_the_image(tmp_path):
    require(_podman_problem())
    run_dir = _run(tmp_path, f"""\
        box:
          container: {{image: "{IMAGE}"}}
          env: {{GREETING: "hi $(there)"}}
        """, """\
        make:
          shell: 'echo made-on-host > data.txt'
          outputs: [data.txt]
        box:
          shell: 'cat /etc/orch-test-marker ${stages.make.outputs.data} > out.txt; echo "$GREETING" >> out.txt; pwd >> out.txt'
          needs: [make]
          environment: box
        """)
    assert _out(run_dir, "box").splitlines() == [
        "inside localhost/orch-test:1", "made-on-host", "hi $(there)",
        str(run_dir / "tasks" / "box")]


@pytest.mark.slurm
@pytest.mark.timeout(600)
def test_module_environment_under_slurm(tmp_path):
    require(_lmod_problem())
    run_dir = _run(tmp_path, _foo_module(tmp_path), """\
        mod:
          shell: 'echo "$FOO_MARK" > out.txt; footool >> out.txt; echo "$SLURM_JOB_ID" >> out.txt'
          environment: foo
        """, scheduler="slurm", timeout=500)
    lines = _out(run_dir, "mod").splitlines()
    assert lines[:2] == ["from-module", "footool-ran"]
    assert lines[2].isdigit()  # it ran inside a Slurm job
