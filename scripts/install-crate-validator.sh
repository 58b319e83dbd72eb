#!/usr/bin/env bash
# The RO-Crate validator for the tests of `orch export --ro-crate`, in a venv of its own.
#
#   scripts/install-crate-validator.sh [PROJECT_VENV]   (default .venv)
#
# roc-validator (command `rocrate-validator`) pins rich<14, which the project venv has
# newer; so it gets .envs/rocrate-validator, made with the project venv's Python. Its HTTP
# cache (.envs/rocrate-validator/http-cache.sqlite) is seeded with the RO-Crate 1.1 context
# (tests/fixtures/ro-crate/context-1.1.jsonld), so the tests validate with --offline, no
# network needed. Idempotent: quick when the pinned version and the seed are in place.
set -euo pipefail
VENV=${1:-.venv}
VERSION=0.13.0
ENV=.envs/rocrate-validator
CONTEXT=tests/fixtures/ro-crate/context-1.1.jsonld
STAMP=$ENV/.installed-$VERSION-$(sha256sum "$CONTEXT" | cut -c1-16)

log() { printf 'install-crate-validator: %s\n' "$*"; }
[ -e "$STAMP" ] && { log "rocrate-validator $VERSION ready in $ENV"; exit 0; }
PY=$VENV/bin/python
[ -x "$PY" ] || PY=${PYTHON:-python3.11}
[ -x "$ENV/bin/python" ] || "$PY" -m venv "$ENV"
"$ENV/bin/python" -m pip install --quiet "roc-validator==$VERSION"
rm -f "$ENV/http-cache.sqlite"
"$ENV/bin/python" scripts/seed_rocrate_cache.py "$ENV/http-cache" \
  "https://w3id.org/ro/crate/1.1/context=$CONTEXT"
"$ENV/bin/rocrate-validator" --version >/dev/null
rm -f "$ENV"/.installed-*
touch "$STAMP"
log "rocrate-validator $VERSION ready in $ENV"
