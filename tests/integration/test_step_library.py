"""The step library for real: each template's example (workflows/templates/{ase-label,
deepmd-train,lammps-md}/example.yaml) runs on the laptop site with the real codes (ASE's
EMT and tblite's GFN1-xTB, DeePMD-kit's `dp train`/`dp freeze`, LAMMPS with `pair_style
deepmd`), and what each step declares is there with sensible content: labels of the
right shapes that conserve momentum, a frozen model per member with its learning curve,
model_devi.out with DP-GEN's seven columns, the dumped frames at its rows and the
summary of the deviation.

Needs the `dpgen` environment (scripts/install-dpgen.sh, run by `make test`), which the
laptop site's `deepmd`, `lammps` and `ase` environments all point at; skipped without
it, failed with CI=true."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from needs import require

from .conftest import REPO, orch, results, wait_no_processes

pytestmark = [pytest.mark.timeout(400)]

TEMPLATES = REPO / "workflows" / "templates"
PREFIX = REPO / ".envs" / "dpgen"
DEVI_COLUMNS = ["step", "max_devi_v", "min_devi_v", "avg_devi_v", "max_devi_f", "min_devi_f",
                "avg_devi_f"]


def _require_env() -> None:
    ok = (PREFIX / "bin" / "dp").exists() and (PREFIX / "bin" / "lmp").exists()
    require(None if ok else f"the dpgen environment is not installed at {PREFIX} "
            "(bash scripts/install-dpgen.sh)")


def _run(step: str, run_dir: Path, *sets: str) -> dict:
    """Run the step's example; the tasks' results."""
    _require_env()
    args = [a for s in sets for a in ("--set", s)]
    p = orch("run", str(TEMPLATES / step / "example.yaml"), "--site", "laptop", *args,
             "--run-dir", str(run_dir), timeout=360)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert not wait_no_processes(str(run_dir))
    return results(run_dir)


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_ase_label_labels_each_frame_once_by_shard_with_emt_or_xtb(tmp_path):
    res = _run("ase-label", tmp_path / "emt")
    tasks = tmp_path / "emt" / "tasks"
    frames = _npz(tasks / "structures" / "frames.npz")
    assert frames["positions"].shape == (6, 32, 3) and list(frames["symbols"]) == ["Cu"] * 32
    for shard in (0, 1):
        got = _npz(tasks / f"label[{shard}]" / "labels.npz")
        assert np.allclose(got["positions"], frames["positions"][shard::2])  # its share
        assert got["energies"].shape == (3,) and got["forces"].shape == (3, 32, 3)
        assert got["virials"].shape == (3, 3, 3)
        assert np.isfinite(got["forces"]).all() and np.isfinite(got["energies"]).all()
        assert np.abs(got["forces"].sum(axis=1)).max() < 1e-6     # no net force
        assert 0.05 < np.abs(got["forces"]).max() < 10            # perturbed: not zero
        assert np.abs(got["energies"] / 32).max() < 1.0           # EMT: ~0 eV/atom at 3.59 Å
        rec = res[f"label[{shard}]"]
        assert rec["labelled"] == 3 and rec["reference"] == "emt"
        assert rec["data_files"] == [str((tasks / f"label[{shard}]" / "labels.npz").resolve())]

    res = _run("ase-label", tmp_path / "xtb", "reference=xtb", "n_cells=1", "n_frames=2")
    got = _npz(tmp_path / "xtb" / "tasks" / "label[1]" / "labels.npz")
    assert got["forces"].shape == (1, 4, 3) and res["label[1]"]["reference"] == "xtb"
    assert got["energies"][0] / 4 < -50        # GFN1-xTB's total energy, ~-120 eV/atom


def test_deepmd_train_freezes_one_model_per_member_on_the_labels(tmp_path):
    res = _run("deepmd-train", tmp_path / "run")
    tasks = tmp_path / "run" / "tasks"
    labels = str((tasks / "label[0]" / "labels.npz").resolve())
    seeds = set()
    for member in (0, 1):
        d = tasks / f"train[{member}]"
        rows = [x.split() for x in (d / "lcurve.out").read_text().splitlines()
                if x.strip() and not x.startswith("#")]
        assert int(float(rows[-1][0])) == 50                     # train_steps of the example
        assert (d / "graph.pb").stat().st_size > 10_000          # a frozen model
        config = json.loads((d / "input.json").read_text())
        assert config["model"]["type_map"] == ["Cu"]
        seeds.add(config["model"]["descriptor"]["seed"])
        assert np.load(d / "data" / "set.000" / "coord.npy").shape == (8, 96)
        rec = res[f"train[{member}]"]
        assert rec["model"] == str((d / "graph.pb").resolve()) and rec["train_frames"] == 8
        assert rec["data_files"] == [labels]       # the staged input, resolved to its file
        assert rec["lcurve"]["step"] == 50 and rec["lcurve"]["rmse_f_trn"] > 0
    assert len(seeds) == 2                                       # an ensemble: two seeds


def test_lammps_md_writes_model_deviation_over_the_ensemble(tmp_path):
    res = _run("lammps-md", tmp_path / "run")
    tasks = tmp_path / "run" / "tasks"
    models = [str((tasks / f"train[{m}]" / "graph.pb").resolve()) for m in (0, 1)]
    for i, temperature in enumerate((300.0, 600.0)):
        d = tasks / f"explore[{i}]"
        assert f"pair_style deepmd {' '.join(models)} out_freq 10" in (
            d / "in.lammps").read_text()
        assert "Loop time" in (d / "log.lammps").read_text()    # LAMMPS finished
        text = (d / "model_devi.out").read_text().splitlines()
        assert text[0].lstrip("#").split() == DEVI_COLUMNS
        devi = np.loadtxt(d / "model_devi.out", ndmin=2)
        assert devi.shape == (100 // 10 + 1, 7)                  # md_steps / frame_every + 1
        assert devi[:, 0].tolist() == list(range(0, 101, 10))
        assert (devi[1:, 4] > 0).all() and (devi[:, 4] >= devi[:, 6]).all()  # max >= avg
        frames = _npz(d / "frames.npz")
        assert frames["positions"].shape == (len(devi), 32, 3)
        assert np.allclose(frames["deviation"], devi[:, 4])      # each row has its frame
        assert frames["steps"].tolist() == devi[:, 0].tolist()
        summary = json.loads((d / "model_devi.json").read_text())
        assert summary["frames"] == len(devi) and summary["models"] == models
        assert summary["max_devi_f"]["max"] == pytest.approx(devi[:, 4].max())
        assert summary["temperature"] == temperature and summary["pressure"] == 1.0
        fractions = [summary[f"{c}_fraction"] for c in ("accurate", "candidate", "failed")]
        assert sum(fractions) == pytest.approx(1.0)
        rec = res[f"explore[{i}]"]
        assert rec["temperature"] == temperature and rec["frames"] == len(devi)
        assert rec["models"] == models
