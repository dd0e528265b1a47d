#!/bin/sh
# Install amqtt (PyPI), an MQTT 3.1.1-only broker, in a venv of its own for the integration tests
# (tests/integration/test_other_brokers.py): a broker that is not mosquitto. Its dependencies
# (pydantic, typer, websockets, transitions...) never meet ours: the venv is DIR, not .venv.
#
# Usage: sh .ci/install-amqtt.sh DIR   (prints the version; idempotent)
# Environment: AMQTT_VERSION (default 0.12.1), PYTHON (default: python3.13, 3.12, else python3).
set -eu

dir=${1:?usage: install-amqtt.sh DIR}
version=${AMQTT_VERSION:-0.12.1}
if [ -x "$dir/bin/amqtt" ] && "$dir/bin/python" -c "import importlib.metadata as m; \
assert m.version('amqtt') == '$version'" 2>/dev/null; then
    echo "install-amqtt: amqtt $version (already in $dir)"
    exit 0
fi
python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in python3.13 python3.12 python3; do  # the first one that runs (pyenv shims)
        if "$candidate" -c 'import venv' >/dev/null 2>&1; then python=$candidate; break; fi
    done
fi
"$python" -m venv --clear "$dir"
"$dir/bin/python" -m pip install -q --disable-pip-version-check "amqtt==$version"
echo "install-amqtt: amqtt $("$dir/bin/python" -c 'import importlib.metadata as m; print(m.version("amqtt"))') (in $dir)"
