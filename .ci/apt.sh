# Sourced by the .ci/install-*.sh scripts: `apt_install PACKAGE...` installs Debian packages
# quietly (with sudo when not root), updating the package lists only when the install fails
# (a fresh container has none). Fails with one line when apt-get is not there.

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$(basename "$0"): apt-get unavailable; install $* yourself" >&2
        return 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 || {
        $sudo apt-get update -qq >/dev/null
        $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    }
}
