#!/bin/sh
# Make sure a PostgreSQL server is installed, so the state tests run against a real server
# (tests/postgres_server.py starts its own with initdb + pg_ctl) instead of skipping.
# Idempotent and quiet: does nothing when a server binary is already there. Debian/Ubuntu only
# (the `postgresql` package; its binaries live in /usr/lib/postgresql/<version>/bin).
set -eu
. "$(dirname "$0")/apt.sh"

found() {
    command -v postgres >/dev/null 2>&1 && return 0
    for server in /usr/lib/postgresql/*/bin/postgres; do
        [ -x "$server" ] && return 0
    done
    return 1
}

if found; then
    exit 0
fi
apt_install postgresql
found
