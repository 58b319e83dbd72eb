"""Halo-exchange cost of `orchestrator.library.mpi.halo_exchange` against raw mpi4py
`Sendrecv` of the same rows, and Jacobi time per iteration on 1 vs N ranks.

Everything is measured in one `mpiexec -n RANKS` run (the script re-launches itself
under mpiexec when started without it). Halo exchange: for each row width, blocks of
EXCHANGES exchanges (two `Sendrecv`s of one float64 row each, per rank) alternate
between the library and raw mpi4py, the order flipped every repeat; a block's time is
the slowest rank's; the median of REPEATS blocks per side gives the ratio. Jacobi:
fixed-iteration solves (no early stop) of a GRID x GRID problem, alternating between
rank 0 alone (COMM_SELF, the others parked in a sleeping Ibarrier so they take no CPU)
and all ranks. Prints one JSON line.

    python benchmarks/halo_exchange.py [--ranks 4] [--exchanges 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from orchestrator.library import mpi
from orchestrator.library.solvers import heat


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--exchanges", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--widths", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--grid", type=int, default=1024, help="Jacobi grid (N x N)")
    ap.add_argument("--iterations", type=int, default=100, help="Jacobi iterations per solve")
    return ap.parse_args()


def relaunch(args: argparse.Namespace) -> int:
    """Run this script under `mpiexec -n RANKS` (the venv's own first) and pass its
    output through."""
    beside = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(beside) if beside.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("no mpiexec found (run scripts/install-mpi.sh)")
    cmd = [mpiexec, "-n", str(args.ranks), sys.executable, str(Path(__file__).resolve()),
           *sys.argv[1:]]
    return subprocess.run(cmd, check=False).returncode


def slowest(comm, seconds: float) -> float:
    """A timed block lasts until its slowest rank is done."""
    from mpi4py import MPI

    return comm.allreduce(seconds, op=MPI.MAX)


def library_block(comm, u: np.ndarray, up: int, down: int, count: int) -> float:
    comm.Barrier()
    t0 = time.perf_counter()
    for _ in range(count):
        mpi.halo_exchange(comm, u, up, down)
    return slowest(comm, time.perf_counter() - t0)


def raw_block(comm, u: np.ndarray, up: int, down: int, count: int) -> float:
    comm.Barrier()
    t0 = time.perf_counter()
    for _ in range(count):
        comm.Sendrecv(u[1], dest=up, sendtag=11, recvbuf=u[-1], source=down, recvtag=11)
        comm.Sendrecv(u[-2], dest=down, sendtag=12, recvbuf=u[0], source=up, recvtag=12)
    return slowest(comm, time.perf_counter() - t0)


def halo(comm, width: int, args: argparse.Namespace) -> dict:
    """Interleaved library/raw blocks for one row width; microseconds per exchange."""
    up, down = mpi.neighbours(comm.Get_rank(), comm.Get_size())
    u = np.random.default_rng(comm.Get_rank()).random((6, width + 2))
    library_block(comm, u, up, down, args.exchanges // 10)  # warm-up (connections, caches)
    raw_block(comm, u, up, down, args.exchanges // 10)
    lib, raw = [], []
    for rep in range(args.repeats):
        order = ((library_block, lib), (raw_block, raw))
        for fn, out in order if rep % 2 == 0 else order[::-1]:
            out.append(fn(comm, u, up, down, args.exchanges))
    per = 1e6 / args.exchanges
    lib_s, raw_s = statistics.median(lib), statistics.median(raw)
    return {"width": width, "library_us": round(lib_s * per, 2), "raw_us": round(raw_s * per, 2),
            "ratio": round(lib_s / raw_s, 3)}


def park(comm) -> None:
    """Wait for rank 0 without spinning: MPICH's blocking waits busy-poll, which would
    steal CPU from a 1-rank measurement on an oversubscribed machine."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(0.002)


def jacobi(comm, args: argparse.Namespace) -> dict:
    """Seconds per Jacobi iteration on rank 0 alone and on all ranks, interleaved."""
    from mpi4py import MPI

    def solve(c) -> float:
        c.Barrier()
        t0 = time.perf_counter()
        heat.solve_distributed(args.grid, tol=0.0, max_iterations=args.iterations, comm=c)
        return time.perf_counter() - t0

    one, many = [], []
    for rep in range(args.repeats):
        for which in ("one", "many") if rep % 2 == 0 else ("many", "one"):
            if which == "one":
                if comm.Get_rank() == 0:
                    one.append(solve(MPI.COMM_SELF))
                park(comm)
            else:
                many.append(slowest(comm, solve(comm)))
    if comm.Get_rank() != 0:
        return {}
    t1, tn = statistics.median(one), statistics.median(many)
    return {"grid": args.grid, "iterations": args.iterations,
            "ms_per_iteration_1": round(t1 / args.iterations * 1e3, 3),
            f"ms_per_iteration_{comm.Get_size()}": round(tn / args.iterations * 1e3, 3),
            "speedup": round(t1 / tn, 2)}


def main() -> int:
    args = parse()
    if not mpi.launched_by_mpi():
        return relaunch(args)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rows = [halo(comm, width, args) for width in args.widths]
    solve = jacobi(comm, args)
    if comm.Get_rank() == 0:
        print(json.dumps({
            "benchmark": "halo_exchange", "ranks": comm.Get_size(), "cores": len(
                os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "mpi": MPI.Get_library_version().splitlines()[0].strip(),
            "exchanges": args.exchanges, "repeats": args.repeats, "halo": rows,
            "jacobi": solve}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
