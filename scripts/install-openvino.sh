#!/usr/bin/env bash
# The OpenVINO inference environment of the surrogate-infer step
# (workflows/templates/surrogate-infer, docs/templates.md "Step library"): the OpenVINO
# runtime and NumPy in a venv of their own, nothing else. The inference stage reads the
# ONNX file that the export stage wrote (OpenVINO's ONNX reader is part of the runtime),
# so neither torch nor the `onnx` package is needed here, and OpenVINO's NumPy never
# meets the orchestrator's numpy<2. The site maps the environment name `openvino` to this
# prefix (site-configs/laptop.yaml: `prefix: ../.envs/openvino`).
#
# Usage: bash scripts/install-openvino.sh [PREFIX]   (default: .envs/openvino)
# Idempotent: a stamp records the pinned set; the check at the end runs every time.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-.envs/openvino}
PYTHON=${PYTHON:-python3.11}
PINS=(
  "openvino==2026.4.1"
  "numpy==2.4.6"
)
log() { echo "install-openvino: $*"; }
STAMP="$PREFIX/.installed-openvino"
want="${PINS[*]}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "$PREFIX is up to date"
else
  start=$(date +%s)
  [ -x "$PREFIX/bin/python" ] || "$PYTHON" -m venv "$PREFIX"
  log "+ $PREFIX/bin/python -m pip install ${PINS[*]}"
  "$PREFIX/bin/python" -m pip install --quiet --upgrade pip "${PINS[@]}" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  echo "$want" > "$STAMP"
  log "installed in $(( $(date +%s) - start ))s ($(du -sh "$PREFIX" | cut -f1))"
fi

# The check: the runtime imports and sees its CPU device.
devices=$("$PREFIX/bin/python" -c 'import openvino as ov; print(ov.__version__, ov.Core().available_devices)') \
  || { log "error: openvino does not import"; exit 1; }
grep -q "CPU" <<<"$devices" || { log "error: OpenVINO sees no CPU device: $devices"; exit 1; }
log "ok: openvino $devices"
