#!/usr/bin/env bash
# Make an MPI runtime and mpi4py available in the project virtualenv.
#
#   scripts/install-mpi.sh [VENV]      (default .venv)
#
# Installs MPICH from PyPI (the `mpich` wheel: libmpi, mpiexec/Hydra in VENV/bin) and the
# binary mpi4py wheel, which loads that libmpi at run time. No root, no compiler, about a
# second from a warm index; works the same on a laptop, in CI and inside Slurm jobs
# (`mpiexec` inside an allocation, or `srun --mpi=pmi2`). Why not Debian's Open MPI: see
# docs/local-slurm.md ("MPI").
#
# Idempotent: does nothing when mpi4py imports and VENV/bin/mpiexec exists, then checks
# that a 2-rank job runs.
set -euo pipefail

VENV=${1:-.venv}
PY=$VENV/bin/python
MPIEXEC=$VENV/bin/mpiexec
# Binary wheels exist for both; mpi4py>=4.1 wheels work with the MPICH (and Open MPI) ABI.
PACKAGES=("mpich>=4.2,<6" "mpi4py>=4.1,<5")

log() { printf 'install-mpi: %s\n' "$*"; }
die() { printf 'install-mpi: error: %s\n' "$*" >&2; exit 1; }

[ -x "$PY" ] || die "no virtualenv at $VENV (run scripts/bootstrap.sh $VENV first)"

have_mpi() {
  [ -x "$MPIEXEC" ] && "$PY" -c 'from mpi4py import MPI' >/dev/null 2>&1
}

if have_mpi; then
  log "mpi4py and $MPIEXEC are already installed"
else
  log "+ $PY -m pip install --prefer-binary ${PACKAGES[*]}"
  "$PY" -m pip install --quiet --prefer-binary "${PACKAGES[@]}"
  have_mpi || die "mpi4py or $MPIEXEC still missing after pip install"
fi

# A 2-rank smoke job through the venv's own mpiexec (Hydra oversubscribes by default).
# Rank 0 prints the gathered ranks: output of several ranks may interleave mid-line.
out=$("$MPIEXEC" -n 2 "$PY" -c 'from mpi4py import MPI
c = MPI.COMM_WORLD
ranks = c.gather(c.Get_rank())
if c.Get_rank() == 0: print("ranks", *ranks, "size", c.Get_size())' 2>&1) \
  || die "mpiexec -n 2 failed: $out"
[ "$out" = "ranks 0 1 size 2" ] || die "expected ranks 0 and 1 of 2, got: $out"
log "$("$PY" -c 'from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0].strip())'),\
 mpi4py $("$PY" -c 'import mpi4py; print(mpi4py.__version__)'): mpiexec -n 2 ok"
