#!/bin/sh
# Make sure a Docker engine answers `docker info`; start one in the background if none does.
#
# For CI containers without systemd (see ../shared reference verified-facts.md): the vfs storage
# driver works on any filesystem, and --iptables=false --bridge=none need no kernel privileges
# beyond what a container has. Compose's user-defined networks still publish ports.
# An engine that already answers is reused and never stopped (other jobs may share it).
#
# Environment: DOCKERD_LOG (default /tmp/dockerd.log), DOCKERD_WAIT seconds (default 30).
set -eu

log=${DOCKERD_LOG:-/tmp/dockerd.log}
wait_s=${DOCKERD_WAIT:-30}

if docker info >/dev/null 2>&1; then
    echo "start-docker: an engine already answers; reusing it"
    exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "start-docker: dockerd is not installed (apt-get install -y docker.io)" >&2
    exit 1
fi

echo "start-docker: starting dockerd (log: $log)"
# setsid: the engine must outlive this script and ignore the caller's Ctrl+C.
setsid dockerd --storage-driver=vfs --iptables=false --bridge=none >>"$log" 2>&1 </dev/null &

# Poll until it answers, bounded: 10 tries a second.
tries=$((wait_s * 10))
while [ "$tries" -gt 0 ]; do
    if docker info >/dev/null 2>&1; then
        echo "start-docker: engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
        exit 0
    fi
    tries=$((tries - 1))
    sleep 0.1
done
echo "start-docker: dockerd did not answer within ${wait_s} s; its log ends:" >&2
tail -n 20 "$log" >&2 || true
exit 1
