#!/usr/bin/env bash
# Snapshot `orch plan` (JSON, text, --scripts) of every shipped workflow on a set of site
# configs, to compare two versions byte for byte:
#
#   git worktree add /tmp/orch-before <commit>
#   ORCH_REPO=/tmp/orch-before scripts/plan-snapshot.sh /tmp/cmp/before
#   scripts/plan-snapshot.sh /tmp/cmp/after
#   diff -r /tmp/cmp/before /tmp/cmp/after && echo identical
#
# ORCH_REPO: the checkout whose orchestrator package runs (default: this one); its
# workflows/ are planned. Sites: the arguments, else the four sites shipped before PBS Pro
# and tests/fixtures/sites/*.yaml (paths relative to ORCH_REPO). Scripts are written under
# one fixed directory and moved, so the paths inside them match between snapshots; the
# checkout's own path (site-relative environment prefixes resolve into it) reads REPO; text
# is rendered 400 columns wide, so that path lengths do not move line breaks.
set -u
OUT=${1:?usage: plan-snapshot.sh OUTDIR [SITE...]}; shift
REPO=${ORCH_REPO:-$(cd "$(dirname "$0")/.." && pwd)}
PY=${PYTHON:-python3}
SITES=("$@")
[ ${#SITES[@]} -gt 0 ] || SITES=(laptop local-slurm gpu-cluster xpu-cluster tests/fixtures/sites/*.yaml)
WORK=/tmp/orch-plan-snapshot.cur
rm -rf "$WORK"; mkdir -p "$WORK"
cd "$REPO"
for wf in workflows/*/workflow.yaml; do
  w=$(basename "$(dirname "$wf")")
  for site in "${SITES[@]}"; do
    k=${w}__$(basename "$site" .yaml)
    PYTHONPATH=$REPO nice -n 19 "$PY" -m orchestrator plan "$wf" --site "$site" --format json \
      --runs /nonexistent --scripts "$WORK/scripts/$k" > "$WORK/$k.json" 2> "$WORK/$k.err"
    echo $? > "$WORK/$k.rc"
    COLUMNS=400 PYTHONPATH=$REPO nice -n 19 "$PY" -m orchestrator plan "$wf" --site "$site" \
      --runs /nonexistent > "$WORK/$k.txt" 2>> "$WORK/$k.err"
  done
done
grep -rlF "$REPO" "$WORK" | while read -r f; do sed -i "s|$REPO|REPO|g" "$f"; done
rm -rf "$OUT"; mkdir -p "$(dirname "$OUT")"; mv "$WORK" "$OUT"
echo "$OUT: $(ls "$OUT"/*.json | wc -l) plans, $(find "$OUT/scripts" -type f | wc -l) scripts"
