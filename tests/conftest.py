"""Shared helpers for the test suite: paths, spec writers, CLI runners, hypothesis profile."""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
BAD_SPECS = FIXTURES / "bad-specs"
SITE_CONFIGS = REPO / "site-configs"

# Hypothesis: modest by default so the suite stays fast; HYPOTHESIS_EXAMPLES=5000 for a slow run.
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "200"))
settings.register_profile(
    "orch",
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ directory left behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("orch")


# ---------------------------------------------------------------- environment


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """No template path or debug switch leaks in from the developer's shell."""
    monkeypatch.delenv("ORCH_TEMPLATE_PATH", raising=False)
    monkeypatch.delenv("ORCH_DEBUG", raising=False)


def cli_env(tmp: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment for `python -m orchestrator` subprocesses (crash files land in `tmp`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ORCH_TEMPLATE_PATH", "ORCH_DEBUG")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["COLUMNS"] = "200"
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    env.update(extra)
    return env


# ---------------------------------------------------------------- CLI


@dataclass
class CLIResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def diag_lines(self) -> list[str]:
        """Diagnostic lines of stderr, without the trailing `N errors` count."""
        return [ln for ln in self.stderr.splitlines()
                if ln.strip() and not (ln.endswith(" errors") and ln.split()[0].isdigit())]

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args: str | Path, cwd: Path | str | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> CLIResult:
    """Run `python -m orchestrator ARGS` in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", *map(str, args)],
        cwd=str(cwd) if cwd else None, capture_output=True, text=True, timeout=timeout,
        env=env or cli_env(Path(cwd) if cwd else None),
    )
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)


def orch(*args: str | Path) -> CLIResult:
    """Run `orch ARGS` in this process (cheap): `main()` with stdout/stderr captured."""
    from orchestrator.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            rc = exc.code if isinstance(exc.code, int) else 1
    return CLIResult(rc, out.getvalue(), err.getvalue())


def assert_clean_failure(res: CLIResult, rc: int = 1) -> None:
    """A user error: the exit code, no traceback, no 'internal error'."""
    assert res.rc == rc, (res.rc, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert "internal error" not in res.stderr


# ---------------------------------------------------------------- specs


def write(path: Path, text: str) -> Path:
    """Write dedented text (creating parents) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def spec_text(stages: str, *, name: str = "t", params: str = "", extra: str = "") -> str:
    """A minimal valid workflow around indented `stages` (and optional `params`) YAML."""
    out = f"apiVersion: orchestrator/v1\nname: {name}\n"
    if params:
        out += "params:\n" + textwrap.indent(textwrap.dedent(params).strip("\n"), "  ") + "\n"
    out += "stages:\n" + textwrap.indent(textwrap.dedent(stages).strip("\n"), "  ") + "\n"
    if extra:
        out += textwrap.dedent(extra).strip("\n") + "\n"
    return out


@pytest.fixture
def spec_file(tmp_path, monkeypatch):
    """Write a spec into tmp_path (cwd), return its relative Path; diagnostics print `wf.yaml:..`."""
    monkeypatch.chdir(tmp_path)

    def make(text: str, name: str = "wf.yaml") -> Path:
        write(tmp_path / name, text)
        return Path(name)

    return make


@functools.cache
def site(name: str):
    """A shipped site config, loaded once per session."""
    from orchestrator.site.load import load_site

    return load_site(name)


def plan_of(path: Path | str, site_name: str = "laptop", sets: dict[str, str] | None = None):
    from orchestrator.plan.build import build_plan
    from orchestrator.spec.load import load_spec

    return build_plan(load_spec(path, sets), site(site_name))


def formatted(exc) -> list[str]:
    """The formatted diagnostics of a UserError."""
    return [d.format() for d in exc.diagnostics]


def pytest_runtest_setup(item):
    """Tests marked `slurm`, `mpi` or `xpu` need that component: skipped when it is
    missing, failed instead when CI=true (CI must run them for real). tests/xpu has its
    own, stricter check."""
    markers = {m for m in ("slurm", "mpi", "xpu") if item.get_closest_marker(m) is not None}
    if not markers:
        return
    from cluster.conftest import mpi_problem, require, slurm_problem

    if "slurm" in markers:
        require(slurm_problem())
    if "mpi" in markers:
        require(mpi_problem())
    if "xpu" in markers and "tests/xpu/" not in str(item.fspath).replace("\\", "/"):
        require(_sycl_cpu_problem())


@functools.cache
def _sycl_cpu_problem() -> str | None:
    """Why no SYCL opencl:cpu device is usable here (discovery runs in a child with the
    oneAPI environment), or None."""
    from orchestrator.library.devices import inventory_json

    data = inventory_json()
    sycl = data.get("sycl") or {}
    devices = sycl.get("devices", []) if isinstance(sycl, dict) else []
    if any(str(d.get("filter_string", "")).startswith("opencl:cpu") for d in devices):
        return None
    reason = sycl.get("reason") if isinstance(sycl, dict) else None
    return f"no SYCL opencl:cpu device ({reason or 'see `orch devices`'})"


@pytest.fixture
def torch():
    """torch on one thread; a test needing it fails under CI=true when torch is missing."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("torch is not installed (CI=true: surrogate tests must run, not skip)",
                        pytrace=False)
        pytest.skip("torch is not installed (pip install 'orchestrator[torch]')")
    torch.set_num_threads(1)
    return torch
