#!/bin/bash
# test_mqtt_connect: lienwatchd and lw-gpsbridge reach a broker whatever the
# order of the addresses its name resolves to, and say which one answered.
#
# The ::1-first cases run the programs in a private mount namespace with a
# standard Debian /etc/hosts bind-mounted over the machine's ("127.0.0.1
# localhost" and "::1 localhost": getaddrinfo gives ::1 first), and the
# broker on 127.0.0.1 only (needs root and unshare -m; skipped otherwise,
# after the parts that need neither):
#   A. daemon, host = localhost, nothing listening yet: both addresses
#      fail and the log names both; then a broker on 127.0.0.1: connected
#      to 127.0.0.1 after ::1 refused; a fix is stored; a broker restart is
#      followed the same way;
#   B. lw-gpsbridge --mqtt-host localhost drains its spool to that broker;
#   C. TLS with a certificate for the NAME localhost only (no IP in it):
#      the daemon connects by address and still verifies the name; a
#      certificate for another name is refused; the TLS server sees the
#      name as SNI (localhost; none for a numeric host);
#   D. ::1 blackholes (a listener whose queue is full drops the SYN): the
#      daemon gives it up after its connect timeout and connects to
#      127.0.0.1;
#   E. SMTP through libcurl to smtp://localhost:PORT with the server on
#      127.0.0.1 only: the alert mail is sent (libcurl's own fallback);
#   F. a name whose DNS server never answers: the daemon's loop keeps
#      running (SIGHUP answered, SIGTERM exits at once) during the lookup.
# Without a namespace:
#   G. a password sent without TLS to an address that is not loopback is
#      warned about, once; to 127.0.0.1 it is not.
source "$(dirname "$0")/../lib.sh"
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
[ -x "$BIN/lw-gpsbridge" ] || fail "$BIN/lw-gpsbridge not built"
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
WRAP=()
[ "${LW_VALGRIND:-0}" = 1 ] && WRAP=(valgrind -q --error-exitcode=99 \
    --leak-check=full --errors-for-leak-kinds=definite,indirect)

subacked() { [ "$(grep -c 'subscribed to .*QoS 1 granted' "$1")" -ge 3 ]; }
owntracks() { # LAT LON
    printf '{"_type":"location","lat":%s,"lon":%s,"tst":%s,"acc":10}' "$1" "$2" "$(date +%s)"
}
fixes() { sqlite3 "$1" "SELECT count(*) FROM fixes" 2>/dev/null || echo 0; }
has_fixes() { [ "$(fixes "$1")" = "$2" ]; }
count() { grep -c -- "$2" "$1" 2>/dev/null || true; }

# The /etc/hosts of a standard Debian 12 installation.
cat >"$T/hosts.debian" <<'EOF'
127.0.0.1	localhost
127.0.1.1	lienwatch-test

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
EOF

# in_ns HOSTS RESOLV CMD...: CMD in a private mount namespace with HOSTS
# over /etc/hosts (and RESOLV over /etc/resolv.conf unless empty). It execs:
# "in_ns ... &" gives CMD's own PID.
in_ns() {
    local hosts=$1 resolv=$2
    shift 2
    exec unshare -m sh -c 'mount --bind "$1" /etc/hosts || exit 97
        if [ -n "$2" ]; then mount --bind "$2" /etc/resolv.conf || exit 97; fi
        shift 2; exec "$@"' sh "$hosts" "$resolv" "$@"
}
NS=1
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
    ! (in_ns "$T/hosts.debian" "" true) 2>"$T/ns.err"; then
    NS=0
    say "no private mount namespace ($(id -un); $(cat "$T/ns.err" 2>/dev/null)): the ::1-first cases A-F will be skipped"
else
    first=$( (in_ns "$T/hosts.debian" "" getent ahosts localhost) | awk 'NR == 1 { print $1 }')
    [ "$first" = ::1 ] || fail "the standard hosts file does not give ::1 first here (got '$first'): this test cannot show the case"
fi

# write_conf NAME HOST PORT [KEY=VALUE...]: $T/NAME.conf
write_conf() {
    local name=$1 host=$2 port=$3 kv
    shift 3
    {
        echo "[mqtt]"
        echo "host = $host"
        echo "port = $port"
        echo "client_id = lw-$name"
        echo "reconnect_min = 1s"
        echo "reconnect_max = 2s"
        for kv in "$@"; do [[ $kv == mqtt.* ]] && echo "${kv#mqtt.}"; done
        echo "[store]"
        echo "db = $T/$name.db"
        for kv in "$@"; do [[ $kv == smtp.* ]] && { echo "[smtp]"; break; }; done
        for kv in "$@"; do [[ $kv == smtp.* ]] && echo "${kv#smtp.}"; done
    } | sed 's/=/ = /' >"$T/$name.conf"
    "$BIN/lienwatchd" --check-config -c "$T/$name.conf" >"$T/$name.check" 2>&1 ||
        fail "config $name rejected: $(cat "$T/$name.check")"
}

# start_daemon NAME [ns HOSTS RESOLV]: DPID; log in $T/NAME.log
start_daemon() {
    local name=$1
    shift
    if [ "${1:-}" = ns ]; then
        (in_ns "$2" "$3" "${WRAP[@]}" "$BIN/lienwatchd" -c "$T/$name.conf" -v) >"$T/$name.log" 2>&1 &
    else
        (exec "${WRAP[@]}" "$BIN/lienwatchd" -c "$T/$name.conf" -v) >"$T/$name.log" 2>&1 &
    fi
    DPID=$!
    lw_track "$DPID"
    wait_for $((5 * SLOW)) test -s "$T/$name.db" || fail "daemon $name did not start: $(tail -5 "$T/$name.log")"
}

if [ "$NS" = 1 ]; then
# ---- A: ::1 first, broker on 127.0.0.1 only
PORT=$(free_port)
write_conf a localhost "$PORT"
start_daemon a ns "$T/hosts.debian" ""
wait_for $((10 * SLOW)) grep -q "cannot connect to any of its 2 addresses" "$T/a.log" ||
    fail "A: no failure of both addresses logged: $(tail -5 "$T/a.log")"
grep -q "mqtt localhost:$PORT: cannot connect to any of its 2 addresses: ::1 (Connection refused); 127.0.0.1 (Connection refused)" "$T/a.log" ||
    fail "A: the failure does not name both addresses in order: $(grep 'cannot connect' "$T/a.log" | head -2)"
start_mosquitto "$PORT"
wait_for $((10 * SLOW)) subacked "$T/a.log" ||
    fail "A: did not connect to the broker on 127.0.0.1: $(grep mqtt "$T/a.log" | tail -5)"
grep -q "mqtt localhost:$PORT: cannot connect to ::1 (Connection refused); trying 127.0.0.1" "$T/a.log" ||
    fail "A: the refused ::1 is not logged before 127.0.0.1"
grep -q "mqtt localhost:$PORT: connected to 127.0.0.1 as lw-a" "$T/a.log" ||
    fail "A: the address connected to is not logged"
mosquitto_pub -h 127.0.0.1 -p "$PORT" -q 1 -t owntracks/alice/phone -m "$(owntracks 38.72 -9.14)"
wait_for $((10 * SLOW)) has_fixes "$T/a.db" 1 || fail "A: the fix was not stored"
# a broker restart: the next connection goes the same way
stop_pid "$MOSQ_PID"
wait_for $((10 * SLOW)) grep -q "connection lost" "$T/a.log" || fail "A: the broker's end not noticed"
start_mosquitto "$PORT"
connected_twice() { [ "$(count "$T/a.log" "connected to 127.0.0.1 as lw-a")" -ge 2 ]; }
wait_for $((15 * SLOW)) connected_twice || fail "A: no reconnection: $(grep mqtt "$T/a.log" | tail -5)"
stop_checked "$DPID" "A: lienwatchd"
say "A ok: localhost = ::1 (refused), then 127.0.0.1: connected, fix stored, restart followed"
BROKER_PORT=$PORT BROKER_PID=$MOSQ_PID

# ---- B: the bridge, same hosts file and broker
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t 'lienwatch/v1/fix/ns' -C 2 -W $((20 * SLOW)) \
    >"$T/b.sub" 2>"$T/b.sub.err" &
SUB=$!
lw_track "$SUB"
DEAD=$(free_port)
"$BIN/lw-gpsbridge" --device ns --gpsd "127.0.0.1:$DEAD" --mqtt-host 127.0.0.1 \
    --mqtt-port "$DEAD" --spool "$T/b.spool" >"$T/b0.log" 2>&1 &
P0=$!
lw_track "$P0"
wait_for $((5 * SLOW)) grep -q "fixes waiting" "$T/b0.log" || fail "B: no spool created: $(tail -3 "$T/b0.log")"
stop_pid "$P0"
for i in 1 2; do
    sqlite3 "$T/b.spool" "INSERT INTO spool (topic, payload, fix_time_ms, taken_ms) VALUES
        ('lienwatch/v1/fix/ns', '{\"class\":\"TPV\",\"mode\":3,\"time\":\"2026-01-01T00:00:0$i.000Z\",\"lat\":41.1,\"lon\":-8.6}', 0, 0)"
done
(in_ns "$T/hosts.debian" "" "${WRAP[@]}" "$BIN/lw-gpsbridge" --device ns --gpsd "127.0.0.1:$DEAD" \
    --mqtt-host localhost --mqtt-port "$BROKER_PORT" --spool "$T/b.spool") >"$T/b.log" 2>&1 &
BP=$!
lw_track "$BP"
wait "$SUB" || fail "B: the spooled fixes did not arrive: $(grep mqtt "$T/b.log" | tail -5)"
lw_untrack "$SUB"
grep -q "mqtt localhost:$BROKER_PORT: connected to 127.0.0.1 as lw-gpsbridge-ns" "$T/b.log" ||
    fail "B: the bridge does not say it connected to 127.0.0.1: $(grep mqtt "$T/b.log" | tail -3)"
grep -q "cannot connect to ::1 (Connection refused); trying 127.0.0.1" "$T/b.log" ||
    fail "B: the bridge did not try ::1 first"
spool_empty() { [ "$(sqlite3 "$T/b.spool" 'SELECT count(*) FROM spool')" = 0 ]; }
wait_for 5 spool_empty || fail "B: spool not drained"
stop_checked "$BP" "B: lw-gpsbridge"
say "B ok: lw-gpsbridge --mqtt-host localhost: ::1 refused, 127.0.0.1 drained the spool"

# ---- C: TLS by address, verified by name
P="$T/pki"
mkdir -p "$P"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -keyout "$P/ca.key" \
    -out "$P/ca.pem" -subj "/CN=lienwatch test CA" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>>"$P/log" || fail "openssl CA"
mkcert() { # NAME SAN
    openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$P/$1.key" -out "$P/$1.csr" \
        -subj "/CN=$1" 2>>"$P/log" || fail "openssl csr $1"
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$2" >"$P/$1.ext"
    openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial \
        -days 2 -sha256 -extfile "$P/$1.ext" -out "$P/$1.pem" 2>>"$P/log" || fail "openssl sign $1"
}
mkcert byname "DNS:localhost"          # no IP address in it
mkcert other "DNS:mqtt.example.com"
mkcert byip "IP:127.0.0.1"
TPORT=$(free_port)
start_mosquitto "$TPORT" "certfile $P/byname.pem
keyfile $P/byname.key"
write_conf c localhost "$TPORT" mqtt.cafile="$P/ca.pem"
start_daemon c ns "$T/hosts.debian" ""
wait_for $((10 * SLOW)) subacked "$T/c.log" ||
    fail "C: no TLS connection to 127.0.0.1 with a certificate for localhost: $(grep mqtt "$T/c.log" | grep -v 'mqtt: Client' | tail -5)"
grep -q "connected to 127.0.0.1 as lw-c" "$T/c.log" || fail "C: not connected to 127.0.0.1"
stop_checked "$DPID" "C: lienwatchd"
OPORT=$(free_port)
start_mosquitto "$OPORT" "certfile $P/other.pem
keyfile $P/other.key"
write_conf c2 localhost "$OPORT" mqtt.cafile="$P/ca.pem"
start_daemon c2 ns "$T/hosts.debian" ""
wait_for $((10 * SLOW)) grep -q "host name verification failed" "$T/c2.log" ||
    fail "C: a certificate for mqtt.example.com was not refused by name: $(grep mqtt "$T/c2.log" | grep -v 'mqtt: Client' | tail -5)"
grep -q "cannot connect to any of its 2 addresses: ::1 (Connection refused); 127.0.0.1 (TLS: host name verification failed: the broker's certificate is not for host name 'localhost')" "$T/c2.log" ||
    fail "C: unclear refusal: $(grep 'cannot connect' "$T/c2.log" | head -1)"
sleep 1
! grep -q "connected to" "$T/c2.log" || fail "C: connected to a broker with another name's certificate"
stop_checked "$DPID" "C: lienwatchd (refused certificate)"
# SNI: what a TLS server sees (it answers the handshake, then closes)
cat >"$T/sni.py" <<'EOF'
import socket, ssl, sys
cert, key, port, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
seen = []
ctx.sni_callback = lambda sslobj, name, c: seen.append(name)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(5)
print("listening", flush=True)
conn, _ = ls.accept()
try:
    ctx.wrap_socket(conn, server_side=True).close()
except Exception:
    pass
with open(out, "w") as f:
    f.write(repr(seen[0] if seen else None) + "\n")
EOF
sni_seen() { # NAME HOST CERT
    local sport
    sport=$(free_port)
    $PY "$T/sni.py" "$P/$3.pem" "$P/$3.key" "$sport" "$T/$1.sni" >"$T/$1.sni.log" 2>&1 &
    local sp=$!
    lw_track "$sp"
    wait_for 5 grep -q listening "$T/$1.sni.log" || fail "C: SNI server did not start: $(cat "$T/$1.sni.log")"
    write_conf "$1" "$2" "$sport" mqtt.cafile="$P/ca.pem"
    start_daemon "$1" ns "$T/hosts.debian" ""
    wait_for $((10 * SLOW)) test -s "$T/$1.sni" || fail "C: the SNI server saw no handshake: $(cat "$T/$1.sni.log")"
    stop_checked "$DPID" "C: lienwatchd ($1)"
    stop_pid "$sp"
}
sni_seen sni localhost byname
[ "$(cat "$T/sni.sni")" = "'localhost'" ] || fail "C: SNI was $(cat "$T/sni.sni"), not 'localhost'"
sni_seen sniip 127.0.0.1 byip
[ "$(cat "$T/sniip.sni")" = None ] || fail "C: SNI $(cat "$T/sniip.sni") sent for a numeric host"
say "C ok: TLS to 127.0.0.1 verified against the name localhost (SNI localhost); another name's certificate refused"

# ---- D: ::1 blackholes, 127.0.0.1 answers
cat >"$T/blackhole.py" <<'EOF'
# Listens on ADDR:PORT with a full accept queue: further SYNs are dropped.
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    c.setblocking(False)
    try:
        c.connect((sys.argv[1], int(sys.argv[2])))
    except BlockingIOError:
        pass
    fill.append(c)
time.sleep(0.5)
probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
probe.settimeout(1.5)
try:
    probe.connect((sys.argv[1], int(sys.argv[2])))
    print("not a blackhole", flush=True)
    sys.exit(1)
except socket.timeout:
    print("blackhole", flush=True)
time.sleep(600)
EOF
$PY "$T/blackhole.py" ::1 "$BROKER_PORT" >"$T/bh.log" 2>&1 &
BH=$!
lw_track "$BH"
wait_for 5 grep -q "blackhole" "$T/bh.log" || fail "D: could not make a blackhole on [::1]:$BROKER_PORT: $(cat "$T/bh.log")"
write_conf d localhost "$BROKER_PORT"
start=$(date +%s)
start_daemon d ns "$T/hosts.debian" ""
wait_for $((25 * SLOW)) subacked "$T/d.log" ||
    fail "D: not connected past the blackholed ::1: $(grep mqtt "$T/d.log" | tail -5)"
took=$(($(date +%s) - start))
grep -q "cannot connect to ::1 (no TCP connection within 10.0 s); trying 127.0.0.1" "$T/d.log" ||
    fail "D: the blackholed address is not logged: $(grep mqtt "$T/d.log" | head -5)"
grep -q "connected to 127.0.0.1 as lw-d" "$T/d.log" || fail "D: not connected to 127.0.0.1"
stop_checked "$DPID" "D: lienwatchd"
stop_pid "$BH"
say "D ok: ::1 silent for 10 s, then 127.0.0.1 (connected after ${took} s)"

# ---- E: SMTP (libcurl) to localhost with the server on 127.0.0.1 only
SPORT=$(free_port)
$PY "$ROOT/tests/integration/smtp_server.py" --port "$SPORT" --dir "$T/e.mail" >"$T/e.smtp.log" 2>&1 &
lw_track $!
wait_for 10 port_open "$SPORT" || fail "E: smtp server did not start: $(cat "$T/e.smtp.log")"
write_conf e localhost "$BROKER_PORT" smtp.url="smtp://localhost:$SPORT" smtp.starttls=no \
    smtp.from=alerts@lender.example smtp.to=ops@lender.example smtp.retry_initial_s=1 smtp.retry_max_s=2
start_daemon e ns "$T/hosts.debian" ""
wait_for $((10 * SLOW)) subacked "$T/e.log" || fail "E: daemon did not connect: $(tail -3 "$T/e.log")"
L="$BIN/lienwatch"
"$L" --db "$T/e.db" --as test account set ACC-1 --days-past-due 45 --status overdue >/dev/null ||
    fail "E: account set"
"$L" --db "$T/e.db" --as test vehicle set ns/car --vin VIN00000000000001 --plate NS-1 \
    --account ACC-1 --offline-after 3s >/dev/null 2>&1 || fail "E: vehicle set"
wait_for $((10 * SLOW)) grep -Eq "registry: .*1 vehicles" "$T/e.log" || fail "E: registry not loaded"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t owntracks/ns/car -m "$(owntracks 41.15 -8.61)"
sent() {
    [ "$("$L" --db "$T/e.db" outbox --json 2>/dev/null |
        $PY -c "import json,sys; print(sum(1 for m in json.load(sys.stdin)['mail'] if m['state'] == 'sent'))" 2>/dev/null)" = 1 ]
}
wait_for $((30 * SLOW)) sent ||
    fail "E: the offline alert mail was not sent to smtp://localhost: $(grep mail: "$T/e.log" | tail -5)"
ls "$T/e.mail"/* >/dev/null 2>&1 || fail "E: the SMTP server has no message"
stop_checked "$DPID" "E: lienwatchd"
say "E ok: alert mail sent to smtp://localhost:$SPORT (server on 127.0.0.1 only)"

# ---- F: a lookup that hangs does not hold the loop
cat >"$T/dns_sink.py" <<'EOF'
# A DNS server that reads queries and never answers.
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
print("sink", flush=True)
while True:
    s.recvfrom(4096)
EOF
$PY "$T/dns_sink.py" 127.0.0.53 >"$T/dns.log" 2>&1 &
lw_track $!
wait_for 5 grep -q sink "$T/dns.log" || fail "F: DNS sink did not start: $(cat "$T/dns.log")"
printf 'nameserver 127.0.0.53\noptions timeout:5 attempts:2\n' >"$T/resolv.sink"
write_conf f broker.lienwatch.test "$BROKER_PORT"
start_daemon f ns "$T/hosts.debian" "$T/resolv.sink"
wait_for $((5 * SLOW)) grep -q "mqtt broker.lienwatch.test:$BROKER_PORT: connecting" "$T/f.log" ||
    fail "F: no connection attempt: $(tail -3 "$T/f.log")"
sleep 1
kill -HUP "$DPID"
wait_for 2 grep -q "SIGHUP: configuration re-read" "$T/f.log" ||
    fail "F: SIGHUP not handled while the name lookup hangs: $(tail -3 "$T/f.log")"
! grep -q "cannot resolve" "$T/f.log" || fail "F: the lookup ended early; the sink did not hold it"
t0=$(date +%s%N)
stop_checked "$DPID" "F: lienwatchd"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt $((2000 * SLOW)) ] || fail "F: SIGTERM took $ms ms during a hanging lookup"
say "F ok: during a hanging DNS lookup SIGHUP was answered and SIGTERM took $ms ms"
fi # NS

# ---- G: a password without TLS to an address that is not loopback
printf 'not-a-secret\n' >"$T/pw"
chmod 600 "$T/pw"
# an address of this machine's that is not loopback (ip(8) from iproute2, or
# hostname -I where iproute2 is not installed)
IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }')
[ -n "$IP" ] || IP=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -v '^127\.\|:' || true)
GPORT=$(free_port)
start_mosquitto "$GPORT" ${IP:+"listener $GPORT $IP"}
write_conf g 127.0.0.1 "$GPORT" mqtt.username=dev mqtt.password_file="$T/pw"
start_daemon g
wait_for $((10 * SLOW)) subacked "$T/g.log" || fail "G: no connection to 127.0.0.1: $(tail -3 "$T/g.log")"
! grep -q "without TLS" "$T/g.log" || fail "G: warned about a password to 127.0.0.1"
stop_checked "$DPID" "G: lienwatchd"
if [ -n "$IP" ]; then
    write_conf g2 "$IP" "$GPORT" mqtt.username=dev mqtt.password_file="$T/pw"
    start_daemon g2
    wait_for $((10 * SLOW)) subacked "$T/g2.log" || fail "G: no connection to $IP: $(tail -3 "$T/g2.log")"
    grep -q "warning: mqtt $IP:$GPORT: the password of user 'dev' goes to $IP without TLS" "$T/g2.log" ||
        fail "G: no warning for a password in clear to $IP: $(grep mqtt "$T/g2.log" | head -5)"
    stop_pid "$MOSQ_PID" # a reconnection to the same address is not warned again
    start_mosquitto "$GPORT" "listener $GPORT $IP"
    wait_for $((15 * SLOW)) grep -q "connection lost" "$T/g2.log" || fail "G: broker restart not seen"
    back() { [ "$(count "$T/g2.log" "connected to $IP")" -ge 2 ]; }
    wait_for $((15 * SLOW)) back || fail "G: no reconnection"
    [ "$(count "$T/g2.log" "without TLS")" = 1 ] || fail "G: the warning repeats on reconnection"
    stop_checked "$DPID" "G: lienwatchd"
    say "G ok: a clear-text password to $IP warned once; none to 127.0.0.1"
else
    say "G: no address other than loopback on this machine: only the loopback half ran"
fi
[ "$NS" = 1 ] || skip "private mount namespaces not permitted: the ::1-first cases did not run (G passed)"
say "ok"
