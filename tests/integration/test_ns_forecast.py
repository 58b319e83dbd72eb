"""ns-forecast for real on the laptop site, at a tiny size (16 x 16, 8 trajectories, 3
model steps, a few epochs): the solver sweep, the loop `refine` for two iterations
(target 0: it cannot converge), resolve's trajectories reaching the second train, the
evaluation's errors, timings and figures, and the HTML report embedding them.

The deepxde-pinn template's example runs in the same file: DeepXDE's PINN against the
finite-difference solve.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from needs import require

from .conftest import REPO, orch, results, wait_no_processes

pytestmark = pytest.mark.timeout(300)

WORKFLOW = REPO / "workflows" / "ns-forecast" / "workflow.yaml"
TINY = {"grid": 16, "n_samples": 8, "n_test": 2, "steps": 3, "spinup": 2.0, "epochs": 3,
        "n_candidates": 4, "max_add": 2, "max_iterations": 2, "target": 0.0, "width": 8,
        "modes": 8, "threads": 1, "spread_threshold": 0.0, "drift_threshold": 0.0}


def _require(module: str, hint: str) -> None:
    try:
        __import__(module)
    except ImportError:
        require(f"{module} is not installed ({hint})")


def test_ns_forecast_tiny_run(tmp_path):
    _require("torch", "pip install 'orchestrator[torch]'")
    run_dir = tmp_path / "run"
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    p = orch("run", str(WORKFLOW), "--site", "laptop", *sets, "--run-dir", str(run_dir), "-q",
             timeout=280)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "ended by max_iterations" in p.stdout + p.stderr
    assert not wait_no_processes(str(run_dir))
    res = results(run_dir)

    # the sweep: one trajectory per initial field, steps + 1 frames on the grid
    trajs = [np.load(res[f"simulate[{i}]"]["trajectory"]) for i in range(8)]
    assert all(t.shape == (4, 16, 16) and np.isfinite(t).all() for t in trajs)
    assert res["dataset"]["n_train"] == 6 and res["dataset"]["n_test"] == 2

    # the loop: thresholds 0 flag every candidate; resolve@1 simulates max_add of them and
    # train@2 trains on them too; the last iteration simulates nothing
    a1, r1, r2 = res["assess@1"], res["resolve@1"], res["resolve@2"]
    assert len(a1["selected"]) == 2 and r1["added"] == 2 and len(r1["data_files"]) == 2
    assert res["train@1"]["trajectories"] == 6 and res["train@2"]["trajectories"] == 8
    assert res["train@2"]["warm_start"] is True and res["train@1"]["warm_start"] is False
    assert set(res["assess@2"]["selected"]).isdisjoint(a1["selected"])
    assert r2["added"] == 0 and len(r2["data_files"]) == 2
    with np.load(r1["data_files"][1]) as added:
        assert added["train"].shape == (2, 4, 16, 16)

    # the evaluation: per-lead errors, timings of both, the loop's history
    ev = json.loads((run_dir / "tasks" / "evaluate" / "evaluation.json").read_text())
    assert len(ev["surrogate_errors"]) == len(ev["solver_errors"]) == 4
    # frame 0 is the initial field (the finer solve starts from it, lifted to 2x the grid)
    assert ev["solver_errors"][0] < 1e-3
    assert abs(ev["surrogate_errors"][0] - ev["solver_errors"][0]) < 1e-5
    assert 0 < ev["solver_errors"][-1] < 0.05  # the solver against its finer solve
    assert ev["surrogate_seconds"] > 0 and ev["solver_seconds"] > 0
    assert ev["iterations"] == 2 and [h["added"] for h in ev["history"]] == [2, 0]
    assert ev["ladder"] and all(r["grid"] in (16, 8) for r in ev["ladder"])
    summary = (run_dir / "tasks" / "evaluate" / "summary.txt").read_text()
    assert "speedup, same grid and step" in summary and "iteration 2:" in summary

    # the figures are SVG and the report embeds them
    for name in ("error_vs_lead.svg", "forecast.svg"):
        text = (run_dir / "tasks" / "evaluate" / name).read_text()
        assert text.startswith("<svg") and text.rstrip().endswith("</svg>")
    p = orch("report", str(run_dir))
    assert p.returncode == 0, p.stderr
    html = (run_dir / "report.html").read_text()
    assert 'data-file="error_vs_lead.svg"' in html and 'data-file="forecast.svg"' in html


def test_deepxde_pinn_template_against_the_solver(tmp_path):
    _require("torch", "pip install 'orchestrator[torch]'")
    _require("deepxde", "pip install 'orchestrator[deepxde]'")
    p = orch("templates", "test", "deepxde-pinn", "--run-dir", str(tmp_path / "run"),
             "--format", "json", timeout=280)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert json.loads(p.stdout)["ok"] is True
    res = results(tmp_path / "run")
    pinn = res["pinn"]
    assert pinn["backend"] == "pytorch" and pinn["iterations"] == 400
    # the solver is second-order accurate; the PINN within a few percent of it
    assert pinn["solver_error_vs_exact"] < 0.01
    assert pinn["error_vs_solver"] < 0.05, pinn
    pred = np.load(pinn["prediction"])["u"]
    assert pred.shape == (15, 15) and np.isfinite(pred).all()
