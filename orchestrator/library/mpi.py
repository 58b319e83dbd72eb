"""Small MPI helpers (mpi4py) shared by solvers and stage code.

mpi4py is imported lazily, inside the functions that need it: importing this module
never initialises MPI, so serial code and planning can import the library freely.
Every exchange is buffer-based (upper-case `Sendrecv`, `Allreduce`, `Gatherv` on
contiguous NumPy arrays): no pickling on the hot path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

# Environment variables that a launcher (MPICH/Hydra, Open MPI, Slurm, PALS) sets in
# every rank; used to tell "started by mpiexec" from "started by hand".
_LAUNCHER_VARS = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                  "PALS_RANKID", "MPI_LOCALNRANKS")

TAG_UP = 11    # a row travelling to the rank above (rank - 1)
TAG_DOWN = 12  # a row travelling to the rank below (rank + 1)


@dataclass(frozen=True)
class World:
    """A communicator with its rank and size read once (they never change)."""

    comm: Any
    rank: int
    size: int


def world(comm: Any = None) -> World:
    """`COMM_WORLD` (or `comm`) with rank and size; imports mpi4py only now, so that
    callers that never run distributed never initialise MPI."""
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    return World(comm, comm.Get_rank(), comm.Get_size())


def launched_by_mpi() -> bool:
    """True when this process was started by an MPI launcher (so mpi4py will see its
    peers), judged from the environment without importing mpi4py."""
    return any(name in os.environ for name in _LAUNCHER_VARS)


def proc_null() -> int:
    """MPI.PROC_NULL: a neighbour that does not exist (sends and receives are no-ops)."""
    from mpi4py import MPI

    return MPI.PROC_NULL


def split_rows(n: int, size: int) -> tuple[list[int], list[int]]:
    """Row counts and first rows of `size` slabs of `n` rows: the first `n % size` slabs
    get one row more, so any rank count works (ranks beyond `n` get 0 rows)."""
    if n < 0 or size < 1:
        raise ValueError(f"cannot split {n} rows over {size} ranks")
    base, extra = divmod(n, size)
    counts = [base + (r < extra) for r in range(size)]
    starts = [sum(counts[:r]) for r in range(size)]
    return counts, starts


def neighbours(rank: int, active: int) -> tuple[int, int]:
    """(up, down) ranks of a 1-D chain of the first `active` ranks; PROC_NULL past the
    ends and for ranks outside the chain (those that hold no rows)."""
    null = proc_null()
    if rank >= active:
        return null, null
    up = rank - 1 if rank > 0 else null
    down = rank + 1 if rank + 1 < active else null
    return up, down


def halo_exchange(comm: Any, u: np.ndarray, up: int | None = None,
                  down: int | None = None) -> None:
    """Refresh the halo rows of a row slab `u` (first and last rows are halos).

    Sends the first interior row up and receives the lower halo from below, then the
    reverse. Each row of a C-ordered 2-D array is contiguous, so mpi4py sends it
    straight from NumPy's memory. With `up`/`down` omitted the neighbours are
    rank -/+ 1 of `comm`; a PROC_NULL neighbour leaves that halo untouched (the
    Dirichlet boundary stays as initialised).
    """
    if up is None or down is None:
        rank, size = comm.Get_rank(), comm.Get_size()
        default_up, default_down = neighbours(rank, size)
        up = default_up if up is None else up
        down = default_down if down is None else down
    comm.Sendrecv(u[1], dest=up, sendtag=TAG_UP, recvbuf=u[-1], source=down, recvtag=TAG_UP)
    comm.Sendrecv(u[-2], dest=down, sendtag=TAG_DOWN, recvbuf=u[0], source=up,
                  recvtag=TAG_DOWN)


def exchange_device_rows(comm: Any, grid: Any, rows: int, up: int, down: int) -> None:
    """`halo_exchange` for a slab that lives on a device (`grid` has `get_rows` and
    `set_rows`, like `kernels.Jacobi`): only the two boundary rows come to the host,
    travel by buffer `Sendrecv`, and the received halos go back to the device."""
    from mpi4py import MPI

    first = np.ascontiguousarray(grid.get_rows(1, 2)[0])
    last = np.ascontiguousarray(grid.get_rows(rows, rows + 1)[0])
    below = np.empty_like(first)
    above = np.empty_like(first)
    comm.Sendrecv(first, dest=up, sendtag=TAG_UP, recvbuf=below, source=down, recvtag=TAG_UP)
    comm.Sendrecv(last, dest=down, sendtag=TAG_DOWN, recvbuf=above, source=up,
                  recvtag=TAG_DOWN)
    if down != MPI.PROC_NULL:
        grid.set_rows(rows + 1, below[None, :])
    if up != MPI.PROC_NULL:
        grid.set_rows(0, above[None, :])


def global_max(comm: Any) -> Any:
    """A function `local -> max over all ranks` using a buffer `Allreduce` (MPI.MAX) with
    buffers allocated once, so calling it every iteration allocates nothing."""
    from mpi4py import MPI

    send = np.zeros(1)
    recv = np.zeros(1)

    def reduce(local: float) -> float:
        send[0] = local
        comm.Allreduce(send, recv, op=MPI.MAX)
        return float(recv[0])

    return reduce


def gather_rows(comm: Any, local: np.ndarray, counts: list[int], root: int = 0) -> np.ndarray | None:
    """Concatenate every rank's rows (`counts[r]` rows of equal width) on `root` with a
    buffer `Gatherv`; other ranks get None. Uneven counts (and 0) are fine."""
    from mpi4py import MPI

    width = local.shape[1] if local.ndim == 2 else 0
    send = np.ascontiguousarray(local, dtype=np.float64)
    out = None
    recv = None
    if comm.Get_rank() == root:
        out = np.empty((sum(counts), width), dtype=np.float64)
        sizes = [c * width for c in counts]
        displs = [sum(sizes[:r]) for r in range(len(sizes))]
        recv = [out, sizes, displs, MPI.DOUBLE]
    comm.Gatherv([send, send.size, MPI.DOUBLE], recv, root=root)
    return out
