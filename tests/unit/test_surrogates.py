"""Surrogate library: random fields, the compact FNO, training, ensemble trust checks,
and the reference solver of workflows/heat-surrogate.

torch tests skip when torch is missing, and fail instead when CI=true (CI installs the
torch extra and must run them).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.library import fields
from orchestrator.library.surrogates import uncertainty as unc

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "workflows" / "heat-surrogate"))

from orchestrator.library.solvers import darcy as ref  # noqa: E402

# ---------------------------------------------------------------- fields


def test_fields_reproducible_by_seed_and_independent_of_count():
    a = fields.sample_fields("lognormal", 5, 16, 0.2, 10.0, seed=7)
    b = fields.sample_fields("lognormal", 5, 16, 0.2, 10.0, seed=7)
    np.testing.assert_array_equal(a, b)
    # field i does not depend on how many are drawn nor where the batch starts
    np.testing.assert_array_equal(a[3], fields.sample_field("lognormal", 16, 0.2, 10.0, 7, 0, 3))
    np.testing.assert_array_equal(a[2:], fields.sample_fields("lognormal", 3, 16, 0.2, 10.0, 7,
                                                              start=2))
    assert not np.allclose(a, fields.sample_fields("lognormal", 5, 16, 0.2, 10.0, seed=8))
    test = fields.sample_fields("lognormal", 5, 16, 0.2, 10.0, seed=7,
                                stream=fields.STREAMS["test"])
    assert not np.any(np.all(np.isclose(a[:, None], test[None]), axis=(2, 3)))


def test_field_kinds_and_statistics():
    g = fields.gaussian_random_field(32, 0.1, fields.rng_for(0, 0, 0))
    assert g.shape == (32, 32)
    assert abs(g.mean()) < 1e-12 and abs(g.std() - 1) < 1e-12
    k = fields.sample_field("lognormal", 32, 0.1, 12.0, 0, 0, 0)
    assert k.min() == pytest.approx(1.0) and k.max() / k.min() == pytest.approx(12.0)
    two = fields.sample_field("threshold", 32, 0.1, 12.0, 0, 0, 0)
    assert set(np.unique(two)) == {1.0, 12.0}
    f = fields.sample_field("source", 32, 0.1, 3.0, 0, 0, 0)
    assert abs(f.mean()) < 1e-12 and f.std() == pytest.approx(3.0)
    # a longer correlation length gives a smoother field
    smooth = fields.gaussian_random_field(32, 0.3, fields.rng_for(0, 0, 0))
    assert np.abs(np.diff(smooth, axis=0)).mean() < np.abs(np.diff(g, axis=0)).mean()


@pytest.mark.parametrize("bad", [{"kind": "gauss"}, {"contrast": 0.5}, {"grid": 1},
                                 {"correlation_length": 0.0}])
def test_field_arguments_are_checked(bad):
    args = {"kind": "lognormal", "grid": 8, "correlation_length": 0.1, "contrast": 2.0,
            "seed": 0, "stream": 0, "index": 0, **bad}
    with pytest.raises(ValueError):
        fields.sample_field(**args)


# ---------------------------------------------------------------- reference solver


@pytest.mark.parametrize("kind", ["lognormal", "threshold", "source"])
def test_solvers_agree_and_meet_the_tolerance(kind):
    x = fields.sample_field(kind, 16, 0.2, 5.0, 1, 0, 0)
    cg = ref.solve(x, kind, "cg", 1e-8)
    jac = ref.solve(x, kind, "jacobi", 1e-8)
    assert cg.converged and jac.converged
    assert cg.residual <= 1.01e-8 and jac.residual <= 1e-8
    assert np.linalg.norm(cg.u - jac.u) / np.linalg.norm(cg.u) < 1e-6
    k, f = ref.problem(x, kind)
    assert ref.relative_residual(cg.u, k, f) == pytest.approx(cg.residual)


def test_operator_matrix_matches_stencil_and_is_symmetric():
    k = fields.sample_field("lognormal", 6, 0.3, 4.0, 0, 0, 0)
    a = ref.matrix(k)
    u = np.random.default_rng(0).standard_normal((6, 6))
    np.testing.assert_allclose(a @ u.ravel(), ref.apply_operator(u, k).ravel(), rtol=1e-12)
    assert abs(a - a.T).max() < 1e-9


def test_constant_conductivity_matches_library_poisson_solver():
    from orchestrator.library.solvers import heat

    n = 12
    ours = ref.solve(np.ones((n, n)), "source", "cg", 1e-10)
    lib = heat.solve_serial(n, 1.0, tol=1e-13, max_iterations=100_000)
    np.testing.assert_allclose(ours.u, lib.u, rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- uncertainty


def test_ensemble_stats_calibration_and_routing():
    rng = np.random.default_rng(0)
    base = np.broadcast_to(rng.standard_normal((1, 1, 4, 4)), (10, 1, 4, 4))
    pattern = rng.standard_normal((4, 4))
    offsets = np.array([-1.0, 0.0, 1.0])[None, :, None, None]  # mean 0, sample std 1
    preds = base + 0.01 * np.arange(10)[:, None, None, None] * offsets * pattern
    mean, spread = unc.ensemble_stats(preds)
    assert mean.shape == (10, 4, 4) and spread.shape == (10,)
    np.testing.assert_allclose(mean, base[:, 0], atol=1e-15)
    expected = 0.01 * np.arange(10) * np.linalg.norm(pattern) / np.linalg.norm(base[0])
    np.testing.assert_allclose(spread, expected, rtol=1e-12, atol=1e-15)
    assert np.all(unc.ensemble_stats(preds[:, :1])[1] == 0)
    error = 2.0 * spread
    assert unc.calibrate(spread, error, 0.9) == pytest.approx(2.0)
    assert unc.rank_correlation(spread, error) == pytest.approx(1.0)
    r = unc.route(spread, 2.0, threshold=float(2.0 * spread[5]))
    assert r.accepted[:6].all() and not r.accepted[6:].any()
    assert list(r.routed) == [6, 7, 8, 9]
    assert r.to_json()["routed"] == 4
    assert not unc.route(np.array([np.nan]), 1.0, 1.0).accepted[0]


def test_the_residual_check_routes_what_the_spread_trusts():
    spread = np.full(6, 0.01)
    residual = np.array([0.4, 0.5, 0.6, 1.2, np.nan, 0.3])
    limit = unc.residual_limit(0.56, margin=1.25)
    assert limit == pytest.approx(0.7)
    r = unc.route(spread, 2.0, 0.05, residual, limit)
    assert list(r.routed) == [3, 4]  # over the limit, and a residual that is not a number
    assert r.routed_by_residual == 2
    assert r.to_json()["residual_limit"] == pytest.approx(0.7)
    # routed by the spread already: not counted again
    r = unc.route(np.array([0.01, 1.0]), 2.0, 0.05, np.array([0.1, 9.0]), limit)
    assert list(r.routed) == [1] and r.routed_by_residual == 0
    # margin 0 turns the check off
    assert unc.residual_limit(0.3, 0) is None
    assert unc.route(spread, 2.0, 0.05, residual, None).accepted.all()


# ---------------------------------------------------------------- FNO (torch)


def test_importing_the_library_does_not_import_torch():
    code = ("import sys; import orchestrator.library.surrogates, "
            "orchestrator.library.surrogates.fno, orchestrator.library.surrogates.train, "
            "orchestrator.library.surrogates.uncertainty, orchestrator.library.fields; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("n", [16, 20, 33])
def test_fno_shapes_any_resolution(torch, n):
    from orchestrator.library.surrogates.fno import build_fno, parameter_count

    model = build_fno(in_channels=1, out_channels=2, modes=12, width=8, layers=2, padding=3)
    out = model(torch.randn(3, 1, n, n))
    assert out.shape == (3, 2, n, n)
    assert parameter_count(model) > 0
    assert model.config["modes"] == 12


def test_spectral_conv_keeps_only_low_modes(torch):
    from orchestrator.library.surrogates.fno import classes

    spec = classes()[0](1, 1, 2, 2)
    x = torch.zeros(1, 1, 16, 16)
    xs = torch.arange(16.0)
    x[0, 0] = torch.cos(2 * torch.pi * 5 * xs / 16)[None, :]  # frequency 5 only
    assert spec(x).abs().max() < 1e-5


def test_tiny_training_run_reduces_the_loss_and_round_trips(torch, tmp_path):
    from orchestrator.library.surrogates import train as tr

    x = fields.sample_fields("lognormal", 24, 16, 0.2, 5.0, seed=0)
    y = np.stack([ref.solve(k, "lognormal", "cg", 1e-8).u for k in x])
    config = tr.TrainConfig(epochs=30, learning_rate=1e-2, batch_size=4, modes=6, width=8,
                            layers=2, padding=2, threads=1)
    res = tr.train_fno(np.log(x[:20]), y[:20], config, np.log(x[20:]), y[20:])
    assert len(res.history) == 30 and len(res.val_history) == 30
    assert res.history[-1] < 0.5 * res.history[0]
    assert res.device == "cpu" or res.device.startswith("cuda")
    tr.save(res.state, tmp_path / "m.pt")
    net = tr.load(tmp_path / "m.pt")
    pred = tr.predict([net, net], np.log(x[20:]))
    assert pred.shape == (4, 2, 16, 16)
    err = unc.relative_l2(pred[:, 0], y[20:])
    assert err.mean() == pytest.approx(res.val_history[-1], rel=1e-4)
    # training is reproducible from its seed
    again = tr.train_fno(np.log(x[:20]), y[:20], config)
    assert again.history == pytest.approx(res.history, rel=1e-4)


def test_lr_schedule_warms_up_and_decays():
    from orchestrator.library.surrogates.train import lr_factor

    values = [lr_factor(s, 100) for s in range(100)]
    assert values[0] < values[4] == pytest.approx(1.0)
    assert values[-1] < 0.01 and all(a >= b for a, b in itertools.pairwise(values[4:]))
    assert lr_factor(0, 1) == 1.0  # a single step trains at the full rate
