#!/usr/bin/env bash
# Install openCryptoki, whose soft token offers CKM_ECDSA_SHA256 on secp256k1, for the
# PKCS#11 signer tests (tests/hsm/test_ecdsa_sha256_token.py). Debian 12 ships 3.8, too
# old, so this builds Debian 13's source package (3.2x) and installs the result; the
# built .debs are cached, so a second run installs without building. Idempotent: an
# openCryptoki whose soft token already offers CKM_ECDSA_SHA256 is left as it is.
#
# Best effort: any failure prints one line starting "setup: opencryptoki:" and exits 0
# (the CKM_ECDSA_SHA256 tests then skip, saying why). The system's apt sources are not
# changed (a private apt configuration reads Debian 13's source index) and no token is
# touched: the probe uses a private, empty token store (PKCS_APP_STORE).
set -uo pipefail

CACHE="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/oceanfed/opencryptoki"
SRC_SUITE=trixie
MIN_MINOR=12
START=$(date +%s.%N)
WORK=""
STARTED_DAEMON=""

fail() {
  echo "setup: opencryptoki: $*; the CKM_ECDSA_SHA256 tests will be skipped" >&2
  exit 0
}

cleanup() {
  if [ -n "$STARTED_DAEMON" ]; then
    $SUDO kill "$STARTED_DAEMON" 2>/dev/null || true
  fi
  if [ -n "$WORK" ]; then
    $SUDO rm -rf "$WORK" 2>/dev/null || rm -rf "$WORK" 2>/dev/null || true
  fi
}
trap cleanup EXIT

SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
  $SUDO true 2>/dev/null || fail "not root and sudo is not available (it installs packages)"
fi
command -v apt-get >/dev/null 2>&1 || fail "apt-get not found (Debian or a derivative is expected)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oceanfed-opencryptoki.XXXXXX" 2>/dev/null) || fail "cannot make a temporary directory"
chmod 0755 "$WORK"

# The soft token's slot: the slot whose stdll is libpkcs11_sw.so in opencryptoki.conf.
soft_slot() {
  awk '
    /^[ \t]*slot[ \t]+[0-9]+/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { s = $i; break } }
    /stdll[ \t]*=[ \t]*libpkcs11_sw\.so/ { if (s != "") { print s; exit } }
  ' /etc/opencryptoki/opencryptoki.conf 2>/dev/null
}

# The pid of a running (not zombie) pkcsslotd from its pid file, or nothing.
daemon_pid() {
  local pid
  pid=$($SUDO cat /run/opencryptoki/pkcsslotd.pid 2>/dev/null || true)
  [ -n "$pid" ] && [ "$($SUDO cat "/proc/$pid/comm" 2>/dev/null)" = pkcsslotd ] \
    && $SUDO awk '{ exit $3 == "Z" }' "/proc/$pid/stat" 2>/dev/null && echo "$pid"
}

# Start pkcsslotd if it is not running (remembering to stop it on exit).
ensure_daemon() {
  local pid
  if [ -n "$(daemon_pid)" ] && $SUDO test -S /run/opencryptoki/pkcsslotd.socket; then
    return 0
  fi
  if command -v systemd-tmpfiles >/dev/null 2>&1 && [ -f /usr/lib/tmpfiles.d/opencryptoki.conf ]; then
    $SUDO systemd-tmpfiles --create /usr/lib/tmpfiles.d/opencryptoki.conf >/dev/null 2>&1 || true
  fi
  if [ ! -d /run/opencryptoki ]; then
    $SUDO install -d -m 0710 -o pkcsslotd -g pkcs11 /run/opencryptoki 2>/dev/null || return 1
  fi
  [ -d /var/lock/opencryptoki ] || $SUDO install -d -m 0770 -g pkcs11 /var/lock/opencryptoki 2>/dev/null || true
  [ -d /var/log/opencryptoki ] || $SUDO install -d -m 0770 -g pkcs11 /var/log/opencryptoki 2>/dev/null || true
  $SUDO /usr/sbin/pkcsslotd >/dev/null 2>&1 || return 1
  for _ in $(seq 1 100); do
    pid=$(daemon_pid)
    if [ -n "$pid" ] && $SUDO test -S /run/opencryptoki/pkcsslotd.socket; then
      STARTED_DAEMON=$pid
      return 0
    fi
    sleep 0.05
  done
  return 1
}

stop_daemon() {
  if [ -n "$STARTED_DAEMON" ]; then
    $SUDO kill "$STARTED_DAEMON" 2>/dev/null || true
    STARTED_DAEMON=""
  fi
}

# x.y.z (upstream part of a Debian version) when it is 3.x with x >= MIN_MINOR, else "".
acceptable() {
  local up
  up=$(printf '%s' "$1" | sed -E 's/^[0-9]+://; s/-[^-]*$//; s/\+.*$//')
  if printf '%s' "$up" | grep -Eq '^3\.[0-9]+'; then
    [ "$(printf '%s' "$up" | cut -d. -f2)" -ge "$MIN_MINOR" ] && echo "$up"
  fi
}

# The installed openCryptoki's version (e.g. 3.23.0) when it is recent enough and its
# soft token offers CKM_ECDSA_SHA256; empty otherwise.
usable_version() {
  local slot store out version
  [ -x /usr/sbin/pkcsconf ] && [ -x /usr/sbin/pkcsslotd ] || return 0
  slot=$(soft_slot)
  [ -n "$slot" ] || return 0
  ensure_daemon || return 0
  store="$WORK/probe-store"
  mkdir -p "$store/swtok/TOK_OBJ"
  out=$($SUDO env PKCS_APP_STORE="$store" /usr/sbin/pkcsconf -m -c "$slot" 2>/dev/null || true)
  version=$(dpkg-query -W -f '${Version}' libopencryptoki0 2>/dev/null || true)
  if [ -z "$version" ]; then
    version=$($SUDO env PKCS_APP_STORE="$store" /usr/sbin/pkcsconf -i 2>/dev/null \
      | awk -F': *' '/Library Version/ { gsub(/[ \t]/, "", $2); print $2; exit }')
  fi
  # the token's shared memory is named after the store's path
  $SUDO sh -c "rm -f /dev/shm/$(printf '%s' "${store#/}" | tr / .).*" 2>/dev/null || true
  $SUDO rm -rf "$store" 2>/dev/null || true
  stop_daemon
  if printf '%s\n' "$out" | grep -q '(CKM_ECDSA_SHA256)'; then
    acceptable "$version"
  fi
}

ready() {
  local elapsed
  elapsed=$(awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo "setup: opencryptoki $1 ready (CKM_ECDSA_SHA256 tests; ${elapsed}s)"
  exit 0
}

install_debs() {
  local lib daemon
  lib=$(ls "$CACHE"/libopencryptoki0_*.deb 2>/dev/null | sort -V | tail -1)
  daemon=$(ls "$CACHE"/opencryptoki_*.deb 2>/dev/null | sort -V | tail -1)
  [ -n "$lib" ] && [ -n "$daemon" ] || return 1
  # apt-get resolves the runtime dependencies from the system's own archive
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$lib" "$daemon" >"$WORK/install.log" 2>&1; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$lib" "$daemon" >"$WORK/install.log" 2>&1 || return 1
  fi
}

have=$(usable_version)
[ -n "$have" ] && ready "$have"

# Cached build from an earlier run?
cached=$(ls "$CACHE"/opencryptoki_*.deb 2>/dev/null | sort -V | tail -1)
if [ -n "$cached" ] && [ -n "$(acceptable "$(basename "$cached" | cut -d_ -f2)")" ]; then
  if install_debs; then
    have=$(usable_version)
    [ -n "$have" ] && ready "$have"
  fi
  # a stale or broken cache: rebuild below
fi

# --- Build Debian 13's source package. ---
command -v apt-get >/dev/null 2>&1 || fail "apt-get not found"
$SUDO apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed"
# The Debian archive this system already uses (not the security archive).
. /etc/os-release 2>/dev/null || true
CODENAME=${VERSION_CODENAME:-bookworm}
MIRROR=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
  | awk -v c="$CODENAME" '$2 == c && $1 !~ /security/ { print $1; exit }')
[ -n "$MIRROR" ] || fail "no Debian archive for $CODENAME in the system's apt sources"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$KEYRING" ] || fail "$KEYRING not found (apt-get install debian-archive-keyring)"

A="$WORK/apt"
mkdir -p "$A/etc/sources.list.d" "$A/etc/preferences.d" "$A/lists/partial" "$A/cache/archives/partial"
echo "deb-src [signed-by=$KEYRING] $MIRROR $SRC_SUITE main" >"$A/etc/sources.list"
cat >"$A/apt.conf" <<EOF
Dir::State "$A";
Dir::State::Lists "$A/lists";
Dir::State::status "/var/lib/dpkg/status";
Dir::Cache "$A/cache";
Dir::Etc::SourceList "$A/etc/sources.list";
Dir::Etc::SourceParts "$A/etc/sources.list.d";
Dir::Etc::Preferences "$A/etc/preferences";
Dir::Etc::PreferencesParts "$A/etc/preferences.d";
APT::Sandbox::User "root";
EOF
export APT_CONFIG="$A/apt.conf"
apt-get update -qq >"$WORK/apt-update.log" 2>&1 || fail "cannot read the $SRC_SUITE source index from $MIRROR"
VERSION=$(apt-cache showsrc opencryptoki 2>/dev/null | awk '/^Version:/ { print $2 }' | sort -V | tail -1)
[ -n "$VERSION" ] || fail "$SRC_SUITE has no opencryptoki source package at $MIRROR"
UPSTREAM=$(acceptable "$VERSION")
[ -n "$UPSTREAM" ] || fail "$SRC_SUITE offers opencryptoki $VERSION, expected 3.x with x >= $MIN_MINOR"

B="$WORK/build"
mkdir -p "$B"
# apt checks every file against the signed index; some mirrors lack the .dsc, which is
# not needed: the tree is unpacked from the two tarballs below.
(cd "$B" && apt-get source --download-only -qq "opencryptoki=$VERSION" >"$WORK/source.log" 2>&1) || true
unset APT_CONFIG
ORIG=$(ls "$B"/opencryptoki_*.orig.tar.* 2>/dev/null | head -1)
DEBIAN=$(ls "$B"/opencryptoki_*.debian.tar.* 2>/dev/null | head -1)
[ -n "$ORIG" ] && [ -n "$DEBIAN" ] || fail "cannot download the opencryptoki $VERSION source from $MIRROR"
mkdir -p "$B/tree"
tar -xf "$ORIG" -C "$B/tree" 2>/dev/null || fail "cannot unpack $(basename "$ORIG")"
TREE=$(find "$B/tree" -mindepth 1 -maxdepth 1 -type d | head -1)
[ -n "$TREE" ] && tar -xf "$DEBIAN" -C "$TREE" 2>/dev/null || fail "cannot unpack $(basename "$DEBIAN")"

DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  build-essential dpkg-dev fakeroot libssl-dev >"$WORK/deps.log" 2>&1 \
  || fail "cannot install the build tools (build-essential dpkg-dev fakeroot libssl-dev)"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get build-dep -y -qq --no-install-recommends "$TREE" >>"$WORK/deps.log" 2>&1 \
  || fail "cannot install the build dependencies of opencryptoki $VERSION"

# dpkg-buildpackage applies debian/patches itself (3.0 quilt source format).
(cd "$TREE" && DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=$(nproc)" \
  dpkg-buildpackage -b -us -uc >"$WORK/build.log" 2>&1) \
  || fail "building opencryptoki $VERSION failed (last line: $(tail -1 "$WORK/build.log"))"

mkdir -p "$CACHE" || fail "cannot create $CACHE"
rm -f "$CACHE"/*.deb
cp "$(dirname "$TREE")"/libopencryptoki0_*.deb "$(dirname "$TREE")"/opencryptoki_*.deb "$CACHE"/ 2>/dev/null \
  || fail "the build made no opencryptoki packages"
install_debs || fail "cannot install the built packages ($(tail -1 "$WORK/install.log"))"
have=$(usable_version)
[ -n "$have" ] || fail "opencryptoki $UPSTREAM is installed but its soft token does not offer CKM_ECDSA_SHA256"
ready "$have"
