#!/usr/bin/env bash
# Run the test suite on CPython 3.15 from Debian's sid binaries, in a chroot, for the maintainers' matrix.
# Nothing a student does needs this script.
#
#   bash tools/python315-chroot.sh                 # tests/ (no browser) and notebook 09, on 3.15
#   bash tools/python315-chroot.sh tests/test_subinterpreters.py -x   # words are pytest's
#
# Why a chroot: tools/build-pythons.sh builds 3.15 from Debian's source package, but the mirror this
# project reaches lists python3.15 in sid's index while its pool answers 404 for the .dsc and the
# orig tarball (3.15.0 in forky too). Sid's *binary* packages are served, and need glibc 2.38+, newer
# than a Debian 12 host's 2.36: inside a sid chroot they run. There is no free-threaded 3.15t among
# sid's packages.
#
# Needs root (debootstrap, chroot, mount) and deb.debian.org and PyPI. The chroot is made once in
# CONCTUTOR_SID_CHROOT (default ~/.cache/conctutor/sid) and reused; the repository's tracked files are
# copied into it each time, with pip's wheels cached there.
set -euo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "$0")/.." && pwd)"
CHROOT="${CONCTUTOR_SID_CHROOT:-$HOME/.cache/conctutor/sid}"
MIRROR="${CONCTUTOR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf '[python315-chroot] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot and mount)"
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }

in_chroot() { chroot "$CHROOT" env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    PIP_CERT=/root/host-ca.crt SSL_CERT_FILE=/root/host-ca.crt REQUESTS_CA_BUNDLE=/root/host-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }
# apt's sid Release file is often past its Valid-Until on a mirror snapshot
APT=(apt-get -o Acquire::Check-Valid-Until=false -qq)

if [[ ! -f "$CHROOT/.conctutor-chroot-ok" ]]; then
    log "making a sid chroot in $CHROOT (debootstrap, about a minute)"
    rm -rf "$CHROOT" && mkdir -p "$(dirname "$CHROOT")"
    debootstrap --variant=minbase sid "$CHROOT" "$MIRROR" >"$CHROOT.log" 2>&1 \
        || { tail -20 "$CHROOT.log" >&2; die "debootstrap failed (log: $CHROOT.log)"; }
    cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
    in_chroot "${APT[@]}" update
    in_chroot env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y --no-install-recommends \
        python3.15 python3.15-venv redis-server ca-certificates >/dev/null
    touch "$CHROOT/.conctutor-chroot-ok"
fi
# The host's CA bundle: where the network goes through a proxy with its own CA, the chroot's does not know it.
cp /etc/ssl/certs/ca-certificates.crt "$CHROOT/root/host-ca.crt"

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}"; done
}
trap cleanup EXIT
mount -t proc proc "$CHROOT/proc" && mounted+=("$CHROOT/proc")
mount --bind /dev "$CHROOT/dev" && mounted+=("$CHROOT/dev")
mount -t tmpfs tmpfs "$CHROOT/dev/shm" && mounted+=("$CHROOT/dev/shm")  # multiprocessing's semaphores

log "copying the repository's tracked files to /root/conctutor"
rm -rf "$CHROOT/root/conctutor" && mkdir -p "$CHROOT/root/conctutor"
git -C "$REPO" ls-files -z | tar -C "$REPO" --null -T - -cf - | tar -x -C "$CHROOT/root/conctutor"

[[ -x "$CHROOT/root/v315/bin/python" ]] || in_chroot python3.15 -m venv /root/v315
log "installing conctutor[test] ($(in_chroot /root/v315/bin/python -VV | head -1))"
in_chroot /root/v315/bin/python -m pip install -q -e "/root/conctutor[test]"

[[ $# -gt 0 ]] || set -- tests/ --ignore=tests/test_browser.py notebooks/09-subinterpretadores.ipynb
in_chroot bash -c 'cd /root/conctutor && /root/v315/bin/python -c "import sys; print(sys.version)" \
    && exec /root/v315/bin/python -m pytest "$@"' pytest "$@"
