"""heat-surrogate for real on the laptop site, at small settings: solver sweep, dataset,
an FNO ensemble, held-out evaluation and the coupled solve with its trust check.

One run (about a minute on two cores) with a trust threshold so low that every query
must go to the solver, then two more couples from the same models by `--resume` (only
couple reruns): a generous threshold without the residual check (everything accepted),
and with it (the shifted inputs go to the solver because of their residual).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from .conftest import REPO, journal, orch, results, wait_no_processes

pytestmark = pytest.mark.timeout(900)  # ~2 min alone; minutes more on a loaded machine

WORKFLOW = REPO / "workflows" / "heat-surrogate" / "workflow.yaml"
SMALL = {"grid": 16, "n_samples": 132, "n_test": 12, "epochs": 60, "ensemble_size": 3,
         "n_queries": 12, "shifted_queries": 4, "width": 12, "modes": 6,
         "correlation_length": 0.2, "learning_rate": 5e-3, "batch_size": 10}


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail("torch is not installed (CI=true: this test must run)", pytrace=False)
        pytest.skip("torch is not installed (pip install 'orchestrator[torch]')")


def _sets(**extra: object) -> list[str]:
    out: list[str] = []
    for k, v in {**SMALL, **extra}.items():
        out += ["--set", f"{k}={v}"]
    return out


def test_heat_surrogate_small_run(tmp_path):
    _require_torch()
    run_dir = tmp_path / "run"
    n, n_test, members, queries = (SMALL["n_samples"], SMALL["n_test"], SMALL["ensemble_size"],
                                   SMALL["n_queries"])
    p = orch("run", str(WORKFLOW), "--site", "laptop", *_sets(trust_threshold=1e-6),
             "--run-dir", str(run_dir), "-q", timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    res = results(run_dir)
    assert not wait_no_processes(str(run_dir))

    # sample and simulate: every field solved to the tolerance, solutions on disk
    sims = [res[f"simulate[{i}]"] for i in range(n)]
    assert all(s["residual"] <= 1e-6 and s["solver"] == "cg" for s in sims)
    assert all(np.load(s["solution"]).shape == (16, 16) for s in sims)
    assert res["sample"]["seed"] == 0 and res["sample"]["kind"] == "lognormal"
    assert res["dataset"]["n_train"] == n - n_test and res["dataset"]["n_test"] == n_test

    # train: one task per member, loss recorded per epoch and falling
    for m in range(members):
        t = res[f"train[{m}]"]
        assert len(t["loss"]) == SMALL["epochs"] and t["loss"][-1] < 0.5 * t["loss"][0]
        assert (run_dir / "tasks" / f"train[{m}]" / "model.pt").is_file()

    # evaluate: an error bound fit for 120 samples and 60 epochs on a 16 x 16 grid, on
    # fresh test fields; claims against the fastest solver at the discretisation error
    ev = res["evaluate"]
    assert ev["members"] == members
    assert ev["n_test"] == 256 and ev["n_calibration"] == 256
    assert ev["error"]["mean"] < 0.08, ev["error"]
    lo, hi = ev["error"]["mean_ci95"]
    assert lo < ev["error"]["mean"] < hi
    here = ev["seconds"]["solve_here"]
    assert set(here) == {"direct", "amg", "cg"} and ev["fastest"] == min(here, key=here.get)
    assert ev["speedup"] == pytest.approx(here[ev["fastest"]] / ev["seconds"]["inference"])
    assert (ev["break_even"] is None) == (ev["speedup"] <= 1)
    assert ev["calibration"]["factor"] > 0 and 0 <= ev["calibration"]["test_coverage"] <= 1
    assert ev["trust"]["kind"] == "in-distribution indicator"
    assert json.loads((run_dir / "tasks" / "evaluate" / "evaluation.json").read_text()) == ev

    # export and infer (the surrogate-infer step): the members as one ONNX graph, run
    # by OpenVINO on the laptop (its gpu falls back to cpu: backend auto picks OpenVINO),
    # whose answers are what couple routes
    assert res["export"]["members"] == members  # in member order (staged into inputs/)
    assert [p.rsplit("/", 2)[-2:] for p in res["export"]["models"]] == [
        [f"train[{m}]", "model.pt"] for m in range(members)]
    inf = res["infer"]
    assert inf["backend"] == "openvino" and inf["asked"] == "auto", inf
    assert inf["queries"] == queries and inf["members"] == members
    pred = dict(np.load(run_dir / "tasks" / "infer" / "predictions.npz"))  # read now
    assert pred["members"].shape == (queries, members, 16, 16)
    asked = np.load(run_dir / "tasks" / "queries" / "queries.npz")
    assert asked["fields"].shape == (queries, 16, 16)

    # couple: a threshold nobody meets routes every query to the solver
    co = res["couple"]
    assert co["inference"]["backend"] == "openvino"
    assert co["seconds"]["inference"] == pytest.approx(inf["seconds_per_sample"] * queries)
    assert co["routed"] == co["queries"] == queries and co["accepted"] == 0
    assert co["routed_fraction"] == 1.0
    coupled = np.load(run_dir / "tasks" / "couple" / "coupled.npz")
    assert coupled["answers"].shape == (queries, 16, 16) and not coupled["accepted"].any()
    summary = (run_dir / "tasks" / "couple" / "summary.txt").read_text()
    assert "break-even N*" in summary and f"{queries} routed to {ev['fastest']}" in summary

    # the same models with a generous threshold: resume reruns couple only
    p = orch("run", str(WORKFLOW), "--site", "laptop",
             *_sets(trust_threshold=10.0, residual_margin=0),
             "--resume", str(run_dir), "-q", timeout=200)
    assert p.returncode == 0, p.stdout + p.stderr
    submitted = [e["task"] for e in journal(run_dir) if e["ev"] == "task_submitted"]
    assert submitted.count("couple") == 2 and submitted.count("train[0]") == 1
    assert submitted.count("infer") == 1 and submitted.count("export") == 1
    co = results(run_dir)["couple"]
    assert co["routed"] == 0 and co["accepted"] == queries
    # every answer accepted: they are OpenVINO's ensemble mean, as infer wrote it
    answers = np.load(run_dir / "tasks" / "couple" / "coupled.npz")["answers"]
    assert np.array_equal(answers, pred["mean"])
    same, shifted = co["in_distribution"], co["shifted"]
    assert same["queries"] == queries - SMALL["shifted_queries"]
    assert shifted["queries"] == SMALL["shifted_queries"]
    assert same["accepted_error"]["max"] < 0.15
    # inputs with 3x the training contrast: the surrogate is worse there, and the trust
    # estimate (calibrated ensemble spread) says so
    assert shifted["surrogate_error_mean"] > 1.5 * same["surrogate_error_mean"]
    estimate = np.load(run_dir / "tasks" / "couple" / "coupled.npz")["estimate"]
    split = same["queries"]
    assert estimate[split:].mean() > 1.5 * estimate[:split].mean()
    assert co["residual_limit"] is None and co["routed_by_residual"] == 0

    # the residual check on (the default margin), the spread still trusting everything:
    # predictions for the shifted inputs violate the equations more than any held-out one
    # (--set values carry over on a resume: --unset returns the margin to its default)
    p = orch("run", str(WORKFLOW), "--site", "laptop", *_sets(trust_threshold=10.0),
             "--unset", "residual_margin", "--resume", str(run_dir), "-q", timeout=200)
    assert p.returncode == 0, p.stdout + p.stderr
    co = results(run_dir)["couple"]
    assert co["residual_limit"] == pytest.approx(1.25 * ev["residual"]["calibration_max"])
    assert co["routed_by_residual"] == co["routed"]
    assert co["shifted"]["routed"] == SMALL["shifted_queries"], co["shifted"]
    assert co["in_distribution"]["routed"] <= 1, co["in_distribution"]
    residual = np.load(run_dir / "tasks" / "couple" / "coupled.npz")["residual"]
    assert residual[split:].min() > residual[:split].max(), residual

    # the same workflow with torch answering (the backend a gpu pool gets; forced here,
    # in an environment of the laptop that has torch): only infer and couple rerun, and
    # torch's predictions are OpenVINO's to float32 round-off
    routed_ov = np.load(run_dir / "tasks" / "couple" / "coupled.npz")["accepted"]
    p = orch("run", str(WORKFLOW), "--site", "laptop", *_sets(trust_threshold=10.0),
             "--set", "backend=torch",
             "--set", "environment=solver", "--resume", str(run_dir), "-q", timeout=200)
    assert p.returncode == 0, p.stdout + p.stderr
    res = results(run_dir)
    assert res["infer"]["backend"] == "torch" and res["couple"]["inference"]["backend"] == "torch"
    submitted = [e["task"] for e in journal(run_dir) if e["ev"] == "task_submitted"]
    assert submitted.count("infer") == 2 and submitted.count("export") == 1
    assert submitted.count("train[0]") == 1
    by_torch = np.load(run_dir / "tasks" / "infer" / "predictions.npz")["members"]
    scale = np.abs(pred["members"]).max()
    assert np.abs(by_torch - pred["members"]).max() <= 1e-4 * scale
    routed_torch = np.load(run_dir / "tasks" / "couple" / "coupled.npz")["accepted"]
    assert (routed_torch != routed_ov).sum() <= 1
