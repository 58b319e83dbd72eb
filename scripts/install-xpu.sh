#!/usr/bin/env bash
# Install the SYCL / oneAPI stack (dpctl, numba-dpex, dpnp and Intel's runtime wheels,
# including the OpenCL CPU device) into the project virtualenv.
#
#   scripts/install-xpu.sh [VENV]      (default .venv)
#
# Everything comes from PyPI wheels (no root, no oneAPI Base Toolkit): the runtime's shared
# libraries land in VENV/lib. They need LD_LIBRARY_PATH and OCL_ICD_FILENAMES, which
# orchestrator/library/sycl_env.py computes (`orch devices` and Parsl workers set them
# themselves; see docs/xpu.md). About 2.7 GB on disk (mostly oneMKL, pulled in by dpnp,
# which numba-dpex requires) and ~1 minute from a warm index.
#
# Idempotent: does nothing when dpctl and numba_dpex import and a SYCL device is listed;
# always ends by listing the devices, and fails unless an opencl:cpu device is among them.
set -euo pipefail

VENV=${1:-.venv}
PY=$VENV/bin/python
REPO=$(cd "$(dirname "$0")/.." && pwd)
# The known-good set (the `xpu` extra of pyproject.toml). numba-dpex 0.23 needs numba 0.59
# and llvmlite 0.42; numpy stays < 2 (dpctl 0.17 and dpnp 0.15 are built against 1.x).
PACKAGES=(
  "numba-dpex==0.23.0" "dpctl==0.17.0" "dpnp==0.15.0"
  "numba==0.59.1" "llvmlite==0.42.0" "numpy>=1.26,<2"
  "dpcpp-cpp-rt==2024.2.1" "intel-sycl-rt==2024.2.1"
  "intel-opencl-rt==2024.2.1" "intel-cmplr-lib-rt==2024.2.1"
)

log() { printf 'install-xpu: %s\n' "$*"; }
die() { printf 'install-xpu: error: %s\n' "$*" >&2; exit 1; }

[ -x "$PY" ] || die "no virtualenv at $VENV (run scripts/bootstrap.sh $VENV first)"

# Run python with the runtime's environment (computed by the project's own module, found
# through PYTHONPATH even before the project is installed in VENV).
sycl_python() {
  PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m orchestrator.library.sycl_env -- "$PY" "$@"
}

have_xpu() {
  sycl_python -c 'import dpctl, numba_dpex, sys; sys.exit(0 if dpctl.get_devices() else 1)' \
    >/dev/null 2>&1
}

if have_xpu; then
  log "dpctl and numba-dpex already work in $VENV"
else
  log "+ $PY -m pip install --prefer-binary ${PACKAGES[*]}"
  start=$(date +%s)
  # pip's "Location ... is ignored" warnings about local index mirrors are noise here
  if ! "$PY" -m pip install --quiet --prefer-binary "${PACKAGES[@]}" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; }; then
    die "pip install failed"
  fi
  log "installed in $(( $(date +%s) - start ))s"
  have_xpu || log "warning: no SYCL device listed yet (details below)"
fi

# The check: list the devices and require the OpenCL CPU device.
out=$(sycl_python -c 'import dpctl, numba_dpex
devs = dpctl.get_devices()
for d in devs:
    print(d.filter_string, "|", d.name, "|", d.max_compute_units, "compute units")
print("dpctl", dpctl.__version__, "numba-dpex", numba_dpex.__version__)
assert any(d.filter_string.startswith("opencl:cpu") for d in devs), "no opencl:cpu device"
' 2>&1) || die "SYCL check failed: $out"
while IFS= read -r line; do log "$line"; done <<<"$out"
