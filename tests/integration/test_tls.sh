#!/bin/bash
# test_tls: the secured MQTT link, against a real mosquitto running the
# example production config of docs/mosquitto/ (paths and ports adjusted),
# with certificates made here by openssl and a mosquitto_passwd file.
#   A. daemon with cafile, username and password_file connects over TLS and
#      ingests a fix a tracker published with its own credentials;
#   B. the same with the password from $CREDENTIALS_DIRECTORY/mqtt-password
#      (the systemd credential) instead of password_file;
#   C. the example ACLs: a tracker publishing to another tracker's topics
#      (OwnTracks and gpsd) is dropped by the broker, its own topic is not;
#      an anonymous client is refused;
#   D. a wrong CA: the daemon logs a clear certificate error and stores
#      nothing, and keeps running (retrying);
#   E. a server certificate from the right CA but for another host name:
#      refused (host name verification is always on).
source "$(dirname "$0")/../lib.sh"
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
command -v openssl >/dev/null || skip "openssl not installed"
command -v mosquitto_passwd >/dev/null || skip "mosquitto_passwd not installed"
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
# The broker has confirmed all three subscriptions (the daemon logs
# "subscribed to" when it sends SUBSCRIBE; a message published before the
# SUBACK may find no subscription yet). Needs -v (libmosquitto's debug log).
subacked() { [ "$(grep -c 'received SUBACK' "$1")" -ge 3 ]; }

# ---- certificates
P="$T/pki"
mkdir -p "$P"
mkca() { # NAME
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
        -keyout "$P/$1.key" -out "$P/$1.pem" -subj "/CN=lienwatch test $1" \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>>"$P/openssl.log" ||
        fail "openssl: CA $1: $(cat "$P/openssl.log")"
}
mkserver() { # NAME CA SAN
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$P/$1.key" \
        -out "$P/$1.csr" -subj "/CN=$1" 2>>"$P/openssl.log" || fail "openssl: csr $1"
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$3" >"$P/$1.ext"
    openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" \
        -CAcreateserial -days 2 -sha256 -extfile "$P/$1.ext" \
        -out "$P/$1.pem" 2>>"$P/openssl.log" || fail "openssl: sign $1: $(cat "$P/openssl.log")"
}
mkca ca
mkca wrongca
mkserver server ca "DNS:localhost,IP:127.0.0.1"
mkserver othername ca "DNS:mqtt.example.com"
openssl verify -CAfile "$P/ca.pem" "$P/server.pem" >/dev/null || fail "test PKI is broken"

# ---- accounts and ACLs (the example file, as shipped)
PWFILE="$T/lienwatch.passwd"
mosquitto_passwd -c -b "$PWFILE" lienwatchd daemon-secret
mosquitto_passwd -b "$PWFILE" alice alice-secret
mosquitto_passwd -b "$PWFILE" bob bob-secret
cp "$ROOT/docs/mosquitto/aclfile" "$T/lienwatch.acl"

# start_broker NAME CERT: the example mosquitto.conf with this test's paths,
# ports and user; sets TLS_PORT (and BROKER_PID).
start_broker() {
    local name=$1 cert=$2 dir="$T/$1"
    mkdir -p "$dir"
    TLS_PORT=$(free_port)
    local plain
    plain=$(free_port)
    sed -E -e "s#^listener 8883\$#listener $TLS_PORT 127.0.0.1#" \
        -e "s#^listener 1883 127\.0\.0\.1\$#listener $plain 127.0.0.1#" \
        -e "s#^certfile .*#certfile $P/$cert.pem#" \
        -e "s#^keyfile .*#keyfile $P/$cert.key#" \
        -e "s#^password_file .*#password_file $PWFILE#" \
        -e "s#^acl_file .*#acl_file $T/lienwatch.acl#" \
        -e "s#^persistence_location .*#persistence_location $dir/#" \
        -e "s#^log_dest .*#log_dest file $dir/mosquitto.log#" \
        "$ROOT/docs/mosquitto/mosquitto.conf" >"$dir/mosquitto.conf"
    grep -q "^listener $TLS_PORT " "$dir/mosquitto.conf" || fail "example mosquitto.conf: no 'listener 8883' line to adjust"
    grep -q "^certfile $P/" "$dir/mosquitto.conf" || fail "example mosquitto.conf: no certfile line"
    printf 'user %s\nlog_type all\n' "$(id -un)" >>"$dir/mosquitto.conf"
    mosquitto -c "$dir/mosquitto.conf" >"$dir/stdout.log" 2>&1 &
    BROKER_PID=$!
    lw_track "$BROKER_PID"
    wait_for 10 port_open "$TLS_PORT" ||
        fail "mosquitto ($name) did not start: $(cat "$dir/stdout.log" "$dir/mosquitto.log" 2>/dev/null | tail -5)"
}

start_broker good server
GOOD_PORT=$TLS_PORT
GOOD_LOG="$T/good/mosquitto.log"

# pub USER PASSWORD TOPIC PAYLOAD: a tracker publishing over TLS.
pub() {
    mosquitto_pub -h localhost -p "$GOOD_PORT" --cafile "$P/ca.pem" \
        -u "$1" -P "$2" -q 1 -t "$3" -m "$4"
}
owntracks() { # LAT LON
    printf '{"_type":"location","lat":%s,"lon":%s,"tst":%s,"acc":10}' "$1" "$2" "$(date +%s)"
}
tpv() { # LAT LON
    printf '{"class":"TPV","mode":3,"time":"%s","lat":%s,"lon":%s,"speed":1.5}' \
        "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$1" "$2"
}
fixes() { # DB [DEVICE]
    if [ -n "${2:-}" ]; then
        sqlite3 "$1" "SELECT count(*) FROM fixes WHERE device = '$2'" 2>/dev/null || echo 0
    else
        sqlite3 "$1" "SELECT count(*) FROM fixes" 2>/dev/null || echo 0
    fi
}
has_fixes() { [ "$(fixes "$1" "${3:-}")" = "$2" ]; } # DB N [DEVICE]

printf 'daemon-secret\n' >"$T/mqtt-password"
chmod 0600 "$T/mqtt-password"

# write_conf NAME PORT CAFILE [password_file]: a daemon config file.
write_conf() {
    {
        echo "[mqtt]"
        echo "host = localhost"
        echo "port = $2"
        echo "client_id = lw-$1"
        echo "username = lienwatchd"
        [ -n "${4:-}" ] && echo "password_file = $4"
        echo "cafile = $3"
        echo "reconnect_min = 1s"
        echo "reconnect_max = 2s"
        echo "[store]"
        echo "db = $T/$1.db"
    } >"$T/$1.conf"
    "$BIN/lienwatchd" --check-config -c "$T/$1.conf" >"$T/$1.check" 2>&1 ||
        fail "config $1 rejected: $(cat "$T/$1.check")"
}

# start_daemon NAME [ENV...]: DPID
start_daemon() {
    local name=$1
    shift
    local wrap=()
    [ "${LW_VALGRIND:-0}" = 1 ] && wrap=(valgrind -q --error-exitcode=99 \
        --leak-check=full --errors-for-leak-kinds=definite,indirect)
    env "$@" "${wrap[@]}" "$BIN/lienwatchd" -c "$T/$name.conf" -v >"$T/$name.log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for $((5 * SLOW)) test -s "$T/$name.db" || fail "daemon $name did not start: $(tail -5 "$T/$name.log")"
}

# ---- A: TLS, password_file
write_conf a "$GOOD_PORT" "$P/ca.pem" "$T/mqtt-password"
start_daemon a
wait_for $((10 * SLOW)) subacked "$T/a.log" ||
    fail "A: daemon did not connect over TLS: $(grep -v 'mqtt: Client' "$T/a.log" | tail -5)"
grep -q "New client connected from 127.0.0.1:[0-9]* as lw-a .*u'lienwatchd'" "$GOOD_LOG" ||
    fail "A: broker did not see lw-a log in as lienwatchd: $(grep lw-a "$GOOD_LOG" | head -3)"
pub alice alice-secret owntracks/alice/phone "$(owntracks 38.7223 -9.1393)" || fail "A: alice could not publish"
wait_for $((10 * SLOW)) has_fixes "$T/a.db" 1 alice/phone || fail "A: alice's fix not stored: $(tail -5 "$T/a.log")"
say "A ok: TLS + password_file, fix stored"

# ---- C: ACLs, with daemon A still running
# Anonymous: refused.
if mosquitto_pub -h localhost -p "$GOOD_PORT" --cafile "$P/ca.pem" -q 1 \
    -t owntracks/eve/x -m "$(owntracks 1 1)" 2>"$T/anon.err"; then
    fail "C: anonymous publish accepted"
fi
grep -qi "not authori" "$T/anon.err" || fail "C: anonymous refused, but not as 'not authorised': $(cat "$T/anon.err")"
# Wrong password: refused.
if pub alice wrong owntracks/alice/phone "$(owntracks 1 1)" 2>"$T/badpw.err"; then
    fail "C: wrong password accepted"
fi
# bob writes into alice's topics (OwnTracks and gpsd): the broker accepts the
# packet (MQTT 3.1.1 has no way to refuse) and drops it.
pub bob bob-secret owntracks/alice/phone "$(owntracks 10.5 10.5)" || fail "C: bob's publish errored"
pub bob bob-secret owntracks/alice/car "$(owntracks 10.6 10.6)" || fail "C: bob's publish errored"
pub bob bob-secret lienwatch/v1/fix/alice "$(tpv 10.7 10.7)" || fail "C: bob's publish errored"
pub bob bob-secret lienwatch/v1/account/alice '{"days_past_due":0,"status":"current"}' || fail "C: bob's publish errored"
# ... and then into his own, which must arrive: by then the others would have.
pub bob bob-secret owntracks/bob/van "$(owntracks 40.4168 -3.7038)" || fail "C: bob could not publish"
pub bob bob-secret lienwatch/v1/fix/bob "$(tpv 40.4169 -3.7039)" || fail "C: bob could not publish gpsd"
wait_for $((10 * SLOW)) has_fixes "$T/a.db" 1 bob/van || fail "C: bob's own OwnTracks fix not stored"
wait_for $((10 * SLOW)) has_fixes "$T/a.db" 1 bob || fail "C: bob's own gpsd fix not stored"
sleep 0.5
[ "$(fixes "$T/a.db" alice/phone)" = 1 ] || fail "C: bob's fix on alice/phone was stored"
[ "$(fixes "$T/a.db" alice/car)" = 0 ] || fail "C: bob's fix on alice/car was stored"
[ "$(fixes "$T/a.db" alice)" = 0 ] || fail "C: bob's gpsd fix as alice was stored"
[ "$(fixes "$T/a.db")" = 3 ] || fail "C: expected 3 fixes, found $(fixes "$T/a.db")"
n=$(grep -Ec "Denied PUBLISH from .*'(owntracks/alice/|lienwatch/v1/(fix|account)/alice')" "$GOOD_LOG" || true)
[ "$n" -ge 4 ] || fail "C: broker logged $n denied publishes from bob, expected 4"
say "C ok: anonymous and wrong password refused; $n cross-tracker publishes denied by the broker"

stop_pid "$DPID"
grep -q "stopped: received" "$T/a.log" || fail "A: no clean stop"

# ---- B: password from the systemd credential
mkdir -p "$T/creds"
printf 'daemon-secret\n' >"$T/creds/mqtt-password"
chmod 0400 "$T/creds/mqtt-password"
write_conf b "$GOOD_PORT" "$P/ca.pem"
start_daemon b CREDENTIALS_DIRECTORY="$T/creds"
wait_for $((10 * SLOW)) subacked "$T/b.log" ||
    fail "B: daemon did not log in with the credential: $(grep -v 'mqtt: Client' "$T/b.log" | tail -5)"
pub alice alice-secret owntracks/alice/phone "$(owntracks 38.7224 -9.1394)" || fail "B: alice could not publish"
wait_for $((10 * SLOW)) has_fixes "$T/b.db" 1 alice/phone || fail "B: fix not stored"
stop_pid "$DPID"
# The password never appears in the daemon's arguments or log.
! grep -q daemon-secret "$T/b.log" "$T/a.log" || fail "a password appears in the daemon's log"
say "B ok: password from \$CREDENTIALS_DIRECTORY/mqtt-password"

# ---- D: wrong CA
write_conf d "$GOOD_PORT" "$P/wrongca.pem" "$T/mqtt-password"
start_daemon d
wait_for $((10 * SLOW)) grep -qi "certificate verify failed" "$T/d.log" ||
    fail "D: no certificate error logged: $(grep -v 'mqtt: Client' "$T/d.log" | tail -5)"
say "D: daemon says: $(grep -i 'certificate verify failed' "$T/d.log" | head -1 | sed 's/^[^ ]* //')"
pub alice alice-secret owntracks/alice/phone "$(owntracks 38.7225 -9.1395)" || fail "D: alice could not publish"
sleep 2
kill -0 "$DPID" || fail "D: daemon died on a TLS error instead of retrying"
n=$(grep -ci "certificate verify failed" "$T/d.log")
[ "$n" -ge 2 ] || fail "D: daemon did not retry (one certificate error in 2 s with reconnect_max 2s)"
[ "$(fixes "$T/d.db")" = 0 ] || fail "D: a fix was stored through an unverified broker"
! grep -q "received SUBACK" "$T/d.log" || fail "D: daemon subscribed through an unverified broker"
stop_pid "$DPID"
say "D ok: wrong CA refused ($n attempts), nothing stored"

# ---- E: right CA, wrong host name
start_broker other othername
write_conf e "$TLS_PORT" "$P/ca.pem" "$T/mqtt-password"
start_daemon e
wait_for $((10 * SLOW)) grep -qi "host name verification failed" "$T/e.log" ||
    fail "E: no host name error logged: $(grep -v 'mqtt: Client' "$T/e.log" | tail -5)"
say "E: daemon says: $(grep -i 'host name verification failed' "$T/e.log" | head -1 | sed 's/^[^ ]* //')"
sleep 1
! grep -q "received SUBACK" "$T/e.log" || fail "E: daemon accepted a certificate for another host"
stop_pid "$DPID"
say "E ok: certificate for another host name refused"
say "ok"
