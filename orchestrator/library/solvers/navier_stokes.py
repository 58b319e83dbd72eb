"""2-D incompressible Navier-Stokes on the unit torus, vorticity form, pseudo-spectral.

    dw/dt + u . grad w = nu lap w + f,    u = (d psi/dy, -d psi/dx),    -lap psi = w

The setting of the Fourier Neural Operator paper (Li et al. 2021, section 5.3): viscosity
1e-3, forcing f = 0.1 (sin 2pi(x + y) + cos 2pi(x + y)), initial vorticity a Gaussian
random field N(0, 7^{3/2} (-lap + 49 I)^{-2.5}). Time stepping as the paper's solver:
Crank-Nicolson for the viscous term, Heun (explicit trapezoid) for the advection and the
forcing, the nonlinear term dealiased by the 2/3 rule. Fields are (..., N, N) arrays
indexed [y, x]; a batch of fields is advanced at once (one FFT call per batch).

Why our own: the maintained pseudo-spectral packages (dedalus, shenfun, jax-cfd) bring an
MPI/FFTW build, or JAX, for eighty lines of NumPy (docs/decisions.md, "Navier-Stokes
solver"). `tests/unit/test_navier_stokes.py` checks it: second-order convergence in time
against a finer solve, spectral accuracy in space, and the exact decay of a Taylor-Green
vortex.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import fft

VISCOSITY = 1e-3


def wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ky, kx) angular wavenumbers of an rfft2 grid, shapes (n, 1) and (1, n//2+1)."""
    k = 2 * np.pi * fft.fftfreq(n, d=1.0 / n)
    kr = 2 * np.pi * fft.rfftfreq(n, d=1.0 / n)
    return k[:, None], kr[None, :]


def grid_points(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) of the n x n cell corners on [0, 1)^2."""
    t = np.arange(n) / n
    return np.meshgrid(t, t, indexing="ij")


def forcing(n: int) -> np.ndarray:
    """The FNO paper's forcing 0.1 (sin 2pi(x + y) + cos 2pi(x + y))."""
    y, x = grid_points(n)
    return 0.1 * (np.sin(2 * np.pi * (x + y)) + np.cos(2 * np.pi * (x + y)))


def random_initial(count: int, n: int, seed: int, alpha: float = 2.5,
                   tau: float = 7.0) -> np.ndarray:
    """`count` Gaussian random fields N(0, tau^{2 alpha - 2} (-lap + tau^2)^{-alpha}) on an
    n x n periodic grid, as the FNO paper's GaussianRF(2, n, alpha=2.5, tau=7)."""
    rng = np.random.default_rng(seed)
    ky, kx = np.meshgrid(2 * np.pi * fft.fftfreq(n, 1.0 / n),
                         2 * np.pi * fft.fftfreq(n, 1.0 / n), indexing="ij")
    sigma = tau ** (0.5 * (2 * alpha - 2))
    sqrt_eig = n * n * np.sqrt(2.0) * sigma * (ky ** 2 + kx ** 2 + tau ** 2) ** (-alpha / 2)
    sqrt_eig[0, 0] = 0.0
    xi = rng.standard_normal((count, n, n)) + 1j * rng.standard_normal((count, n, n))
    return fft.ifft2(sqrt_eig * xi).real


def resample(w: np.ndarray, n: int) -> np.ndarray:
    """Fields (..., m, m) on an n x n grid by Fourier truncation or zero padding."""
    m = w.shape[-1]
    if m == n:
        return w.copy()
    wh = fft.rfft2(w)
    out = np.zeros((*w.shape[:-2], n, n // 2 + 1), dtype=complex)
    h = min(m, n) // 2  # keep |k| < h in each direction (no Nyquist mode)
    out[..., :h, :h] = wh[..., :h, :h]
    if h > 1:
        out[..., -(h - 1):, :h] = wh[..., -(h - 1):, :h]
    return fft.irfft2(out * (n * n) / (m * m), s=(n, n))


@dataclass
class Trajectory:
    states: np.ndarray  # (frames, batch, n, n): the state every `every` time units
    seconds: float
    steps: int


class Solver:
    """The pseudo-spectral solver on an n x n grid with time step dt."""

    def __init__(self, n: int, dt: float, viscosity: float = VISCOSITY,
                 force: np.ndarray | None = None):
        self.n, self.dt, self.nu = int(n), float(dt), float(viscosity)
        ky, kx = wavenumbers(self.n)
        self.ky, self.kx = ky, kx
        lap = ky ** 2 + kx ** 2
        self.inv_lap = np.where(lap > 0, 1.0 / np.where(lap > 0, lap, 1.0), 0.0)
        kmax = 2 * np.pi * self.n / 3  # 2/3-rule dealiasing
        self.dealias = (np.abs(ky) < kmax) & (np.abs(kx) < kmax)
        self.f_hat = fft.rfft2(forcing(self.n) if force is None else force)
        half = 0.5 * self.dt * self.nu * lap
        self.lhs, self.rhs = 1.0 / (1.0 + half), 1.0 - half

    def advection(self, w_hat: np.ndarray) -> np.ndarray:
        """Fourier coefficients of u . grad w, dealiased."""
        s = (self.n, self.n)
        psi = w_hat * self.inv_lap
        u = fft.irfft2(1j * self.ky * psi, s=s)
        v = fft.irfft2(-1j * self.kx * psi, s=s)
        wx = fft.irfft2(1j * self.kx * w_hat, s=s)
        wy = fft.irfft2(1j * self.ky * w_hat, s=s)
        return fft.rfft2(u * wx + v * wy) * self.dealias

    def step_hat(self, w_hat: np.ndarray) -> np.ndarray:
        dt = self.dt
        n1 = self.advection(w_hat)
        pred = (self.rhs * w_hat + dt * (self.f_hat - n1)) * self.lhs
        n2 = self.advection(pred)
        return (self.rhs * w_hat + dt * (self.f_hat - 0.5 * (n1 + n2))) * self.lhs

    def run(self, w0: np.ndarray, horizon: float, every: float) -> Trajectory:
        """Advance w0 ((n, n) or (batch, n, n)) to `horizon`, keeping the state every
        `every` time units (frames 0, every, 2 every, ..., horizon)."""
        per = round(every / self.dt)
        if per < 1 or abs(per * self.dt - every) > 1e-9 * max(1.0, every):
            raise ValueError(f"the output interval {every} is not a multiple of dt={self.dt}")
        frames = round(horizon / every)
        batch = np.asarray(w0, dtype=float).reshape(-1, self.n, self.n)
        start = time.perf_counter()
        w_hat = fft.rfft2(batch)
        out = [batch.copy()]
        for _ in range(frames):
            for _ in range(per):
                w_hat = self.step_hat(w_hat)
            out.append(fft.irfft2(w_hat, s=(self.n, self.n)))
        seconds = time.perf_counter() - start
        if not np.all(np.isfinite(out[-1])):
            raise FloatingPointError(f"the solve diverged (n={self.n}, dt={self.dt}): "
                                     "take a smaller time step")
        return Trajectory(np.stack(out), seconds, frames * per)


def energy_spectrum(w: np.ndarray) -> np.ndarray:
    """Shell-summed kinetic energy spectrum E(k), k = 0 .. n/2, of vorticity fields
    (..., n, n); the last axis is k."""
    n = w.shape[-1]
    wh = fft.fft2(w) / (n * n)
    k = fft.fftfreq(n, 1.0 / n)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    k2 = ky ** 2 + kx ** 2
    e = 0.5 * np.abs(wh) ** 2 / np.where(k2 > 0, (2 * np.pi) ** 2 * k2, np.inf)
    shell = np.rint(np.sqrt(k2)).astype(int).ravel()
    flat = e.reshape(*e.shape[:-2], -1)
    out = np.zeros((*e.shape[:-2], n // 2 + 1))
    keep = shell <= n // 2
    for s in range(n // 2 + 1):
        out[..., s] = flat[..., keep & (shell == s)].sum(axis=-1)
    return out


def relative_l2(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """||pred - truth|| / ||truth|| over the last two axes."""
    diff = np.sqrt(((pred - truth) ** 2).sum(axis=(-2, -1)))
    return diff / np.maximum(np.sqrt((truth ** 2).sum(axis=(-2, -1))), 1e-300)
