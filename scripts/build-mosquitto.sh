#!/bin/sh
# Build mosquitto 2.1.2 (what Homebrew, the Windows installer and eclipse-mosquitto:2.1 ship)
# from Debian sid's source package, with Debian's patches, into a cache outside the checkout,
# and print the broker's path. A second run finds the cached build and only prints it.
#
#   sh scripts/build-mosquitto.sh                  # -> ~/.cache/adeline-infra/mosquitto-2.1.2/sbin/mosquitto
#   ADELINE_TEST_MOSQUITTO=$(sh scripts/build-mosquitto.sh) .venv/bin/nox -s integration
#
# The source comes through a temporary apt configuration (a deb-src line for sid in a folder of
# its own): the system's sources and lists are never touched, and nothing is installed.
# Needs: apt-get, dpkg-dev (dpkg-source), cmake, a C compiler, libssl-dev, libcjson-dev.
# Cache: $ADELINE_MOSQUITTO_CACHE, else $XDG_CACHE_HOME/adeline-infra, else ~/.cache/adeline-infra.
set -eu

version=${ADELINE_MOSQUITTO_VERSION:-2.1.2}
cache=${ADELINE_MOSQUITTO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/adeline-infra}
prefix="$cache/mosquitto-$version"
broker="$prefix/sbin/mosquitto"

say() { echo "build-mosquitto: $*" >&2; }

# `mosquitto -h` prints "mosquitto version X" and exits 0 (2.1) or 3 (2.0).
built_version() { "$1" -h 2>/dev/null | sed -n 's/^mosquitto version \([^ ]*\).*/\1/p' | head -n 1; }

if [ -x "$broker" ] && [ "$(built_version "$broker")" = "$version" ]; then
    say "cached: $broker"
    echo "$broker"
    exit 0
fi

for tool in apt-get dpkg-source cmake cc; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool is missing (apt-get install -y dpkg-dev cmake build-essential libssl-dev libcjson-dev)"; exit 1; }
done

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/parts"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb-src [signed-by=$keyring] http://deb.debian.org/debian sid main" >"$work/apt/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/apt/sources.list -o Dir::Etc::SourceParts=$work/apt/parts
 -o Dir::State::Lists=$work/apt/lists -o Dir::Cache=$work/apt/cache -o APT::Sandbox::User=root"

say "reading sid's source index (temporary apt configuration in $work/apt)"
# shellcheck disable=SC2086
timeout 600 apt-get $apt_opts -qq update
# The newest Debian revision of this upstream version (2.1.2-3 today).
# shellcheck disable=SC2086
debian_version=$(apt-cache $apt_opts showsrc mosquitto | sed -n "s/^Version: \($version-[^ ]*\)$/\1/p" | sort -V | tail -n 1)
if [ -z "$debian_version" ]; then
    say "sid has no mosquitto $version source package any more; set ADELINE_MOSQUITTO_VERSION"
    exit 1
fi
say "fetching mosquitto $debian_version (with Debian's patches)"
# shellcheck disable=SC2086
(cd "$work" && timeout 600 apt-get $apt_opts -qq source "mosquitto=$debian_version" >/dev/null)
src="$work/mosquitto-$version"
[ -d "$src" ] || { say "apt-get source did not unpack $src"; exit 1; }

say "building (cmake, $(nproc 2>/dev/null || echo 2) jobs) into $prefix"
staging="$prefix.tmp.$$"
rm -rf "$staging"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_RPATH="$prefix/lib" \
    -DWITH_DOCS=OFF -DDOCUMENTATION=OFF -DWITH_TESTS=OFF -DWITH_TLS=ON -DWITH_WEBSOCKETS=ON \
    -DWITH_WEBSOCKETS_BUILTIN=ON -DWITH_HTTP_API=OFF -DWITH_PLUGIN_PERSIST_SQLITE=OFF \
    -DWITH_BUNDLED_DEPS=ON >"$work/cmake.log" 2>&1 || { tail -n 30 "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j "$(nproc 2>/dev/null || echo 2)" >"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; exit 1; }
DESTDIR="$staging" cmake --install "$work/build" >/dev/null
# DESTDIR keeps the full prefix below it: move that tree into place in one rename.
rm -rf "$prefix"
mv "$staging$prefix" "$prefix"
rm -rf "$staging"

got=$(built_version "$broker")
[ "$got" = "$version" ] || { say "built $broker reports version '$got', not $version"; exit 1; }
say "built $broker"
echo "$broker"
