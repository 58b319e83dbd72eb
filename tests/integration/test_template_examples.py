"""Every shipped template passes `orch templates test`: its small example validates,
plans and runs on the laptop site (one real `orch` process per template), and a failing
example exits 3 with its run directory kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from template_repos import write_files

from orchestrator.spec.compose import BUILTIN_TEMPLATES

SHIPPED = sorted(p.parent.name for p in BUILTIN_TEMPLATES.glob("*/template.yaml"))
# steps whose examples need a science component run, with their outputs checked, in
# test_step_library_sci.py (torch and OpenVINO, MPI; through `orch templates test`) and
# test_step_library.py (DeePMD-kit, LAMMPS, ASE: a minute or two each, run once);
# deepxde-pinn in test_ns_forecast.py
CHECKED_THERE = {"fno-train", "surrogate-infer", "sparse-solve", "mpi-stencil", "deepxde-pinn",
                 "deepmd-train", "lammps-md", "ase-label"}


def orch(*args, cwd: Path, extra_env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ORCH_TEMPLATE_PATH", "ORCH_DEBUG")}
    env.update(COLUMNS="200", PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(cwd), **(extra_env or {}))
    proc = subprocess.run([sys.executable, "-m", "orchestrator", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=240)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc


def test_every_shipped_template_has_an_example():
    assert len(SHIPPED) >= 5
    for name in SHIPPED:
        assert (BUILTIN_TEMPLATES / name / "example.yaml").is_file(), name


@pytest.mark.parametrize("template", sorted(set(SHIPPED) - CHECKED_THERE))
def test_shipped_template_passes_its_example(template, tmp_path):
    proc = orch("templates", "test", template, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["state"] == "succeeded" and doc["site"] == "laptop"
    assert [s["step"] for s in doc["steps"]] == ["validate", "plan", "run"]
    assert all(s["ok"] for s in doc["steps"])
    assert doc["run_dir"] is None and not list(tmp_path.glob("orch-template-test-*"))


def test_failing_example_exits_3_and_keeps_its_run(tmp_path):
    lib = tmp_path / "lib"
    write_files(lib, {
        "flaky/template.yaml": """
            apiVersion: orchestrator/v1
            name: flaky
            description: Template. Fails when asked to.
            params: {code: {type: int, default: 0}}
            stages:
              step: {shell: "echo trying; exit ${params.code}"}
        """,
        "flaky/example.yaml": """
            apiVersion: orchestrator/v1
            name: flaky-example
            extends: {path: template.yaml, params: {code: 4}}
        """,
    })
    proc = orch("templates", "test", "flaky", "--run-dir", tmp_path / "kept", cwd=tmp_path,
                extra_env={"ORCH_TEMPLATE_PATH": str(lib)})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert [ln.split()[:2] for ln in lines[1:4]] == [["validate", "ok"], ["plan", "ok"],
                                                     ["run", "FAILED"]]
    assert "failed: step: " in proc.stderr and "FAILED: flaky's example failed" in proc.stderr
    assert (tmp_path / "kept" / "journal.jsonl").is_file()
