"""The active-learning workflow's building blocks that need no torch: lattices, the
linear maps training uses, and the model deviation MD reports."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflows" / "active-learning"))

from lj_al import md, potential, system

from orchestrator.library.kernels import PairTable, lj_numpy, table_numpy


def _lj_table(cutoff: float) -> PairTable:
    r0, dr = potential.grid(cutoff)
    r = r0 + dr * np.arange(potential.POINTS)
    s6, c6 = r ** -6, cutoff ** -6
    return PairTable(r0, dr, 4 * (s6 * s6 - s6) - 4 * (c6 * c6 - c6),
                     24 * (2 * s6 * s6 - s6) / r ** 2)


def _frames(m: int = 3, n_atoms: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    pos, box = [], []
    for _ in range(m):
        p, b = system.fcc(n_atoms, rng.uniform(0.7, 0.95))
        pos.append((p + rng.normal(0, 0.05, p.shape)) % b)
        box.append(b)
    return np.array(pos), np.array(box)


def test_fcc_lattice_has_its_density_and_no_close_pairs():
    pos, box = system.fcc(108, 0.8)
    assert pos.shape == (108, 3) and box == pytest.approx((108 / 0.8) ** (1 / 3))
    assert ((pos >= 0) & (pos < box)).all()
    assert md.min_distance(pos, box) == pytest.approx(box / 3 / np.sqrt(2))
    with pytest.raises(ValueError, match="4 k"):
        system.fcc(100, 0.8)


def test_training_maps_reproduce_the_reference_with_the_exact_table():
    """Energies and forces are linear in the tables: with the LJ potential itself on the
    grid, the maps training uses give the reference to interpolation accuracy."""
    from scipy import sparse

    cutoff = 1.6
    pos, box = _frames()
    geo = potential.pair_geometry(pos, box, cutoff)
    table = _lj_table(cutoff)
    a_f = sparse.coo_matrix((geo["vals"], (geo["rows"], geo["cols"])), shape=geo["shape"])
    for m in range(len(pos)):
        ref_f, ref_e = lj_numpy(pos[m], box[m], cutoff, shift=True)
        assert geo["a_e"][m] @ table.energy * 32 == pytest.approx(ref_e, rel=1e-3, abs=1e-3)
        f = (a_f @ table.force).reshape(len(pos), 32, 3)[m]
        assert np.abs(f - ref_f).max() < 1e-3 * np.abs(ref_f).max()
        # and the MD kernel interpolates the same table the same way
        tab_f, _ = table_numpy(pos[m], box[m], cutoff, table)
        assert np.abs(tab_f - f).max() < 1e-9 * np.abs(ref_f).max()


def test_model_deviation_is_zero_for_identical_members_and_grows_with_disagreement():
    cutoff = 1.6
    pos, box = _frames(1)
    table = _lj_table(cutoff)
    assert md.model_deviation(pos[0], box[0], cutoff, [table, table], "numpy") == 0.0
    other = PairTable(table.r0, table.dr, table.energy, table.force * 1.01)
    f, _ = table_numpy(pos[0], box[0], cutoff, table)
    devi = md.model_deviation(pos[0], box[0], cutoff, [table, other], "numpy")
    # two members: the deviation of atom i is half the difference of their forces
    assert devi == pytest.approx(0.005 * np.linalg.norm(f, axis=1).max(), rel=1e-9)


def test_mean_table_gives_the_mean_force():
    cutoff = 1.6
    pos, box = _frames(1)
    a = _lj_table(cutoff)
    b = PairTable(a.r0, a.dr, a.energy * 0.5, a.force * 0.5)
    fa, _ = table_numpy(pos[0], box[0], cutoff, a)
    fb, _ = table_numpy(pos[0], box[0], cutoff, b)
    fm, _ = table_numpy(pos[0], box[0], cutoff, potential.mean_table([a, b]))
    assert np.allclose(fm, (fa + fb) / 2)


def test_label_writes_its_declared_output_when_nothing_was_selected(tmp_path):
    """A converged iteration may select nothing: label still writes labels.npz (empty) and
    adds no data file."""
    from lj_al import label

    sel_file = tmp_path / "selected.npz"
    system.save_frames(sel_file, positions=np.zeros((0, 32, 3)), box=np.zeros(0))
    sel = {"selected_file": str(sel_file), "data_files": ["init.npz"], "history": [],
           "model_files": {}}
    out = label.label(0, 2, 1.6, results={"select": [sel]},
                      context={"task_dir": str(tmp_path)})
    assert out["labelled"] == 0 and out["data_files"] == ["init.npz"]
    with np.load(tmp_path / "labels.npz") as data:
        assert data["positions"].shape == (0, 32, 3) and data["energy"].shape == (0,)
