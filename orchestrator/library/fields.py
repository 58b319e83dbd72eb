"""Seeded random fields on a square grid: Gaussian random fields and the conductivity
and source fields built from them (the inputs of the heat-surrogate workflow).

A Gaussian random field (GRF) is drawn by spectral synthesis: white noise filtered by
the square root of a squared-exponential spectrum with correlation length `ell` (a
fraction of the unit domain), on a periodic box twice the size of the grid, of which
one quarter is kept, so the field is not periodic on the domain. Each field is then
shifted and scaled to zero mean and unit standard deviation.

Reproducibility: field `i` of stream `stream` with seed `seed` comes from
`numpy.random.default_rng([seed, stream, i])`, so it does not depend on how many fields
are drawn or in which order (a sweep task can draw field i alone), and streams never
overlap: training samples, test samples and coupled queries use different streams.

NumPy only; importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

KINDS = ("lognormal", "threshold", "source")

# Stream ids used by the heat-surrogate workflow: one per purpose, so that test,
# calibration and query fields are never training fields, nor each other's ("shifted":
# queries from another distribution).
STREAMS = {"train": 0, "test": 1, "query": 2, "shifted": 3, "calibration": 4}


def rng_for(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of field `index` of `stream`: independent of every other field."""
    if seed < 0 or stream < 0 or index < 0:
        raise ValueError(f"seed, stream and index must be >= 0, got {seed}, {stream}, {index}")
    return np.random.default_rng([int(seed), int(stream), int(index)])


def gaussian_random_field(grid: int, correlation_length: float,
                          rng: np.random.Generator) -> np.ndarray:
    """A (grid, grid) float64 GRF with a squared-exponential covariance of length
    `correlation_length` (domain units; the grid spacing is 1/(grid+1)), normalised to
    zero mean and unit standard deviation."""
    if grid < 2:
        raise ValueError(f"grid must be >= 2, got {grid}")
    if not correlation_length > 0:
        raise ValueError(f"correlation_length must be > 0, got {correlation_length}")
    box = 2 * grid
    h = 1.0 / (grid + 1)
    kappa = 2.0 * np.pi * np.fft.fftfreq(box, d=h)
    k2 = kappa[:, None] ** 2 + kappa[None, :] ** 2
    amplitude = np.exp(-0.25 * k2 * correlation_length**2)  # sqrt of exp(-k^2 l^2 / 2)
    noise = rng.standard_normal((box, box))
    field = np.fft.ifft2(np.fft.fft2(noise) * amplitude).real[:grid, :grid]
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


# The FNO paper's Darcy fields (Li et al. 2021, section 5.2 and its data script):
# a = 12 where psi >= 0 and 3 where psi < 0, psi ~ N(0, (-Laplacian + 9 I)^-2) with zero
# Neumann boundary conditions on the unit square (alpha = 2, tau = 3).
PAPER_PHASES = (3.0, 12.0)
PAPER_ALPHA, PAPER_TAU = 2.0, 3.0


def neumann_grf(points: int, rng: np.random.Generator, alpha: float = PAPER_ALPHA,
                tau: float = PAPER_TAU) -> np.ndarray:
    """A (points, points) draw of N(0, tau^(2 alpha - 2) (-Laplacian + tau^2 I)^-alpha)
    with zero Neumann conditions, on the grid x_i = i / (points - 1) that includes the
    boundary: the Karhunen-Loeve expansion in the cosine basis (an orthonormal inverse
    DCT-II of coefficients xi_k tau^(alpha-1) (pi^2 |k|^2 + tau^2)^(-alpha/2), k >= 0,
    the mean mode dropped), as the FNO paper's GRF.m draws it."""
    from scipy.fft import idctn

    if points < 2:
        raise ValueError(f"points must be >= 2, got {points}")
    k = np.arange(points)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    coef = tau ** (alpha - 1) * (np.pi**2 * k2 + tau**2) ** (-alpha / 2)
    coeffs = points * coef * rng.standard_normal((points, points))
    coeffs[0, 0] = 0.0
    return idctn(coeffs, type=2, norm="ortho")


def paper_field(points: int, seed: int, stream: int, index: int) -> np.ndarray:
    """Field `index` of `stream`: the FNO paper's two-phase coefficient, {3, 12} from the
    sign of `neumann_grf` (boundary points included, `points` per side)."""
    psi = neumann_grf(points, rng_for(seed, stream, index))
    low, high = PAPER_PHASES
    return np.where(psi >= 0, high, low)


def conductivity(g: np.ndarray, kind: str, contrast: float) -> np.ndarray:
    """A positive field from a GRF `g`, with max/min ratio `contrast`:
    - `lognormal`: k = contrast ** ((g - min g) / (max g - min g)), smooth, in [1, contrast];
    - `threshold`: k = contrast where g > 0, else 1 (two phases, like the Darcy
      benchmark of the Fourier Neural Operator paper, whose phases are 12 and 3)."""
    if not contrast >= 1:
        raise ValueError(f"contrast must be >= 1, got {contrast}")
    if kind == "lognormal":
        span = float(g.max() - g.min())
        scaled = (g - g.min()) / span if span > 0 else np.zeros_like(g)
        return np.power(float(contrast), scaled)
    if kind == "threshold":
        return np.where(g > 0, float(contrast), 1.0)
    raise ValueError(f"unknown conductivity kind {kind!r}; expected lognormal or threshold")


def sample_field(kind: str, grid: int, correlation_length: float, contrast: float,
                 seed: int, stream: int, index: int) -> np.ndarray:
    """Field `index` of `stream`: a conductivity (`lognormal`, `threshold`) or a
    source term (`source`: the GRF itself scaled by `contrast`, zero mean)."""
    if kind not in KINDS:
        raise ValueError(f"unknown field kind {kind!r}; expected one of {', '.join(KINDS)}")
    g = gaussian_random_field(grid, correlation_length, rng_for(seed, stream, index))
    if kind == "source":
        return float(contrast) * g
    return conductivity(g, kind, contrast)


def sample_fields(kind: str, n: int, grid: int, correlation_length: float, contrast: float,
                  seed: int, stream: int = 0, start: int = 0) -> np.ndarray:
    """Fields start .. start+n-1 of `stream`, stacked as an (n, grid, grid) array."""
    indices: Sequence[int] = range(start, start + n)
    out = np.empty((n, grid, grid))
    for row, i in enumerate(indices):
        out[row] = sample_field(kind, grid, correlation_length, contrast, seed, stream, i)
    return out


def features(x: np.ndarray, kind: str) -> np.ndarray:
    """What a surrogate sees of fields of `kind`: the log-conductivity for Darcy
    (`lognormal`, `threshold`), the source itself for Poisson (`source`)."""
    return np.asarray(x, dtype=np.float64) if kind == "source" else np.log(x)
