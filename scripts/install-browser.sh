#!/usr/bin/env bash
# Make a headless browser available for the report tests (tests/browser).
#
#   scripts/install-browser.sh [VENV]      (default .venv)
#
# Installs Debian's chromium and chromium-driver with apt-get when either is missing
# (as root, or through sudo), and selenium in VENV when it does not import there (it is
# also in the dev extra). Idempotent: does nothing when /usr/bin/chromium,
# /usr/bin/chromedriver and selenium are present, then prints their versions.
# Selenium is always handed the driver's path, so it never downloads one.
set -euo pipefail

VENV=${1:-.venv}
PY=$VENV/bin/python
CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver
PACKAGES=(chromium chromium-driver)

log() { printf 'install-browser: %s\n' "$*"; }
die() { printf 'install-browser: error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    die "need root to run: $* (run this script as root, or install ${PACKAGES[*]} yourself)"
  fi
}

if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
  log "chromium and chromedriver are already installed"
else
  command -v apt-get >/dev/null 2>&1 || die "no apt-get: install chromium and its driver by hand"
  log "+ apt-get install ${PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A stale package index is the usual reason for 404s: refresh it once, then install.
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ] || die "$CHROMIUM or $DRIVER still missing after apt-get"
fi

if [ -x "$PY" ]; then
  if "$PY" -c 'import selenium' >/dev/null 2>&1; then
    log "selenium is already installed in $VENV"
  else
    log "+ $PY -m pip install selenium"
    "$PY" -m pip install --quiet "selenium>=4.20"
  fi
else
  log "no virtualenv at $VENV: selenium not checked (scripts/bootstrap.sh $VENV makes one)"
fi

log "$("$CHROMIUM" --version 2>/dev/null | head -n1), $("$DRIVER" --version 2>/dev/null | head -n1 | cut -d' ' -f1-2)"
