#!/usr/bin/env bash
# The `neuraloperator` library (neuralop, the FNO authors' package) in a venv of its own,
# for benchmarks/fno_library.py: our FNO (orchestrator/library/surrogates/fno.py) against
# the library's at the same settings. Not in the project venv: `import neuralop` pulls
# wandb, opentelemetry, tensorly, h5py, matplotlib ... (~30 distributions) and its own
# numpy, which the orchestrator's numpy<2 (the SYCL stack) must never meet.
# torch==2.13.0 is the CPU wheel that pip takes from this machine's disk; a looser torch
# would pull a multi-GB CUDA build.
#
# Usage: bash scripts/install-neuralop.sh [PREFIX]   (default: .envs/neuralop)
# Idempotent: a stamp records the pinned set; the check at the end runs every time.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-.envs/neuralop}
PYTHON=${PYTHON:-python3.11}
PINS=(
  "neuraloperator==2.0.0"
  "torch==2.13.0"
)
log() { echo "install-neuralop: $*"; }
STAMP="$PREFIX/.installed-neuralop"
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

# The check: the library imports and its FNO runs forward on the CPU.
versions=$("$PREFIX/bin/python" - <<'PY'
import warnings
warnings.filterwarnings("ignore")
import torch, neuralop
from neuralop.models import FNO
net = FNO(n_modes=(4, 4), hidden_channels=4, in_channels=1, out_channels=1, n_layers=1)
out = net(torch.zeros(1, 1, 8, 8))
assert out.shape == (1, 1, 8, 8), out.shape
print(f"neuralop {neuralop.__version__}, torch {torch.__version__}")
PY
) || { log "error: neuralop does not import or its FNO does not run"; exit 1; }
log "ok: $versions"
