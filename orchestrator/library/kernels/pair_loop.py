"""The O(N^2) pair loop of the compiled backends, written once: cpu_numba runs `row`
from a numba prange, sycl_dpex from a numba-dpex kernel (one work item per particle).

register_jitable makes these plain functions callable from both targets. `kind` selects
the pair term and must reach `row` as a compile-time constant (numba.literally in
cpu_numba, a closure constant in sycl_dpex) so the other term's branch is pruned and each
term keeps its own arithmetic types (float32 stays float32 for Lennard-Jones).
"""

from __future__ import annotations

import math

from numba.extending import register_jitable

LJ = 0      # kernels.lj: p = (sigma^2, 4 eps, 24 eps, energy shift), no tables
TABLE = 1   # kernels.pair_table: p = (r0, 1/dr, last index - 1, 1), energy and force tables


@register_jitable
def lj_term(r2, sig2, eps4, eps24, eshift):  # pragma: no cover (compiled)
    """Lennard-Jones pair energy u and force factor -u'(r)/r at r^2 = r2 < rc^2."""
    inv_r2 = sig2 / r2
    s6 = inv_r2 * inv_r2 * inv_r2
    s12 = s6 * s6
    return eps4 * (s12 - s6) - eshift, eps24 * (s12 + s12 - s6) / r2


@register_jitable
def table_term(r2, r0, inv_dr, kmax, one, etab, ftab):  # pragma: no cover (compiled)
    """Linear interpolation in the energy and force-factor tables at r^2 = r2 < rc^2."""
    t = (math.sqrt(r2) - r0) * inv_dr
    if t < one - one:
        t = one - one
    kf = math.floor(t)
    if kf > kmax:
        kf = kmax
    w = t - kf
    k = int(kf)
    return (one - w) * etab[k] + w * etab[k + 1], (one - w) * ftab[k] + w * ftab[k + 1]


@register_jitable
def row(i, kind, pos, box, inv_box, rc2, half, p0, p1, p2, p3, tab0, tab1, forces,
        epart):  # pragma: no cover (compiled)
    """Particle i's own force and half of each pair's energy over all j within the cutoff
    under the minimum image convention (each row writes only its own outputs)."""
    n = pos.shape[0]
    zero = half - half
    fx = zero
    fy = zero
    fz = zero
    e = zero
    xi = pos[i, 0]
    yi = pos[i, 1]
    zi = pos[i, 2]
    for j in range(n):
        if j != i:
            dx = xi - pos[j, 0]
            dy = yi - pos[j, 1]
            dz = zi - pos[j, 2]
            dx -= box * math.floor(dx * inv_box + half)
            dy -= box * math.floor(dy * inv_box + half)
            dz -= box * math.floor(dz * inv_box + half)
            r2 = dx * dx + dy * dy + dz * dz
            if r2 < rc2:
                if kind == LJ:
                    u, g = lj_term(r2, p0, p1, p2, p3)
                else:
                    u, g = table_term(r2, p0, p1, p2, p3, tab0, tab1)
                e += half * u
                fx += g * dx
                fy += g * dy
                fz += g * dz
    forces[i, 0] = fx
    forces[i, 1] = fy
    forces[i, 2] = fz
    epart[i] = e
