#!/bin/sh
# Make sure `systemd-analyze` exists, so tests/test_systemd_units.py runs instead of skipping.
# Idempotent and quiet: does nothing when the tool is already there. Debian/Ubuntu only.
set -eu

if command -v systemd-analyze >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-systemd: systemd-analyze missing and apt-get unavailable; install systemd yourself" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent in a fresh container; update only when the install fails.
$SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1 || {
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
}
command -v systemd-analyze >/dev/null
