"""The FNO paper's Darcy preset (benchmarks/fno_paper.py): its two-phase field, the solve on
a finer grid subsampled to s, and its settings pinned to the paper's (Li et al. 2021,
section 5.2) so that they cannot drift silently.

torch tests skip when torch is missing, and fail instead when CI=true.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from orchestrator.library import fields
from orchestrator.library.solvers import darcy

REPO = Path(__file__).resolve().parents[2]


def preset():
    spec = importlib.util.spec_from_file_location("fno_paper", REPO / "benchmarks" / "fno_paper.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- the field


def test_paper_field_is_two_phase_3_and_12_reproducible_and_balanced():
    a = fields.paper_field(85, seed=0, stream=0, index=3)
    assert a.shape == (85, 85)
    assert set(np.unique(a)) == {3.0, 12.0}
    np.testing.assert_array_equal(a, fields.paper_field(85, 0, 0, 3))
    assert not np.array_equal(a, fields.paper_field(85, 0, 1, 3))  # streams differ
    # psi has mean zero: over many fields each phase covers about half the square
    share = np.mean([(fields.paper_field(65, 0, 0, i) == 12).mean() for i in range(40)])
    assert 0.4 < share < 0.6


def test_neumann_grf_has_the_papers_spectrum_and_no_mean():
    """The cosine coefficients of psi are xi_k tau (pi^2 |k|^2 + tau^2)^-1 (alpha 2, tau 3)
    times the grid size, so the orthonormal DCT of many draws has that standard deviation."""
    from scipy.fft import dctn

    n = 32
    coeffs = np.stack([dctn(fields.neumann_grf(n, np.random.default_rng(i)), type=2,
                            norm="ortho") for i in range(400)])
    assert np.abs(coeffs[:, 0, 0]).max() < 1e-9  # the mean mode is dropped
    for k1, k2 in [(0, 1), (1, 1), (3, 2)]:
        expected = n * 3.0 / (np.pi**2 * (k1**2 + k2**2) + 9.0)
        assert coeffs[:, k1, k2].std() == pytest.approx(expected, rel=0.15)


# ---------------------------------------------------------------- fine solve, subsampled


def test_refined_points_is_the_papers_421_for_85():
    assert darcy.refined_points(85, 5) == 421
    a = fields.paper_field(darcy.refined_points(9, 4), 0, 0, 0)
    u = darcy.solve_subsampled(a, 4)
    assert u.shape == (9, 9)
    assert np.all(u[0] == 0) and np.all(u[-1] == 0) and np.all(u[:, 0] == 0)
    assert u[1:-1, 1:-1].min() > 0
    with pytest.raises(ValueError, match="must divide"):
        darcy.solve_subsampled(a, 3)  # 32 is not a multiple of 3


def disc_field(points: int) -> np.ndarray:
    """A two-phase field defined in the continuum (12 in a disc, 3 outside), sampled on
    the grid x_i = i / (points - 1): the same coefficient at every resolution."""
    x = np.linspace(0.0, 1.0, points)
    inside = (x[:, None] - 0.45) ** 2 + (x[None, :] - 0.55) ** 2 < 0.3**2
    return np.where(inside, 12.0, 3.0)


def test_subsampled_fine_solve_is_closer_to_a_much_finer_solve_than_a_direct_solve():
    s = 17
    reference = darcy.solve_subsampled(disc_field(darcy.refined_points(s, 16)), 16)
    fine = darcy.solve_subsampled(disc_field(darcy.refined_points(s, 4)), 4)
    direct = darcy.solve_subsampled(disc_field(s), 1)
    norm = np.linalg.norm(reference)
    err_fine = np.linalg.norm(fine - reference) / norm
    err_direct = np.linalg.norm(direct - reference) / norm
    assert err_fine < 0.5 * err_direct, (err_fine, err_direct)


# ---------------------------------------------------------------- the preset's settings


def test_preset_settings_are_the_papers():
    p = preset()
    assert p.PAPER == {
        "fine_points": 421, "factor": 5, "s": 85, "phases": (3.0, 12.0), "alpha": 2.0,
        "tau": 3.0, "source": 1.0, "n_train": 1000, "n_test": 100, "width": 32,
        "modes": 12, "layers": 4, "padding": 9, "hidden": 128, "optimizer": "adam",
        "learning_rate": 1e-3, "weight_decay": 1e-4, "schedule": "step", "step_size": 100,
        "gamma": 0.5, "epochs": 500, "batch_size": 20, "loss": "relative L2",
        "error": 0.0108}
    assert p.PAPER["phases"] == fields.PAPER_PHASES
    assert (p.PAPER["alpha"], p.PAPER["tau"]) == (fields.PAPER_ALPHA, fields.PAPER_TAU)
    assert darcy.refined_points(p.PAPER["s"], p.PAPER["factor"]) == p.PAPER["fine_points"]
    full = p.train_config(500, 1)
    assert (full.epochs, full.step_size, full.gamma, full.batch_size, full.learning_rate,
            full.optimizer, full.schedule, full.width, full.modes, full.layers,
            full.padding, full.hidden) == (500, 100, 0.5, 20, 1e-3, "adam", "step", 32, 12,
                                           4, 9, 128)
    assert p.train_config(25, 1).step_size == 5  # the same schedule shape, compressed


def test_step_schedule_halves_every_step_size_epochs():
    from orchestrator.library.surrogates import train as tr

    f = tr.schedule_factor(tr.TrainConfig(epochs=500, schedule="step", step_size=100), 50)
    assert [f(s) for s in (0, 4999, 5000, 10000, 24999)] == [1.0, 1.0, 0.5, 0.25, 0.0625]
    with pytest.raises(ValueError, match="schedule"):
        tr.schedule_factor(tr.TrainConfig(schedule="linear"), 1)


def test_preset_model_has_the_papers_parameter_count(torch):
    from orchestrator.library.surrogates.fno import build_fno, parameter_count

    p = preset()
    model = build_fno(width=p.PAPER["width"], modes=p.PAPER["modes"],
                      layers=p.PAPER["layers"], padding=p.PAPER["padding"],
                      hidden=p.PAPER["hidden"])
    assert parameter_count(model) == 2_368_001  # the paper code's fourier_2d.py count


def test_preset_data_is_cached_and_extended_not_recomputed(tmp_path, monkeypatch):
    p = preset()
    monkeypatch.setattr(p, "DATA", tmp_path)
    monkeypatch.setitem(p.PAPER, "fine_points", 33)  # s = 9 from 33: a cheap stand-in
    monkeypatch.setitem(p.PAPER, "factor", 4)
    monkeypatch.setitem(p.PAPER, "s", 9)
    first = p.dataset(0, 3, workers=1, log=lambda _: None)
    assert first["x"].shape == (3, 9, 9) and first["cached"] == 0
    assert set(np.unique(first["x"])) <= {3.0, 12.0}
    more = p.dataset(0, 5, workers=1, log=lambda _: None)
    assert more["cached"] == 3 and more["x"].shape == (5, 9, 9)
    np.testing.assert_array_equal(more["y"][:3], first["y"])  # reused, not re-solved
    a, u, _ = p.sample(0, 4)
    np.testing.assert_allclose(more["y"][4], u)
    np.testing.assert_array_equal(more["x"][4], a)
    assert p.dataset(0, 2, workers=1)["cached"] == 2  # a smaller run reads a prefix
