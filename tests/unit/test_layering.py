"""Layering: validate and plan never import Parsl, torch, SYCL or MPI packages."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import FIXTURES, cli_env

HEAVY = ("parsl", "torch", "dpctl", "mpi4py", "numba_dpex", "dpnp")

SAMPLED = """\
apiVersion: orchestrator/v1
name: layered
stages:
  sample:
    python: m:f
    sweep:
      sample: {method: sobol, n: 8, space: {x: [0, 1]}}
    resources: {device: gpu}
  solve:
    python: m:g
    needs: [sample]
    resources: {device: xpu}
"""

CHECK = """\
import sys
from orchestrator.cli.app import main
rc = main({argv!r})
bad = [m for m in {heavy!r} if m in sys.modules]
assert not bad, bad
assert rc == 0, rc
print("layering-ok")
"""


def run_check(argv: list[str], tmp_path, preload: str = "") -> subprocess.CompletedProcess:
    code = preload + CHECK.format(argv=argv, heavy=HEAVY)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=cli_env(tmp_path), timeout=120)


@pytest.fixture
def workflows(tmp_path):
    (tmp_path / "sampled.yaml").write_text(SAMPLED)
    return [str(FIXTURES / "workflows" / "fan-in.yaml"), str(tmp_path / "sampled.yaml")]


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_commands_import_no_heavy_packages(tmp_path, workflows, command):
    for wf in workflows:
        argv = [command, wf, "--site", "laptop"]
        if command == "plan":
            argv += ["--format", "json"]
        proc = run_check(argv, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.rstrip().endswith("layering-ok")


def test_the_check_can_fail(tmp_path, workflows):
    """The same check, with a heavy package imported on purpose, must fail."""
    proc = run_check(["validate", workflows[0]], tmp_path,
                     preload="import sys, types\nsys.modules['dpctl'] = types.ModuleType('dpctl')\n")
    assert proc.returncode != 0
    assert "AssertionError: ['dpctl']" in proc.stderr


def test_importing_the_package_is_cheap(tmp_path):
    code = ("import sys, orchestrator, orchestrator.spec.load, orchestrator.plan.build\n"
            f"bad = [m for m in {HEAVY!r} + ('numpy', 'scipy', 'rich') if m in sys.modules]\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=cli_env(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_parsl_is_imported_only_by_the_backends():
    """The scheduler seam, spec, plan, site and report describe; only backends/ builds
    Parsl objects (schedulers hand it ProviderSpec data)."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "orchestrator"
    offenders = []
    for path in package.rglob("*.py"):
        if path.relative_to(package).parts[0] == "backends":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "parsl" or n.startswith("parsl.") for n in names):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not offenders, offenders
