#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
#
# 1. apt: only what is missing, and only where apt-get and root are: bubblewrap (the sandbox of
#    full isolation) and a Python 3.11 or newer with venv.
# 2. pip: the kit, from the wheel beside this script (the kit that built the zip), into its own
#    virtual environment ($KIT_VENV, default $KIT_AUTOGRADER_ROOT/kit-venv), with the dependency
#    versions of constraints.txt; then `kit` goes on PATH ($KIT_BIN_DIR, default /usr/local/bin).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${KIT_AUTOGRADER_ROOT:-/autograder}"
venv="${KIT_VENV:-$root/kit-venv}"
bin="${KIT_BIN_DIR:-/usr/local/bin}"

usable_python() {  # a Python 3.11+ that can make a virtual environment
    for candidate in python3.13 python3.12 python3.11 python3; do
        if "$candidate" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' \
            >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
usable_python >/dev/null || missing+=(python3.11 python3.11-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "setup.sh: ${missing[*]} missing, and no apt-get as root to install it" >&2
    fi
fi

python="$(usable_python)" || {
    echo "setup.sh: the kit needs Python 3.11 or newer with venv; none was found" >&2
    exit 1
}
command -v bwrap >/dev/null 2>&1 ||
    echo "setup.sh: no bubblewrap: the autograder will grade only if built with --allow-basic-isolation" >&2

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --constraint "$here/constraints.txt" "$here"/transformer_kit-*.whl
mkdir -p "$bin"
ln -sf "$venv/bin/kit" "$bin/kit"
"$bin/kit" --version
