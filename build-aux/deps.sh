#!/bin/sh
# Installs the Debian packages lienwatch needs to build, test, benchmark and
# demo. Idempotent and quiet when everything is already installed.
set -eu
PKGS="build-essential pkg-config clang llvm libclang-rt-14-dev valgrind
libmosquitto-dev mosquitto mosquitto-clients libev-dev libsqlite3-dev sqlite3
libjansson-dev libinih-dev libgeos-dev libcmocka-dev libgps-dev gpsd gpsd-clients
libcurl4-openssl-dev libsystemd-dev libssl-dev systemd python3 python3-shapely
python3-aiosmtpd python3-paho-mqtt man-db groff-base openssl procps tzdata curl
libxml2-utils libsodium-dev libmicrohttpd-dev libjs-leaflet
chromium chromium-driver python3-selenium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run 'sudo make deps' (or install them) and try again" >&2
    exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# gpsd's package starts a system gpsd on install; tests run their own.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
