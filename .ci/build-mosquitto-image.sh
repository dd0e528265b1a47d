#!/bin/sh
# Make sure the broker image the compose file uses exists in the local engine.
#
# 1. Already there: nothing to do.
# 2. `docker pull` (where a registry is reachable).
# 3. Else build it from this machine's Debian mosquitto (2.0.x, like eclipse-mosquitto:2.0):
#    the binaries, every library `ldd` lists, busybox as /bin/sh, a `mosquitto` user with
#    uid/gid 1883 (as in the official image), /mosquitto/{config,data,log} owned by it, then
#    `docker import` with the official image's CMD.
#
# Tag: $MOSQUITTO_IMAGE, else the default in docker/adeline/docker-compose.mqtt.yml.
# Needs (apt): docker.io mosquitto mosquitto-clients busybox.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
compose="$here/docker/adeline/docker-compose.mqtt.yml"
default_tag=$(sed -n 's/.*image: \${MOSQUITTO_IMAGE:-\([^}]*\)}.*/\1/p' "$compose" | head -n 1)
tag=${MOSQUITTO_IMAGE:-${default_tag:-eclipse-mosquitto:2.0}}

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "build-mosquitto-image: $tag is present"
    exit 0
fi
# Bounded: without a registry, DNS or TCP timeouts could otherwise hang CI.
if timeout 120 docker pull "$tag" >/dev/null 2>&1; then
    echo "build-mosquitto-image: pulled $tag"
    exit 0
fi
echo "build-mosquitto-image: cannot pull $tag; building it from Debian's mosquitto"

for bin in /usr/sbin/mosquitto /usr/bin/mosquitto_sub /usr/bin/mosquitto_pub; do
    [ -x "$bin" ] || { echo "build-mosquitto-image: $bin is missing (apt-get install -y mosquitto mosquitto-clients)" >&2; exit 1; }
done
busybox=$(command -v busybox || true)
if [ -z "$busybox" ]; then
    echo "build-mosquitto-image: installing busybox"
    apt-get install -y busybox >/dev/null
    busybox=$(command -v busybox)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/bin" "$root/usr/sbin" "$root/usr/bin" "$root/etc" "$root/tmp" \
    "$root/mosquitto/config" "$root/mosquitto/data" "$root/mosquitto/log"
chmod 1777 "$root/tmp"

cp /usr/sbin/mosquitto "$root/usr/sbin/"
cp /usr/bin/mosquitto_sub /usr/bin/mosquitto_pub "$root/usr/bin/"
cp "$busybox" "$root/bin/busybox"
for applet in sh ls cat id ps; do ln -s busybox "$root/bin/$applet"; done

# Every shared library the programs load, at the same path (the loader included).
for bin in /usr/sbin/mosquitto /usr/bin/mosquitto_sub /usr/bin/mosquitto_pub "$busybox"; do
    ldd "$bin" | awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }'
done | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
mosquitto:x:1883:1883:mosquitto:/var/empty:/sbin/nologin
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
mosquitto:x:1883:
GROUP
# The broker drops to `mosquitto` and must write its data and log (named volumes copy this).
chown -R 1883:1883 "$root/mosquitto/data" "$root/mosquitto/log"

tar --numeric-owner -C "$root" -czf "$work/root.tgz" .
docker import \
    -c 'CMD ["/usr/sbin/mosquitto","-c","/mosquitto/config/mosquitto.conf"]' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'EXPOSE 1883 9001' \
    -c 'VOLUME ["/mosquitto/data","/mosquitto/log"]' \
    -c 'LABEL org.adeline.built-from=debian-mosquitto' \
    "$work/root.tgz" "$tag" >/dev/null
echo "build-mosquitto-image: built $tag ($(/usr/sbin/mosquitto -h 2>/dev/null | head -n 1))"
