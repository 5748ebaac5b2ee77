#!/usr/bin/env bash
# Build the real Ocean node (oceand, ocean-cli, ocean-tx v2.1.1.1, commit 7c11ad9c) from
# source into ~/.cache/oceanfed/oceand-7c11ad9c/bin and print that folder on stdout.
#
# Source, first found: $OCEAN_SRC (a tarball or a folder), the project's copy beside the
# repository (../shared/ocean/src/ocean-v2.1.1.1-7c11ad9c.tar.gz), else a git clone of
# github.com/commerceblock/ocean at the pinned commit. Installs the Debian build
# dependencies with apt-get (as root, or with sudo), applies the two fixes a current
# toolchain needs (docs/realnode.md), configures without GUI, tests, bench and ZMQ, and
# builds with every core. Idempotent: with a cached build whose `oceand -version` answers,
# it prints the folder and exits within seconds. Progress goes to stderr; any failure
# exits non-zero with one line starting "oceand:".
set -euo pipefail

COMMIT=7c11ad9caf541e94e6100a9daae100efe1fbc85c
SHORT=${COMMIT:0:8}
VERSION_TAG="v2.1.1.1-g7c11ad9c"
REPO_URL=https://github.com/commerceblock/ocean
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/oceanfed/oceand-$SHORT"
BIN="$CACHE/bin"
LOG="$CACHE/build.log"

die() {
  echo "oceand: $*" >&2
  exit 1
}

cached_ok() {
  [ -x "$BIN/oceand" ] && [ -x "$BIN/ocean-cli" ] && [ -x "$BIN/ocean-tx" ] \
    && "$BIN/oceand" -version 2>/dev/null | head -1 | grep -q "$VERSION_TAG"
}

if cached_ok; then
  echo "$BIN"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
fi

DEPS="build-essential autoconf automake libtool pkg-config bsdmainutils libboost-system-dev
libboost-filesystem-dev libboost-program-options-dev libboost-thread-dev libboost-chrono-dev
libboost-test-dev libevent-dev libssl-dev libdb++-dev git ca-certificates"

missing=""
for p in $DEPS; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these Debian packages:$missing"
  if [ -n "$SUDO" ]; then
    $SUDO true 2>/dev/null || die "not root and sudo is not available; install:$missing"
  fi
  echo "oceand: installing build dependencies:$missing" >&2
  $SUDO apt-get update -qq >/dev/null || die "apt-get update failed"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null \
    || die "apt-get install failed for:$missing"
fi

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SRC="$WORK/src"
mkdir -p "$SRC"

LOCAL_TARBALL="$ROOT/../shared/ocean/src/ocean-v2.1.1.1-$SHORT.tar.gz"
if [ -n "${OCEAN_SRC:-}" ]; then
  if [ -d "$OCEAN_SRC" ]; then
    cp -a "$OCEAN_SRC/." "$SRC/" || die "cannot copy OCEAN_SRC=$OCEAN_SRC"
  elif [ -f "$OCEAN_SRC" ]; then
    tar -xzf "$OCEAN_SRC" -C "$SRC" || die "cannot unpack OCEAN_SRC=$OCEAN_SRC (a .tar.gz expected)"
  else
    die "OCEAN_SRC=$OCEAN_SRC is neither a folder nor a file"
  fi
  echo "oceand: source from $OCEAN_SRC" >&2
elif [ -f "$LOCAL_TARBALL" ]; then
  tar -xzf "$LOCAL_TARBALL" -C "$SRC" || die "cannot unpack $LOCAL_TARBALL"
  echo "oceand: source from $LOCAL_TARBALL" >&2
else
  echo "oceand: cloning $REPO_URL at $COMMIT" >&2
  git -C "$SRC" init -q
  git -C "$SRC" remote add origin "$REPO_URL"
  git -C "$SRC" fetch -q --depth 1 origin "$COMMIT" || die "cannot fetch $COMMIT from $REPO_URL"
  git -C "$SRC" checkout -q FETCH_HEAD
fi
# a tarball with one top-level folder: step into it
if [ ! -f "$SRC/configure.ac" ]; then
  inner=$(find "$SRC" -mindepth 2 -maxdepth 2 -name configure.ac | head -1)
  [ -n "$inner" ] || die "no configure.ac in the Ocean source"
  SRC=$(dirname "$inner")
fi

# Fix 1: std::deque without <deque> (GCC 11+).
grep -q '#include <deque>' "$SRC/src/httpserver.cpp" \
  || sed -i '0,/^#include/s//#include <deque>\n#include/' "$SRC/src/httpserver.cpp"
# Fix 2: Boost 1.73+ keeps the bind placeholders out of the global namespace.
for f in src/validation.cpp src/validationinterface.cpp src/rpc/server.cpp; do
  grep -q BOOST_BIND_GLOBAL_PLACEHOLDERS "$SRC/$f" \
    || sed -i '0,/^#include/s//#define BOOST_BIND_GLOBAL_PLACEHOLDERS\n#include <boost\/bind.hpp>\n#include/' "$SRC/$f"
done

echo "oceand: building (about 6-8 minutes on 2 cores; log: $LOG)" >&2
{
  cd "$SRC"
  ./autogen.sh
  ./configure --with-incompatible-bdb --disable-tests --disable-bench --without-gui \
    --without-miniupnpc --disable-zmq --with-utils --with-daemon --without-libs \
    CXXFLAGS="-O2 -g0"
  make -j"$(nproc)"
} >"$LOG" 2>&1 || die "build failed (last lines of $LOG: $(tail -3 "$LOG" | tr '\n' ' '))"

mkdir -p "$BIN.new"
for b in oceand ocean-cli ocean-tx; do
  install -m 0755 "$SRC/src/$b" "$BIN.new/$b" || die "the build made no $b"
done
rm -rf "$BIN"
mv "$BIN.new" "$BIN"
cached_ok || die "the built oceand does not answer -version with $VERSION_TAG"
echo "$BIN"
