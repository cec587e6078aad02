#!/bin/sh
# Make sure `systemd-analyze` exists, so tests/test_systemd_units.py runs instead of skipping.
# Idempotent and quiet: does nothing when the tool is already there. Debian/Ubuntu only.
set -eu
. "$(dirname "$0")/apt.sh"

if command -v systemd-analyze >/dev/null 2>&1; then
    exit 0
fi
apt_install systemd
command -v systemd-analyze >/dev/null
