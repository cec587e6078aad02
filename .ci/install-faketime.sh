#!/bin/sh
# Make sure libfaketime is there, so tests/test_clock_steps.py runs `syncd run` under a stepped
# wall clock instead of skipping. Idempotent and quiet: does nothing when the library is already
# installed. Debian/Ubuntu only (the `libfaketime` package; `faketime` is its command line).
set -eu
. "$(dirname "$0")/apt.sh"

found() {
    for library in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
        [ -e "$library" ] && return 0
    done
    return 1
}

if found; then
    exit 0
fi
apt_install libfaketime faketime
found
