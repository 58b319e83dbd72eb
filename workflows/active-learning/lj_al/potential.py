"""The learned potential: a pair potential phi(r) given by a small MLP, trained on energies
and forces, and exported as a table for the kernel layer.

    phi(r) = MLP(rbf(r)) - MLP(rbf(rc))    (zero at the cutoff, like the shifted reference)

    phi(r) += 4 (CORE / r)^12, shifted to zero at rc: a fixed short-range repulsion

with rbf a fixed Gaussian radial basis (as SchNet-style models expand distances). The
repulsive prior plays the part of DeePMD's ZBL baseline: about half the reference's
r^-12 wall (2.16 r^-12 against 4 r^-12), it keeps a young model's MD from letting atoms
pass through each other where no data has been yet (without it, most walkers of the
first iterations collapsed); the network learns the rest (the attraction and the
wall's missing half).

The MLP is evaluated on an even grid of r (the same grid the MD kernel interpolates), so
training sees exactly the potential that MD will run: a frame's energy and forces are
linear in the grid values, E = A_E e and F = A_F g (e = phi on the grid, g = -phi'/r),
with A_E, A_F fixed sparse matrices built once from the frames' pair distances. One
training step is one network pass over the grid plus two K x K products (the normal
equations of the least-squares loss), however many frames and pairs.

The reference is pairwise too, so this model class can represent it; what it cannot know
is the potential where no data has been: members then extrapolate differently, which
is the disagreement active learning looks for. (Many-body descriptors, as in DeePMD, are
out of scope for this example.)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.library.kernels import PairTable

R0 = 0.5          # the table starts here: below any distance MD at these temperatures reaches
BASIS_FROM = 0.8  # first centre of the radial basis
CORE = 0.95       # the prior is 4 (CORE / r)^12
FORCE_SCALE = 300.0  # force components beyond this weigh less in the loss
POINTS = 1024     # grid points from R0 to the cutoff (dr ~ 0.002)


@dataclass
class FitResult:
    table: PairTable
    state: dict[str, Any]
    loss: list[float] = field(default_factory=list)
    energy_rmse: float = 0.0   # per atom, on the training frames
    force_rmse: float = 0.0
    seconds: float = 0.0
    parameters: int = 0


def grid(cutoff: float) -> tuple[float, float]:
    """(r0, dr) of the table for `cutoff`."""
    return R0, (cutoff - R0) / (POINTS - 1)


def pair_geometry(positions: np.ndarray, boxes: np.ndarray, cutoff: float) -> dict[str, Any]:
    """The linear maps from grid values to the frames' per-atom energies (A_E, dense M x K)
    and force components (A_F, as COO triplets): e = A_E phi_grid, f = A_F g_grid."""
    r0, dr = grid(cutoff)
    m_frames, n, _ = positions.shape
    a_e = np.zeros((m_frames, POINTS))
    rows, cols, vals = [], [], []
    iu, ju = np.triu_indices(n, 1)
    for m in range(m_frames):
        box = float(boxes[m])
        d = positions[m][iu] - positions[m][ju]
        d -= box * np.floor(d / box + 0.5)
        r = np.sqrt((d * d).sum(axis=1))
        near = r < cutoff
        d, r, i, j = d[near], r[near], iu[near], ju[near]
        t = np.maximum((r - r0) / dr, 0.0)
        k = np.minimum(np.floor(t), POINTS - 2)
        w = t - k
        k = k.astype(np.int64)
        np.add.at(a_e[m], k, (1 - w) / n)
        np.add.at(a_e[m], k + 1, w / n)
        for atom, sign in ((i, 1.0), (j, -1.0)):
            for axis in range(3):
                row = (m * n + atom) * 3 + axis
                for col, weight in ((k, 1 - w), (k + 1, w)):
                    rows.append(row)
                    cols.append(col)
                    vals.append(sign * weight * d[:, axis])
    return {"a_e": a_e, "rows": np.concatenate(rows), "cols": np.concatenate(cols),
            "vals": np.concatenate(vals), "shape": (m_frames * n * 3, POINTS), "n": n}


def gram(positions: np.ndarray, boxes: np.ndarray, energy: np.ndarray, forces: np.ndarray,
         cutoff: float) -> dict[str, Any]:
    """Least-squares pieces: sum w (A x - y)^2 / rows = (x.Gx - 2 b.x + c) / rows for the
    per-atom energies and the force components. Force components are weighted by
    1 / (1 + (F / FORCE_SCALE)^2): close contacts carry forces of hundreds, and an
    unweighted square loss would spend the whole model on them (DP-GEN's relative model
    deviation has the same motive)."""
    from scipy import sparse

    geo = pair_geometry(positions, boxes, cutoff)
    n = geo["n"]
    a_f = sparse.coo_matrix((geo["vals"], (geo["rows"], geo["cols"])),
                            shape=geo["shape"]).tocsr()
    e = np.asarray(energy, dtype=np.float64) / n
    f = np.asarray(forces, dtype=np.float64).reshape(-1)
    w = 1.0 / (1.0 + (f / FORCE_SCALE) ** 2)
    a_e = geo["a_e"]
    wa_f = sparse.diags(w) @ a_f
    return {"G_E": a_e.T @ a_e, "b_E": a_e.T @ e, "c_E": float(e @ e), "n_E": len(e),
            "var_E": float(e.var()) + 1e-12,
            "G_F": (a_f.T @ wa_f).toarray(), "b_F": wa_f.T @ f, "c_F": float(f @ (w * f)),
            "n_F": len(f), "var_F": float(np.average(f * f, weights=w)) + 1e-12}


def build_net(torch: Any, cutoff: float, width: int = 32, depth: int = 2,
              basis: int = 24) -> Any:
    """Gaussian radial basis of r (centres BASIS_FROM..cutoff) -> MLP (SiLU) -> phi. Below
    the first centre the features fade, the network tends to a constant there and the
    repulsive prior takes over: young models disagree on the core without collapsing."""

    class PairNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mu", torch.linspace(BASIS_FROM, cutoff, basis))
            self.width = (cutoff - BASIS_FROM) / (basis - 1)
            layers: list[Any] = []
            size = basis
            for _ in range(depth):
                layers += [torch.nn.Linear(size, width), torch.nn.SiLU()]
                size = width
            layers.append(torch.nn.Linear(size, 1))
            self.mlp = torch.nn.Sequential(*layers)

        def forward(self, r: Any) -> Any:
            return self.mlp(torch.exp(-((r.unsqueeze(-1) - self.mu) / self.width) ** 2))

    return PairNet().double()


class _Tables:
    """phi and -phi'/r on the grid from the network (differentiable: training goes
    through them)."""

    def __init__(self, torch: Any, net: Any, cutoff: float):
        r0, dr = grid(cutoff)
        self.torch, self.net = torch, net
        self.r = torch.tensor(r0 + dr * np.arange(POINTS), dtype=torch.float64)
        self.r_cut = torch.tensor([cutoff], dtype=torch.float64)
        self.prior_e = 4 * ((CORE / self.r) ** 12 - (CORE / cutoff) ** 12)
        self.prior_f = 48 * (CORE / self.r) ** 12 / self.r ** 2

    def __call__(self, create_graph: bool = True) -> tuple[Any, Any]:
        r = self.r.clone().requires_grad_(True)
        phi = self.net(r).squeeze(-1)
        (dphi,) = self.torch.autograd.grad(phi.sum(), r, create_graph=create_graph)
        return (phi - self.net(self.r_cut).squeeze() + self.prior_e,
                -dphi / self.r + self.prior_f)


def fit(positions: np.ndarray, boxes: np.ndarray, energy: np.ndarray, forces: np.ndarray,
        cutoff: float, epochs: int = 1500, seed: int = 0, width: int = 32, depth: int = 2,
        energy_weight: float = 1.0, threads: int = 1, log: Any = None,
        init_state: dict[str, Any] | None = None) -> FitResult:
    """Fit phi to the frames' energies and forces: full batch, L-BFGS with a strong-Wolfe
    line search (`epochs` iterations), the loss normalised by the targets' variances.
    `init_state` (a previous fit's `state`) starts from those weights instead of `seed`."""
    import torch

    start = time.perf_counter()
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(int(seed))
    g = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
         for k, v in gram(positions, boxes, energy, forces, cutoff).items()}
    net = build_net(torch, cutoff, width, depth)
    if init_state is not None:
        net.load_state_dict(init_state["net"])
    tables = _Tables(torch, net, cutoff)

    def parts(create_graph: bool = True) -> tuple[Any, Any]:
        e_tab, f_tab = tables(create_graph)
        mse_e = (e_tab @ (g["G_E"] @ e_tab) - 2 * g["b_E"] @ e_tab + g["c_E"]) / g["n_E"]
        mse_f = (f_tab @ (g["G_F"] @ f_tab) - 2 * g["b_F"] @ f_tab + g["c_F"]) / g["n_F"]
        return mse_e.clamp(min=0), mse_f.clamp(min=0)

    losses: list[float] = []
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=int(epochs), history_size=50,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                            tolerance_change=1e-15)

    def closure() -> Any:
        opt.zero_grad()
        mse_e, mse_f = parts()
        loss = energy_weight * mse_e / g["var_E"] + mse_f / g["var_F"]
        loss.backward()
        losses.append(loss.item())
        if log is not None:
            log(len(losses), losses[-1])
        return loss

    opt.step(closure)
    mse_e, mse_f = parts(create_graph=False)
    e_tab, f_tab = (t.detach().numpy().copy() for t in tables(create_graph=False))
    r0, dr = grid(cutoff)
    state = {"net": net.state_dict(), "width": width, "depth": depth, "cutoff": cutoff}
    return FitResult(PairTable(r0, dr, e_tab, f_tab), state, losses,
                     math.sqrt(mse_e.item()), math.sqrt(mse_f.item()),
                     time.perf_counter() - start,
                     sum(p.numel() for p in net.parameters()))


def save_table(path: Path, table: PairTable, cutoff: float) -> Path:
    np.savez(path, r0=table.r0, dr=table.dr, energy=table.energy, force=table.force,
             cutoff=cutoff)
    return Path(path)


def load_table(path: str) -> PairTable:
    with np.load(path) as data:
        return PairTable(float(data["r0"]), float(data["dr"]), data["energy"].copy(),
                         data["force"].copy())


def mean_table(tables: list[PairTable]) -> PairTable:
    """The ensemble mean: forces are linear in the tables, so the mean table gives the
    members' mean force."""
    first = tables[0]
    return PairTable(first.r0, first.dr, np.mean([t.energy for t in tables], axis=0),
                     np.mean([t.force for t in tables], axis=0))


def rms(x: np.ndarray) -> float:
    return float(math.sqrt(np.mean(np.square(x)))) if np.size(x) else 0.0
