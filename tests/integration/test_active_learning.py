"""active-learning for real on the laptop site, at small settings: an ensemble of learned
pair potentials, MD through the kernel layer on the xpu worker, selection by force
deviation, exact labels fed back to training, until the loop's data condition holds.

What is asserted is the science, not only that tasks ran: data grows by what label
produced, the ensemble's force error on the fixed test set falls, and the loop stops
because `uncertain_fraction < converge_fraction`, before max_iterations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import REPO, journal, orch, results, wait_no_processes

pytestmark = [pytest.mark.timeout(600), pytest.mark.xpu]

WORKFLOW = REPO / "workflows" / "active-learning" / "workflow.yaml"
SMALL = {"n_atoms": 32, "cutoff": 1.6, "n_init": 12, "ensemble_size": 2, "n_walkers": 2,
         "md_steps": 600, "frame_every": 20, "epochs": 300, "max_select": 20,
         "label_shards": 2, "trust_lo": 0.3, "trust_hi": 3.0, "converge_fraction": 0.25,
         "max_iterations": 4}


def _sets(**extra: object) -> list[str]:
    out: list[str] = []
    for k, v in {**SMALL, **extra}.items():
        out += ["--set", f"{k}={v}"]
    return out


def test_active_learning_small_run_stops_by_its_condition(tmp_path):
    from .test_heat_surrogate import _require_torch

    _require_torch()
    run_dir = tmp_path / "run"
    p = orch("run", str(WORKFLOW), "--site", "laptop", *_sets(), "--run-dir", str(run_dir),
             "--format", "json", timeout=540)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = json.loads(p.stdout)
    loop = out["loops"]["al"]
    res = results(run_dir)
    assert not wait_no_processes(str(run_dir))

    # the loop ended by its data condition, before max_iterations
    assert loop["reason"] == "condition", loop
    n = loop["iterations"]
    assert 1 <= n < SMALL["max_iterations"]
    met = [e["met"] for e in journal(run_dir) if e["ev"] == "loop_iteration"]
    assert met == [False] * (n - 1) + [True]
    rep = res["report"]
    assert rep["converged"] and rep["iterations"] == n
    assert rep["uncertain_fraction"] < SMALL["converge_fraction"]
    body = json.loads((run_dir / "tasks" / "report" / "report.json").read_text())
    history = body["history"]
    assert [h["iteration"] for h in history] == list(range(1, n + 1))

    # every iteration: the trust window partitions the frames; what select picked is what
    # label labelled; the next iteration trains on exactly that much more data
    for it, h in enumerate(history, start=1):
        assert h["accurate"] + h["candidates"] + h["failed"] == h["frames"] > 0
        assert h["selected"] == min(h["candidates"], SMALL["max_select"])
        labelled = sum(res[f"label[{s}]@{it}"]["labelled"] for s in range(2))
        assert labelled == h["selected"]
        assert h["train_frames"] == res[f"train[0]@{it}"]["n_frames"]
        if it > 1:
            assert h["train_frames"] == history[it - 2]["train_frames"] + \
                history[it - 2]["selected"]
    assert history[0]["train_frames"] == SMALL["n_init"]

    # the learning curve: the ensemble's force error on the fixed test set falls
    first, last = history[0]["test_force_rmse"], history[-1]["test_force_rmse"]
    if n > 1:
        assert last < first, history
    assert last < 0.15 * history[-1]["test_force_rms"], history[-1]

    # MD ran through the kernel layer on the xpu worker's SYCL device
    walkers = [v for k, v in res.items() if k.startswith("explore[")]
    assert len(walkers) == 2 * n
    assert all(w["backend"].startswith("sycl") for w in walkers), walkers[0]["backend"]
    assert all(w["n_frames"] >= 1 for w in walkers)
    with np.load(res["init_data"]["test_set"]) as data:
        assert data["forces"].shape[1:] == (SMALL["n_atoms"], 3)
    assert (run_dir / "tasks" / "report" / "summary.txt").read_text().count("\n") == n + 2
