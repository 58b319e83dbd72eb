"""The pseudo-spectral Navier-Stokes solver of ns-forecast
(orchestrator.library.solvers.navier_stokes): exact viscous decay of a Taylor-Green vortex,
second-order convergence in time against finer solves, spectral convergence in space,
resampling and the energy spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.library.solvers import navier_stokes as ns


def test_taylor_green_decays_exactly():
    # one Fourier shell is a steady Euler solution, (u . grad) w = 0, so without forcing
    # it decays as exp(-nu |k|^2 t); Crank-Nicolson's factor per step is (1 - a/2)/(1 + a/2)
    n, nu, t, dt = 16, 0.01, 2.0, 0.05
    y, x = ns.grid_points(n)
    w0 = np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y)
    traj = ns.Solver(n, dt, viscosity=nu, force=np.zeros((n, n))).run(w0, t, t)
    a = nu * 2 * (2 * np.pi) ** 2 * dt
    discrete = w0 * ((1 - a / 2) / (1 + a / 2)) ** round(t / dt)
    assert np.abs(traj.states[-1, 0] - discrete).max() < 1e-12
    exact = w0 * np.exp(-nu * 2 * (2 * np.pi) ** 2 * t)
    assert np.abs(traj.states[-1, 0] - exact).max() < 1e-3 * np.abs(exact).max()


def _run(n: int, dt: float, w0: np.ndarray, t: float) -> np.ndarray:
    return ns.Solver(n, dt).run(ns.resample(w0, n), t, t).states[-1, 0]


def test_second_order_in_time():
    w0 = 2.0 * ns.random_initial(1, 32, seed=3)[0]
    ref = _run(32, 0.005, w0, 2.0)
    errs = [float(ns.relative_l2(_run(32, dt, w0, 2.0), ref)) for dt in (0.08, 0.04, 0.02)]
    rates = [np.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(1.7 < r < 2.5 for r in rates), (errs, rates)


def test_spatial_convergence_against_a_finer_solve():
    w0 = 2.0 * ns.random_initial(1, 64, seed=4)[0]
    w0 = ns.resample(ns.resample(w0, 16), 64)  # band-limited: every grid sees the same field
    ref = _run(64, 0.02, w0, 2.0)
    errs = [float(ns.relative_l2(ns.resample(_run(n, 0.02, w0, 2.0), 64), ref))
            for n in (16, 32)]
    assert errs[1] < errs[0] / 10 and errs[1] < 1e-3, errs


def test_resample_round_trip_and_real_output():
    w = ns.random_initial(2, 32, seed=1)
    coarse = ns.resample(w, 16)
    assert coarse.shape == (2, 16, 16) and np.isrealobj(coarse)
    back = ns.resample(coarse, 32)
    assert np.allclose(ns.resample(back, 16), coarse)
    assert ns.relative_l2(back, w).max() < 0.1  # the random field's energy is at low k


def test_energy_spectrum_of_one_mode():
    n = 32
    _, x = ns.grid_points(n)
    e = ns.energy_spectrum(np.sin(2 * np.pi * 3 * x))
    assert e.shape == (n // 2 + 1,) and np.argmax(e) == 3
    assert e.sum() == pytest.approx(e[3])


def test_divergence_is_an_error_not_nan():
    w0 = 50.0 * ns.random_initial(1, 32, seed=2)[0]
    with pytest.raises(FloatingPointError, match="smaller time step"), \
            np.errstate(all="ignore"):
        ns.Solver(32, 1.0).run(w0, 20.0, 1.0)


def test_output_interval_must_be_a_multiple_of_dt():
    with pytest.raises(ValueError, match="not a multiple"):
        ns.Solver(8, 0.3).run(np.zeros((8, 8)), 1.0, 1.0)
