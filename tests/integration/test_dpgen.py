"""workflows/dpgen for real, small: DeePMD-kit trains an ensemble (`dp train`, `dp
freeze`), LAMMPS explores with `pair_style deepmd … out_file model_devi.out`, DP-GEN's
trust levels select frames, ASE's EMT labels them, and label's frames feed the next
iteration's training. Asserted: what the codes wrote (learning curves, model deviation
rows that match the dumped frames), that the explore runs used this iteration's models,
that the data grows by exactly what was labelled, and the report's table. A failed `lmp`
is a failed task whose status shows LAMMPS's own error.

Needs the `dpgen` environment (scripts/install-dpgen.sh, run by `make test`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from needs import require

from .conftest import REPO, journal, orch, results, wait_no_processes

pytestmark = [pytest.mark.timeout(600)]

WORKFLOW = REPO / "workflows" / "dpgen" / "workflow.yaml"
PREFIX = REPO / ".envs" / "dpgen"
SMALL = {"ensemble_size": 2, "train_steps": 200, "md_steps": 300, "frame_every": 30,
         "n_init": 6, "test_per_temperature": 1, "max_iterations": 2, "max_select": 6,
         "label_shards": 2, "trust_lo": 0.02, "trust_hi": 5.0, "compare_seeds": 1,
         "md_ranks": 2}


def _require_env() -> None:
    ok = (PREFIX / "bin" / "dp").exists() and (PREFIX / "bin" / "lmp").exists()
    require(None if ok else f"the dpgen environment is not installed at {PREFIX} "
            "(bash scripts/install-dpgen.sh)")


def _sets(values: dict[str, object]) -> list[str]:
    return [a for k, v in values.items() for a in ("--set", f"{k}={v}")]


# ~6 min on 2 cores: in `make test-reliability` (CI runs it), so `make test` stays ~20 min
@pytest.mark.slow_reliability
def test_dpgen_loop_runs_the_real_codes_and_feeds_labels_back(tmp_path):
    _require_env()
    run_dir = tmp_path / "run"
    p = orch("run", str(WORKFLOW), "--site", "laptop", *_sets(SMALL), "--run-dir",
             str(run_dir), "--format", "json", timeout=560)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert not wait_no_processes(str(run_dir))
    loop = json.loads(p.stdout)["loops"]["al"]
    n = loop["iterations"]
    assert 1 <= n <= SMALL["max_iterations"]
    res = results(run_dir)
    tasks = run_dir / "tasks"

    for it in range(1, n + 1):
        models = []
        for m in range(SMALL["ensemble_size"]):
            d = tasks / f"train[{m}]@{it}"
            # dp really trained (its learning curve reached the last step) and froze
            rows = [x for x in (d / "lcurve.out").read_text().splitlines()
                    if x.strip() and not x.startswith("#")]
            assert int(float(rows[-1].split()[0])) == SMALL["train_steps"]
            assert (d / "graph.pb").stat().st_size > 10_000
            models.append(str(d / "graph.pb"))
        select = res[f"select@{it}"]
        for w in range(4):                               # 2 temperatures x 2 pressures
            d = tasks / f"explore[{w}]@{it}"
            text = (d / "in.lammps").read_text()
            assert f"pair_style deepmd {' '.join(models)} out_freq 30" in text
            log = (d / "log.lammps").read_text()
            assert "Loop time" in log and "on 2 procs" in log  # LAMMPS finished, 2 MPI ranks
            devi = np.loadtxt(d / "model_devi.out", ndmin=2)
            assert devi.shape[0] == SMALL["md_steps"] // 30 + 1
            with np.load(d / "frames.npz") as f:
                assert f["positions"].shape == (len(devi), 32, 3)
                assert np.allclose(f["deviation"], devi[:, 4])   # max_devi_f
        fr = [select[k] for k in ("accurate_fraction", "candidate_fraction",
                                  "failed_fraction")]
        assert sum(fr) == pytest.approx(1.0)
        assert select["frames"] == 4 * (SMALL["md_steps"] // 30 + 1)
        assert select["selected"] == min(SMALL["max_select"], select["candidates"])
        assert select["temperatures"] == [300.0 + 200 * (it - 1), 600.0 + 200 * (it - 1)]
        labelled = sum(res[f"label[{s}]@{it}"]["labelled"] for s in range(2))
        assert labelled == select["selected"]
        if it < n:   # the next iteration trains on init + everything labelled so far
            train_next = res[f"train[0]@{it + 1}"]
            assert train_next["train_frames"] == select["train_frames"] + labelled

    # the comparison: the same budget, three ways of choosing the frames
    labelled_all = sum(res[f"label[{s}]@{it}"]["labelled"] for s in range(2)
                       for it in range(1, n + 1))
    index = {res[f"baseline[{i}]"]["strategy"]: i for i in range(3)}
    base = {name: res[f"baseline[{i}]"] for name, i in index.items()}
    assert set(base) == {"loop", "uniform", "md"}
    assert base["loop"]["new_reference_calls"] == 0
    for name in ("uniform", "md"):
        assert base[name]["new_reference_calls"] == labelled_all == base[name]["labelled"]
        with np.load(tasks / f"baseline[{index[name]}]" / "labels.npz") as f:
            assert len(f["energies"]) == labelled_all
    for r in base.values():
        assert r["train_frames"] == SMALL["n_init"] + labelled_all
        assert 0 < r["test_force_rmse"] < 5

    rep = res["report"]
    assert rep["iterations"] == n
    assert 0 < rep["final_test_force_rmse"] < 5
    body = json.loads((tasks / "report" / "report.json").read_text())
    assert [h["iteration"] for h in body["history"]] == list(range(1, n + 1))
    assert body["reference_calls"]["init"] == SMALL["n_init"]
    assert body["reference_calls"]["test"] == 4 * SMALL["test_per_temperature"]
    summary = (tasks / "report" / "summary.txt").read_text()
    assert "accur." in summary and ("converged" in summary)
    assert "comparison at the same budget" in summary and "uniform" in summary
    assert set(body["comparison"]) == {"loop", "uniform", "md"}
    if rep["converged"]:
        assert loop["reason"] == "condition"
    met = [e["met"] for e in journal(run_dir) if e["ev"] == "loop_iteration"]
    assert len(met) == n and not any(met[:-1])

    # the HTML report: DP-GEN's plot, and the lineage dataset -> models -> MD -> labels
    r = orch("report", str(run_dir), "-o", str(tmp_path / "report.html"))
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "dpgen.png" in html
    from orchestrator.state.results import results_by_task
    model_sha = results_by_task(run_dir)["train[0]@1"]["files"]["graph.pb"][0]
    assert model_sha[:10] in html                      # the model, by its content hash
    assert "explore[0]@1" in html and "select@1" in html
    if n > 1:
        assert "label[0]@1" in html and "train[0]@2" in html   # labels fed the next models


FAKE_TRAIN = '''
from pathlib import Path

def train(member, context=None, **_):
    bad = Path(context["task_dir"]) / "graph.pb"
    bad.write_text("this is not a frozen DeePMD-kit model")
    return {"member": member, "model": str(bad), "train_frames": 0,
            "train_seconds": 0.0, "freeze_seconds": 0.0}
'''

BROKEN = """\
apiVersion: orchestrator/v1
name: broken-lammps
include: [lammps-md]
stages:
  train:
    python: fake_train:train
    sweep: {values: {member: [0, 1]}}
    args: {member: "${sweep.member}"}
    outputs: [graph.pb]
  explore:                  # the lammps-md step, once
    needs: [train]
    sweep: null
    args: {temperature: 300, pressure: null, steps: 20, every: 10, structure: conf.npz}
"""


def test_a_failed_lmp_is_a_failed_task_showing_lammps_error(tmp_path):
    _require_env()
    (tmp_path / "fake_train.py").write_text(FAKE_TRAIN)
    (tmp_path / "wf.yaml").write_text(BROKEN.replace("conf.npz", str(tmp_path / "conf.npz")))
    a = 3.59   # an fcc Cu cell, in the step library's frame format
    np.savez(tmp_path / "conf.npz", positions=np.array([[[0, 0, 0], [0, a / 2, a / 2],
                                                         [a / 2, 0, a / 2], [a / 2, a / 2, 0]]]),
             cells=np.eye(3)[None] * a, symbols=np.array(["Cu"] * 4))
    run_dir = tmp_path / "run"
    p = orch("run", str(tmp_path / "wf.yaml"), "--site", "laptop", "--run-dir", str(run_dir),
             timeout=300)
    assert p.returncode == 3, p.stdout[-2000:] + p.stderr[-2000:]
    s = orch("status", str(run_dir), "--format", "json")
    task = {t["id"]: t for t in json.loads(s.stdout)["tasks"]}["explore"]
    assert task["state"] == "failed"
    # the error is the stage's own exception, carrying LAMMPS's error line
    assert task["error"].startswith(
        "CodeFailed: `lmp -in in.lammps -log log.lammps` exited with 1"), task["error"]
    assert "ERROR on proc 0: DeePMD-kit C API Error" in task["error"]
    out = Path(run_dir / "tasks" / "explore" / "lmp.out").read_text()
    assert "ERROR on proc 0" in out                       # LAMMPS's own log, kept


CP2K_LABEL = """
import json, sys
import numpy as np
from ase.build import bulk
from dpgen_cu import reference
atoms = bulk("Cu", "fcc", a=3.63, cubic=True)
atoms.rattle(0.05, seed=1)
r = reference.label(atoms.positions[None], atoms.cell.array[None], "cp2k")
print(json.dumps({"energy": float(r["energies"][0]), "forces": r["forces"][0].tolist(),
                  "virial": r["virials"][0].tolist(), "seconds": float(r["seconds"][0])}))
"""


def test_the_cp2k_reference_runs_dft_through_the_sites_command(tmp_path):
    """reference=cp2k: ASE's CP2K calculator drives the binary that ASE_CP2K_COMMAND
    names (a site sets it in the dpgen environment); one 4-atom Cu cell, PBE."""
    import shutil
    import subprocess

    _require_env()
    require(None if shutil.which("cp2k_shell") else
            "cp2k_shell is not installed (scripts/install-dpgen.sh installs Debian's cp2k)")
    env = {**os.environ, "ASE_CP2K_COMMAND": "cp2k_shell", "OMP_NUM_THREADS": "2",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "workflows" / "dpgen")])}
    p = subprocess.run([str(PREFIX / "bin" / "python"), "-c", CP2K_LABEL], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert -1310 < out["energy"] / 4 < -1305                 # eV/atom, PBE with GTH
    forces = np.array(out["forces"])
    assert forces.shape == (4, 3) and 0.05 < np.abs(forces).max() < 3   # rattled: not 0
    assert np.isfinite(out["virial"]).all()
    assert (tmp_path / ".cp2k").is_dir()          # CP2K ran here, in the task's directory
