#!/bin/sh
# Installs the Debian packages the build and the tests need, when
# pkg-config cannot find them (or a tool is missing). Quiet when all is there.
set -eu
pkgs="libcjson libutf8proc oniguruma zlib libzstd libxxhash liblzma check"
need=""
command -v pkg-config >/dev/null 2>&1 || need="pkg-config"
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v make >/dev/null 2>&1 || need="$need make"
command -v parallel >/dev/null 2>&1 || need="$need parallel"   # the scale-out test
command -v zstd >/dev/null 2>&1 || need="$need zstd"           # compressed I/O tests
command -v gzip >/dev/null 2>&1 || need="$need gzip"
command -v xz >/dev/null 2>&1 || need="$need xz-utils"
command -v bzip2 >/dev/null 2>&1 || need="$need bzip2"
# libbz2 has no pkg-config file on Debian: its header tells
[ -f /usr/include/bzlib.h ] || need="$need libbz2-dev"
command -v python3 >/dev/null 2>&1 || need="$need python3"     # the layout test's independent check
for p in $pkgs; do
    if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists "$p" 2>/dev/null; then
        case $p in
            libcjson) need="$need libcjson-dev" ;;
            libutf8proc) need="$need libutf8proc-dev" ;;
            oniguruma) need="$need libonig-dev" ;;
            zlib) need="$need zlib1g-dev" ;;
            libzstd) need="$need libzstd-dev" ;;
            libxxhash) need="$need libxxhash-dev" ;;
            liblzma) need="$need liblzma-dev" ;;
            check) need="$need check" ;;
        esac
    fi
done
[ -n "$need" ] || exit 0
echo "installing Debian packages:$need" >&2
if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "deps: run as root: apt-get install -y$need" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
$sudo apt-get install -y --no-install-recommends $need >/dev/null 2>&1 || {
    $sudo apt-get update >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    $sudo apt-get install -y --no-install-recommends $need
}
