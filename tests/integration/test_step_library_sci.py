"""The surrogate and solver steps of the step library (workflows/templates/NAME), each
example run for real on the laptop site by `orch templates test` and its outputs checked
(test_template_examples.py leaves these four to this file): fno-train's members,
surrogate-infer's OpenVINO answers against torch's on the same members (and, without an
orch run, a 3-member ensemble's ONNX export through OpenVINO against torch), sparse-solve's
residuals and its agreement with the direct solution, mpi-stencil on 2 ranks against
the serial solver.

Needs torch and the `onnx` package (the `torch` extra), the `openvino` environment
(scripts/install-openvino.sh, run by `make test`) and MPI; each test skips without its
component, and fails instead with CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from needs import require

from .conftest import REPO, journal, orch, results, wait_no_processes

pytestmark = pytest.mark.timeout(300)

OPENVINO = REPO / ".envs" / "openvino"


def _require_torch() -> None:
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        require(f"{exc.name} is not installed (pip install 'orchestrator[torch]')")


def _require_openvino() -> None:
    python = OPENVINO / "bin" / "python"
    ok = python.exists() and subprocess.run(
        [str(python), "-c", "import openvino"], capture_output=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).returncode == 0
    require(None if ok else f"the openvino environment is not installed at {OPENVINO} "
            "(bash scripts/install-openvino.sh)")


def _run(name: str, run_dir: Path, timeout: float = 240) -> dict[str, object]:
    """`orch templates test NAME`: the example validated, planned and run on the laptop
    site, kept in `run_dir`; what each task returned."""
    p = orch("templates", "test", name, "--run-dir", str(run_dir), "--format", "json",
             timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Warning" not in p.stderr, p.stderr[-3000:]
    doc = json.loads(p.stdout)
    assert doc["ok"] and [s["step"] for s in doc["steps"]] == ["validate", "plan", "run"]
    assert not wait_no_processes(str(run_dir))
    return results(run_dir)


def _done(run_dir: Path) -> dict[str, dict]:
    return {e["task"]: e for e in journal(run_dir) if e["ev"] == "task_done"}


def test_fno_train_example_trains_each_member(tmp_path):
    _require_torch()
    from orchestrator.library.surrogates import train as tr

    run_dir = tmp_path / "run"
    res = _run("fno-train", run_dir)
    members = [res[f"train[{m}]"] for m in range(2)]
    for m, t in enumerate(members):
        task = run_dir / "tasks" / f"train[{m}]"
        history = json.loads((task / "history.json").read_text())
        assert len(history["loss"]) == len(history["val_loss"]) == 20
        assert history["config"]["seed"] == m  # seed * 1000 + member
        assert t["loss"] == history["loss"] and t["loss"][-1] < 0.5 * t["loss"][0]
        assert t["final_val_loss"] < 0.25, t["final_val_loss"]
        net = tr.load(task / "model.pt")
        assert net.y_mean.shape == (16, 16)
    assert members[0]["loss"] != members[1]["loss"]  # their own initialisation and order


def test_surrogate_infer_openvino_agrees_with_torch(tmp_path):
    _require_torch()
    _require_openvino()
    from orchestrator.library.surrogates import train as tr

    run_dir = tmp_path / "run"
    res = _run("surrogate-infer", run_dir)
    infer = res["infer"]
    # the laptop's infer task fell back from gpu to its cpu pool: auto chose OpenVINO
    assert infer["asked"] == "auto" and infer["backend"] == "openvino", infer
    assert infer["queries"] == 16 and infer["members"] == 1
    assert infer["seconds_per_sample"] > 0 and infer["seconds_single"] > 0
    pred = np.load(run_dir / "tasks" / "infer" / "predictions.npz")
    queries = np.load(run_dir / "tasks" / "queries" / "queries.npz")
    model = run_dir / "tasks" / "train[0]" / "model.pt"
    ref = tr.predict([tr.load(model)], queries["inputs"])
    assert pred["members"].shape == ref.shape == (16, 1, 16, 16)
    np.testing.assert_allclose(pred["members"], ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    np.testing.assert_allclose(pred["mean"], ref[:, 0], rtol=0, atol=1e-4 * np.abs(ref).max())
    # the ONNX file is a declared output, hashed; infer recorded reading exactly it
    done = _done(run_dir)
    written = done["export"]["files"]["model.onnx"][0]
    assert done["infer"]["inputs"]["inputs/export/model.onnx"] == written


_OV_SIDE = """
import sys
import numpy as np
from orchestrator.library.surrogates import openvino_runtime as ovr
onnx, queries, out = sys.argv[1:4]
x = np.load(queries)
runner = ovr.Runner(onnx, 1)
np.savez(out, batched=runner(x), single=np.concatenate([runner(q[None]) for q in x]),
         chunked=runner(x, batch_size=2))
"""


def test_onnx_ensemble_through_openvino_equals_torch(tmp_path):
    """A 3-member FNO ensemble (random weights, per-member normalisers) exported by
    surrogates.export and run by OpenVINO in the openvino environment (no torch there),
    batched, one query at a time and in chunks of 2, answers what torch answers to float32
    round-off; no orch run, a few seconds."""
    _require_torch()
    _require_openvino()
    import torch

    from orchestrator.library.surrogates import export as ex
    from orchestrator.library.surrogates import train as tr
    from orchestrator.library.surrogates.fno import build_fno

    grid, paths = 12, []
    rng = np.random.default_rng(3)
    for m in range(3):
        torch.manual_seed(10 + m)
        model = build_fno(modes=4, width=6, layers=2, padding=2)
        norm = {"x_mean": 0.3 * m, "x_std": 1.0 + m,
                "y_mean": rng.random((grid, grid)).astype(np.float32),
                "y_std": (0.5 + rng.random((grid, grid))).astype(np.float32)}
        paths.append(tmp_path / f"m{m}.pt")
        tr.save({"state_dict": model.state_dict(), "config": model.config,
                 "normaliser": norm}, paths[-1])
    x = rng.standard_normal((5, grid, grid))
    ref = tr.predict([tr.load(p) for p in paths], x)
    ex.export_onnx(paths, tmp_path / "ensemble.onnx")
    np.save(tmp_path / "q.npy", x.astype(np.float32))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(REPO)}
    p = subprocess.run([str(OPENVINO / "bin" / "python"), "-c", _OV_SIDE,
                        str(tmp_path / "ensemble.onnx"), str(tmp_path / "q.npy"),
                        str(tmp_path / "ov.npz")], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    got = np.load(tmp_path / "ov.npz")
    assert ref.shape == (5, 3, grid, grid)
    assert np.ptp(ref, axis=1).max() > 1e-2 * np.abs(ref).max()  # the members differ
    for name in ("batched", "single", "chunked"):
        assert got[name].shape == ref.shape, name
        np.testing.assert_allclose(got[name], ref, rtol=0, atol=1e-5 * np.abs(ref).max(),
                                   err_msg=name)


def test_sparse_solve_residuals_and_direct_solution(tmp_path):
    from orchestrator.library.solvers import darcy

    run_dir = tmp_path / "run"
    res = _run("sparse-solve", run_dir)
    solve = res["solve"]
    assert solve["method"] == "amg" and solve["fields"] == 4
    task = run_dir / "tasks" / "solve"
    report = json.loads((task / "residuals.json").read_text())
    assert [f["residual"] <= 1e-10 for f in report["per_field"]] == [True] * 4, report
    assert all(0 < f["iterations"] < 50 for f in report["per_field"])
    fields = np.load(run_dir / "tasks" / "fields" / "fields.npz")["fields"]
    solutions = np.load(task / "solutions.npz")["solutions"]
    assert solutions.shape == fields.shape == (4, 64, 64)
    for field, u in zip(fields, solutions, strict=True):
        direct = darcy.solve_linear(field, "lognormal", "direct").u
        assert np.abs(u - direct).max() <= 1e-8 * np.abs(direct).max()


@pytest.mark.mpi
def test_mpi_stencil_on_two_ranks_equals_serial(tmp_path):
    from orchestrator.library.solvers import heat

    run_dir = tmp_path / "run"
    res = _run("mpi-stencil", run_dir)
    solve = res["solve_mpi"]
    assert solve["ranks"] == 2 and solve["converged"] and solve["backend"] == "numpy (inline)"
    task = run_dir / "tasks" / "solve_mpi"
    stats = json.loads((task / "stats.json").read_text())
    assert stats == {k: v for k, v in solve.items() if k != "file"}
    serial = heat.solve_serial(32, None, 1e-9, 200_000, check_every=10)
    distributed = np.load(task / "solution.npy")
    assert stats["iterations"] == serial.iterations
    assert np.array_equal(distributed, serial.u)
    assert stats["error"] < 1e-3  # O(h^2) against sin(pi x) sin(pi y)
