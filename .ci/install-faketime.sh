#!/bin/sh
# Make sure libfaketime is there, so tests/test_clock_steps.py runs `syncd run` under a stepped
# wall clock instead of skipping. Idempotent and quiet: does nothing when the library is already
# installed. Debian/Ubuntu only (the `libfaketime` package; `faketime` is its command line).
set -eu

found() {
    for library in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
        [ -e "$library" ] && return 0
    done
    return 1
}

if found; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-faketime: libfaketime missing and apt-get unavailable; install libfaketime yourself" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends libfaketime faketime >/dev/null
found
