#!/usr/bin/env bash
# Make the tools of site environments available for the tests: Lmod (`module`) and podman,
# plus the local test image localhost/orch-test:1 (built without a registry).
#
#   scripts/install-envtools.sh
#
# As root: installs Debian's lmod, podman, runc and busybox-static when missing (apt), then
# checks that `podman run` works. Where it does not (sandboxes and some VMs: no cgroup v2,
# rlimits that may not be raised, crun refusing hybrid cgroups) it writes
# /etc/containers/containers.conf (runc, cgroupfs, file events, explicit ulimits) and tries
# again; a containers.conf it did not write is left alone. Not root: says what is missing
# and exits 0 (the tests that need it skip, or fail with CI=true).
#
# Idempotent and quick when everything is there (a `podman image exists` and one
# `podman run`).
set -euo pipefail

IMAGE=localhost/orch-test:1
CONF=/etc/containers/containers.conf
MARK="# written by orchestrator scripts/install-envtools.sh"

log() { printf 'install-envtools: %s\n' "$*"; }
die() { printf 'install-envtools: error: %s\n' "$*" >&2; exit 1; }

have_lmod() { [ -r /usr/share/lmod/lmod/init/bash ] || [ -n "${LMOD_PKG:-}" ]; }
missing=()
have_lmod || missing+=(lmod)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
[ -x /bin/busybox ] || missing+=(busybox-static)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "not root: missing ${missing[*]} (apt-get install ${missing[*]}); environment tests skip"
    exit 0
  fi
  log "+ apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi
log "lmod ok; $(podman --version)"

# The test image: busybox and a marker file, imported from a tarball (no registry).
if ! podman image exists "$IMAGE" 2>/dev/null; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/etc" "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for cmd in sh cat echo ls mkdir env pwd id grep test printf true false wc tr sed; do
    ln -s busybox "$root/bin/$cmd"
  done
  printf 'ID=orch-test\nNAME="orchestrator test image"\n' >"$root/etc/os-release"
  echo "inside localhost/orch-test:1" >"$root/etc/orch-test-marker"
  tar -C "$root" -cf "$root.tar" .
  podman import --quiet --change 'ENV PATH=/bin' "$root.tar" "$IMAGE" >/dev/null
  rm -f "$root.tar"
  log "built $IMAGE from busybox"
fi

smoke() { podman run --rm --network=none "$IMAGE" cat /etc/orch-test-marker >/dev/null 2>&1; }

if ! smoke; then
  [ "$(id -u)" = 0 ] || { log "podman run fails for this user; container tests skip"; exit 0; }
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "podman run fails and $CONF is not ours; fix podman or remove $CONF"
  fi
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=1048576
  mkdir -p "$(dirname "$CONF")"
  cat >"$CONF" <<EOF
$MARK
# podman as root where cgroups v2 are not the only hierarchy and rlimits may not be raised.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  log "wrote $CONF (runc, cgroupfs, ulimits nofile=$nofile nproc=32768)"
  smoke || die "podman run still fails: $(podman run --rm --network=none "$IMAGE" true 2>&1)"
fi
log "podman run $IMAGE ok"
