#!/usr/bin/env bash
# Build the interpreters that pyenv does not have here, for the maintainers' test
# matrix (noxfile.py): CPython 3.14 and 3.15, free-threaded 3.14t, 3.15t and 3.13t.
# Nothing a student does needs this script.
#
#   bash tools/build-pythons.sh             # builds 3.14 3.14t 3.15 3.15t 3.13t (skips those already built)
#   bash tools/build-pythons.sh 3.14t       # only some of them
#   bash tools/build-pythons.sh --list      # prints the interpreters that are built, one path a line
#
# Sources: Debian's source packages (python3.15 from unstable, python3.14 from forky,
# python3.13 3.13.5 from trixie),
# fetched with `apt-get source --download-only` through a `deb-src` entry that the script adds
# when it is missing. Only the upstream (orig) tarball is built, without Debian's patches, as
#   ./configure --prefix=DIR --disable-test-modules [--disable-gil] && make -j"$JOBS" && make install
# Build dependencies (OpenSSL, libffi, zlib, SQLite, bz2, lzma, readline, ...) come from apt, so
# that pip (_ssl), ctypes (_ctypes), sqlite3 and zlib work and Jupyter runs.
#
# Environment:
#   CONCTUTOR_PYTHONS_DIR   where the interpreters go (default ~/.cache/conctutor/pythons);
#                           each one in DIR/<name>/bin/python<name>, e.g. DIR/3.14t/bin/python3.14t
#   CONCTUTOR_BUILD_JOBS    parallel make jobs (default: the number of CPUs)
#   CONCTUTOR_NO_APT=1      do not touch apt (sources must already be in DIR/src, deps installed)
set -euo pipefail
shopt -s inherit_errexit

DIR="${CONCTUTOR_PYTHONS_DIR:-$HOME/.cache/conctutor/pythons}"
JOBS="${CONCTUTOR_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
ALL=(3.14 3.14t 3.15 3.15t 3.13t)
# Debian source package and suite for each minor version.
declare -A SRC_PKG=([3.15]=python3.15 [3.14]=python3.14 [3.13]=python3.13)
declare -A SRC_SUITE=([3.15]=sid [3.14]=forky [3.13]=trixie)
declare -A SRC_VERSION=([3.15]="" [3.14]="" [3.13]="3.13.5")   # "" = the suite's current version

BUILD_DEPS=(build-essential pkg-config xz-utils libssl-dev libffi-dev zlib1g-dev libsqlite3-dev
    libbz2-dev liblzma-dev libreadline-dev libncurses-dev uuid-dev libgdbm-dev
    libzstd-dev libexpat1-dev)
# (no libmpdec-dev: bookworm has none; _decimal then uses the copy bundled with CPython)
SOURCES_FILE=/etc/apt/sources.list.d/conctutor-deb-src.sources

log() { printf '[build-pythons] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

python_exe() { # name -> path of its executable (3.14t -> DIR/3.14t/bin/python3.14t)
    printf '%s/%s/bin/python%s' "$DIR" "$1" "$1"
}

usable() { # name -> 0 when a complete build is there and works
    local exe; exe="$(python_exe "$1")"
    [[ -f "$DIR/$1/.conctutor-build-ok" && -x "$exe" ]] || return 1
    "$exe" -c 'import ssl, ctypes, sqlite3, zlib, bz2, lzma, ensurepip' >/dev/null 2>&1
}

if [[ "${1:-}" == "--list" ]]; then
    for name in "${ALL[@]}"; do usable "$name" && python_exe "$name" && echo; done
    exit 0
fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0
fi

WANTED=("$@")
[[ ${#WANTED[@]} -gt 0 ]] || WANTED=("${ALL[@]}")
for name in "${WANTED[@]}"; do
    case "$name" in 3.14|3.14t|3.15|3.15t|3.13t) ;; *) die "unknown interpreter '$name' (choose from: ${ALL[*]})";; esac
done

TODO=()
for name in "${WANTED[@]}"; do
    if usable "$name"; then
        log "$name: already built, reusing $(python_exe "$name") ($("$(python_exe "$name")" -VV | head -1))"
    else
        TODO+=("$name")
    fi
done
[[ ${#TODO[@]} -gt 0 ]] || exit 0

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

setup_apt() {
    [[ "${CONCTUTOR_NO_APT:-0}" == "1" ]] && return 0
    if [[ $(id -u) -ne 0 ]] && ! command -v sudo >/dev/null; then
        die "apt-get needs root: run as root, install sudo, or set CONCTUTOR_NO_APT=1"
    fi
    local missing=() pkg
    for pkg in "${BUILD_DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    local need_update=0
    if ! apt-cache showsrc python3.14 2>/dev/null | grep -q '^Package:' \
        || ! apt-cache madison python3.15 2>/dev/null | grep -q ' sid/' \
        || ! apt-cache showsrc python3.13 2>/dev/null | grep -q "^Version: ${SRC_VERSION[3.13]}"; then
        # (re)written when an older copy of this script wrote it without sid
        if [[ ! -f "$SOURCES_FILE" ]] || ! grep -q '^Suites:.* sid' "$SOURCES_FILE"; then
            log "writing a deb-src entry for trixie, forky and sid: $SOURCES_FILE"
            as_root tee "$SOURCES_FILE" >/dev/null <<'SRC'
# Added by conctutor's tools/build-pythons.sh: source packages only (no binaries),
# to fetch CPython 3.13 (trixie), 3.14 (forky) and 3.15 (sid) for the maintainers' test matrix.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie forky sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        fi
        need_update=1
    fi
    if [[ $need_update -eq 1 || ${#missing[@]} -gt 0 ]]; then
        log "apt-get update"
        as_root apt-get update -qq
    fi
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing build dependencies: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

pool_fetch() { # pkg version dest: a Debian source package straight from the pool, checked against its .dsc
    local pkg="$1" version="$2" dest="$3" base="${CONCTUTOR_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
    local url="$base/pool/main/${pkg:0:1}/$pkg" dsc="${pkg}_${version}.dsc"
    curl -fsSL -o "$dest/$dsc.part" "$url/$dsc" 2>/dev/null || { rm -f "$dest/$dsc.part"; return 1; }
    mv "$dest/$dsc.part" "$dest/$dsc"
    local orig sum
    orig="$(sed -n '/^Checksums-Sha256:/,/^[A-Z]/p' "$dest/$dsc" | awk '/orig\.tar\.xz$/ {print $3}')"
    sum="$(sed -n '/^Checksums-Sha256:/,/^[A-Z]/p' "$dest/$dsc" | awk '/orig\.tar\.xz$/ {print $1}')"
    [[ -n "$orig" && -n "$sum" ]] || return 1
    curl -fsSL -o "$dest/$orig.part" "$url/$orig" || { rm -f "$dest/$orig.part"; return 1; }
    echo "$sum  $dest/$orig.part" | sha256sum -c --quiet - || die "$orig: SHA-256 differs from $dsc"
    mv "$dest/$orig.part" "$dest/$orig"
}

fetch_source() { # minor (3.14) -> prints the directory with the unpacked upstream sources
    local minor="$1" pkg="${SRC_PKG[$1]}" suite="${SRC_SUITE[$1]}" want="${SRC_VERSION[$1]}"
    local src="$DIR/src"
    mkdir -p "$src"
    find_tarball() { ls "$src/${pkg}_${want:-$minor.}"*.orig.tar.xz 2>/dev/null | sort -V | tail -1; }
    local tarball; tarball="$(find_tarball || true)"
    if [[ -z "$tarball" ]]; then
        # The version the suite's (signed) Sources index names; "want" pins an older one.
        local version
        version="$(apt-cache madison "$pkg" 2>/dev/null | awk -F' *[|] *' -v s=" $suite/" 'index($3, s) && /Sources/ {print $2}' \
            | { if [[ -n "$want" ]]; then grep "^${want//./\\.}-"; else cat; fi; } | sort -V | tail -1 || true)"
        [[ -n "$version" ]] || die "apt knows no source package $pkg${want:+ $want} in $suite (is the deb-src entry there? run apt-get update)"
        log "downloading $pkg=$version from $suite (apt-get source --download-only)"
        if ! (cd "$src" && apt-get source --download-only -qq "$pkg=$version" >/dev/null 2>"$src/apt-source.err"); then
            # Seen here: the mirror's index named python3.14 3.14.8-1 while its pool served only
            # 3.14.5-1..3.14.7-1. Fall back to the newest earlier Debian revision or patch release
            # the pool has, checked against the SHA-256 in its .dsc (the .dsc itself is not
            # signature-checked: apt's signed index does not list it).
            log "apt-get source failed: $(grep -m1 '^E:' "$src/apt-source.err" || tail -1 "$src/apt-source.err")"
            local upstream="${version%%-*}" patch found=""
            patch="${upstream##*.}"
            local p r
            for ((p = patch; p >= 0 && p > patch - 6; p--)); do
                for r in 1 2 3; do
                    [[ "$p" == "$patch" && "$minor.$p-$r" == "$version" ]] && continue
                    if pool_fetch "$pkg" "$minor.$p-$r" "$src"; then found="$minor.$p-$r"; break 2; fi
                done
            done
            [[ -n "$found" ]] || die "could not download $pkg from the Debian pool (tried $minor.$patch down to $minor.$((patch > 5 ? patch - 5 : 0)))"
            log "warning: using $pkg $found from the pool instead of $version"
        fi
        tarball="$(find_tarball)"
        [[ -n "$tarball" ]] || die "no orig tarball for $pkg in $src after the download"
    fi
    local version; version="$(basename "$tarball" | sed 's/.*_\(.*\)\.orig\.tar\.xz/\1/')"
    local dest="$src/Python-$version"
    if [[ ! -f "$dest/configure" ]]; then
        log "unpacking $(basename "$tarball")"
        rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
        tar -xJf "$tarball" -C "$dest.tmp" --strip-components=1
        rm -rf "$dest" && mv "$dest.tmp" "$dest"
    fi
    printf '%s' "$dest"
}

build_one() { # name (3.14t)
    # --disable-test-modules: neither builds nor installs (and byte-compiles) the test suite, Lib/test.
    local name="$1" minor="${1%t}" flags=(--disable-test-modules)
    [[ "$name" == *t ]] && flags+=(--disable-gil)
    local srcdir; srcdir="$(fetch_source "$minor")"
    local prefix="$DIR/$name" build="$DIR/build/$name"
    rm -rf "$build" "$prefix" && mkdir -p "$build"
    log "$name: configure ${flags[*]} --prefix=$prefix (log: $build/build.log)"
    local TIMEFORMAT="%0R s (CPU: %0U s user + %0S s system)" took
    # CPU time too: on a shared machine the wall time says more about the neighbours than the build.
    took="$( { time (
        cd "$build"
        "$srcdir/configure" --prefix="$prefix" "${flags[@]}" >build.log 2>&1
        make -j"$JOBS" >>build.log 2>&1
        make install >>build.log 2>&1
    ) ; } 2>&1 )" || { tail -30 "$build/build.log" >&2; die "$name: build failed (see $build/build.log)"; }
    local exe; exe="$(python_exe "$name")"
    # Modules the test extra needs; the build skips a module quietly when its library is missing.
    "$exe" -c 'import ssl, ctypes, sqlite3, zlib, bz2, lzma, readline, uuid, decimal, ensurepip' \
        || die "$name: built without a needed module (see $build/build.log, 'missing' modules)"
    if [[ "$name" == *t ]]; then
        "$exe" -c 'import sys; assert not sys._is_gil_enabled(), "GIL on"' || die "$name: the GIL is on"
    fi
    touch "$prefix/.conctutor-build-ok"
    rm -rf "$build"
    log "$name: built in $took: $exe ($("$exe" -VV | head -1))"
}

setup_apt
for name in "${TODO[@]}"; do build_one "$name"; done
