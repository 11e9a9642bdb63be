#!/bin/bash
# test_mail: alert e-mail through a real SMTP server (aiosmtpd,
# smtp_server.py) on free loopback ports, a real mosquitto and lienwatchd;
# what arrives is parsed with Python's email package (mail_check.py).
#   A. geofence_exit, offline and back_online of a registered overdue
#      vehicle: headers (Date, Message-ID from the alert id, From, To,
#      RFC 2047 Subject), UTF-8 (Chinese) plate and description intact,
#      kind, VIN, account, OSM link, geo: URI, last fix before the silence,
#      gap and distance; routing of kinds to more recipients; a recipient
#      refused with 550: failed, kept, delivery_failed on MQTT and logged,
#      the other recipient still served;
#   B. the SMTP server is down while alerts fire and comes up later, one
#      recipient greylisted (451 twice): every mail arrives, exactly once;
#   C. the daemon is stopped with mail pending, and again in the middle of
#      a send: after the restarts everything is delivered (the interrupted
#      one may come twice, with the same Message-ID; none is lost);
#   D. a storm of 300 offline alerts: 20 mails and a digest, not 300 mails;
#      every vehicle is named in some mail, every alert in exactly one;
#   E. STARTTLS with a private CA and AUTH (password from the systemd
#      credential); STARTTLS required against a server without it: not
#      sent in clear; a wrong password (config file): retried, not failed,
#      and delivered after the password file is fixed and SIGHUP;
#   F. 25 vehicles with a parking history go silent together: the 20
#      single offline mails and the storm digest of the other 5 name each
#      vehicle's usual place.
source "$(dirname "$0")/../lib.sh"
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
$PY -c 'import aiosmtpd' 2>/dev/null || skip "python3-aiosmtpd not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto-clients not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"
command -v openssl >/dev/null || skip "openssl not installed"
# valgrind slows the daemon ~20x
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
PORT=$(free_port)
start_mosquitto "$PORT"
L="$BIN/lienwatch"
SMTPD="$PY $ROOT/tests/integration/smtp_server.py"
MC="$PY $ROOT/tests/integration/mail_check.py"
FROM='Lienwatch 警报 <alerts@lender.example>'
PLATE='粤B·12345'
DESC='白色 大众朗逸 2019 款，左后门有划痕'
RUN=0

# start_smtp NAME PORT [OPTIONS]: smtp_server.py storing into $T/NAME.mail;
# sets SMTP_PID
start_smtp() {
    local name=$1 port=$2
    shift 2
    $SMTPD --port "$port" --dir "$T/$name.mail" "$@" >>"$T/$name.smtp.log" 2>&1 &
    SMTP_PID=$!
    lw_track "$SMTP_PID"
    wait_for 10 port_open "$port" || fail "smtp server $name did not start: $(cat "$T/$name.smtp.log")"
}

# start_daemon NAME SMTP_PORT [OPTIONS]: lienwatchd on $T/NAME.db mailing
# smtp://127.0.0.1:SMTP_PORT in clear (OPTIONS may override); sets DPID and
# DLOG (one log per run). The fixes jump kilometres within seconds: the
# jump check is off (test_gps_jump.sh tests it).
start_daemon() {
    local name=$1 sport=$2
    shift 2
    RUN=$((RUN + 1))
    DLOG="$T/$name.$RUN.log"
    lw_wrap "$BIN/lienwatchd" --db "$T/$name.db" --mqtt-port "$PORT" \
        --set mqtt.client_id="lw-$name" --set mqtt.reconnect_max=2s \
        --set smtp.url="smtp://127.0.0.1:$sport" --set smtp.starttls=no \
        --set smtp.from="$FROM" --set smtp.to=ops@lender.example \
        --set smtp.retry_initial_s=1 --set smtp.retry_max_s=2 \
        --set ingest.max_speed_kmh=0 \
        "$@" -v >"$DLOG" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for $((10 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+ (QoS 1 granted)" "$DLOG" ||
        fail "daemon $name did not start: $(tail -5 "$DLOG")"
}

# ob NAME EXPR: EXPR evaluated in Python on o = 'lienwatch outbox --json'
ob() {
    "$L" --db "$T/$1.db" outbox --json 2>/dev/null |
        $PY -c "import json,sys; o=json.load(sys.stdin); print($2)" 2>/dev/null
}
is_true() { [ "$(ob "$1" "$2")" = True ]; }
n_state() { ob "$1" "sum(1 for m in o['mail'] if m['state'] == '$2')"; }

# register DB PREFIX N [ALLOWANCE_MS]: N vehicles PREFIX/001.. of one
# overdue account, straight into the database (the CLI does one per run)
register() {
    local now
    now=$(date +%s%3N)
    sqlite3 -cmd ".timeout 10000" "$1" "
        BEGIN;
        INSERT INTO accounts(id, days_past_due, status, updated_ms, source)
            VALUES ('ACC-$2', 30, 'overdue', $now, 'test')
            ON CONFLICT(id) DO NOTHING;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
        INSERT INTO vehicles(device, vin, plate, description, account,
                             offline_after_ms, registered_ms, updated_ms)
            SELECT printf('$2/%03d', i), printf('VIN$2%011d', i),
                   printf('$2-%03d', i), 'grey van', 'ACC-$2', ${4:-0},
                   $now, $now FROM n;
        INSERT INTO meta(key, value) VALUES ('registry_version', 1)
            ON CONFLICT(key) DO UPDATE SET value = value + 1;
        COMMIT;" || fail "cannot register vehicles in $1"
}

# fix DEVICE LAT LON TST: an OwnTracks location (accuracy 12 m)
fix() {
    mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" \
        -m "{\"_type\":\"location\",\"lat\":$2,\"lon\":$3,\"tst\":$4,\"acc\":12}" ||
        fail "cannot publish a fix of $1"
}

# msgid_of NAME KIND: the Message-ID of the (single) mail about the alert
# of KIND
msgid_of() {
    ob "$1" "[m['message_id'] for m in o['mail'] if m['kind'] == '$2' and not m['digest']][0]"
}
alert_id_of() {
    "$L" --db "$T/$1.db" alerts --json |
        $PY -c "import json,sys; print([a['id'] for a in json.load(sys.stdin) if a['kind'] == '$2'][0])"
}

# ---- A: content, routing, a 5xx recipient ----------------------------------
SA=$(free_port)
start_smtp a "$SA" --reject5 bad@recovery.example
SA_PID=$SMTP_PID
start_daemon a "$SA" --set smtp.route_geofence_exit=desk@recovery.example \
    --set smtp.route_offline="Recovery <bad@recovery.example>"
mosquitto_sub -p "$PORT" -q 1 -t 'lienwatch/v1/mail' -C 1 -W $((60 * SLOW)) \
    >"$T/a.meta" 2>"$T/a.meta.err" &
SUB_PID=$!
lw_track "$SUB_PID"
"$L" --db "$T/a.db" --as test account set ACC-9 --days-past-due 45 --status overdue >/dev/null ||
    fail "A: account set"
"$L" --db "$T/a.db" --as test vehicle set alice/car --vin LSVAU2180N2183294 \
    --plate "$PLATE" --description "$DESC" --account ACC-9 \
    --offline-after $((6 * SLOW))s >/dev/null 2>&1 || fail "A: vehicle set"
"$L" --db "$T/a.db" --as test geofence add-circle 'Porto centre' 41.15 -8.61 2000 \
    --kind keep_in >/dev/null || fail "A: geofence add-circle"
wait_for $((10 * SLOW)) grep -Eq "registry: 1 geofences.*, 1 vehicles" "$DLOG" ||
    fail "A: the daemon did not load the registry: $(tail -3 "$DLOG")"
now=$(date +%s)
fix alice/car 41.1500 -8.6100 $((now - 2))
fix alice/car 41.2500 -8.6100 $((now - 1))
fix alice/car 41.2600 -8.6100 "$now"
wait_for $((20 * SLOW)) is_true a "sum(1 for m in o['mail'] if m['kind'] == 'geofence_exit' and m['state'] == 'sent') == 2" ||
    fail "A: geofence_exit mail not sent: $(ob a "o['mail']") $(grep mail: "$DLOG" | tail -5)"
id=$(alert_id_of a geofence_exit)
mid=$(msgid_of a geofence_exit)
[[ "$mid" =~ ^\<alert-$id\.[0-9a-f]{8}@lender\.example\>$ ]] ||
    fail "A: Message-ID $mid is not <alert-$id.TAG@lender.example>"
$MC alert "$T/a.mail" "$mid" --rcpt ops@lender.example --rcpt desk@recovery.example \
    --from "$FROM" --subject-has "geofence_exit" --subject-has "$PLATE" \
    --subject-has "Porto centre" \
    --has "lienwatch alert #$id: geofence_exit" --has "device alice/car" \
    --has "$PLATE" --has "LSVAU2180N2183294" --has "$DESC" --has "ACC-9" \
    --has "45 (overdue)" --has "Porto centre" --has "What to do" \
    --has "https://www.openstreetmap.org/?mlat=41.260000&mlon=-8.610000" \
    --has "geo:41.260000,-8.610000;u=12" --has "12 m" >&2 ||
    fail "A: geofence_exit mail"
say "A: geofence_exit mail $mid to ops and desk checked"

# offline after the allowance: the last fix before the silence; bad@ gets 550
wait_for $((30 * SLOW)) is_true a "sum(1 for m in o['mail'] if m['kind'] == 'offline' and m['state'] != 'pending') == 2" ||
    fail "A: offline mail not handled: $(ob a "o['mail']")"
mid_off=$(msgid_of a offline)
$MC alert "$T/a.mail" "$mid_off" --rcpt ops@lender.example --subject-has offline \
    --has "Last position before the silence" --has "Silent for:" \
    --has "https://www.openstreetmap.org/?mlat=41.260000&mlon=-8.610000" \
    --has "$DESC" >&2 || fail "A: offline mail"
[ "$(ob a "[m['state'] for m in o['mail'] if m['recipient'] == 'bad@recovery.example'][0]")" = failed ] ||
    fail "A: the 550 recipient is not failed: $(ob a "o['mail']")"
ob a "[m['last_error'] for m in o['mail'] if m['state'] == 'failed'][0]" | grep -q "550" ||
    fail "A: last_error lacks the 550 reply"
grep -q "mail: FAILED for good: $mid_off to bad@recovery.example" "$DLOG" ||
    fail "A: failure not logged"
wait "$SUB_PID" || fail "A: no delivery_failed event on lienwatch/v1/mail: $(cat "$T/a.meta.err")"
lw_untrack "$SUB_PID"
$PY - "$T/a.meta" "$mid_off" <<'EOF' || fail "A: delivery_failed event: $(cat "$T/a.meta")"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["kind"] == "delivery_failed", e
assert e["message_id"] == sys.argv[2], e
assert e["recipient"] == "bad@recovery.example", e
assert e["alert_kind"] == "offline" and e["device"] == "alice/car", e
assert len(e["alert_ids"]) == 1 and "550" in e["error"], e
EOF
wait_for $((10 * SLOW)) is_true a "all(m['failure_published'] for m in o['mail'] if m['state'] == 'failed')" ||
    fail "A: the event's PUBACK was not recorded"
"$L" --db "$T/a.db" outbox >"$T/a.outbox" || fail "A: lienwatch outbox"
grep -q "failed .*bad@recovery.example" "$T/a.outbox" && grep -q "error: 550" "$T/a.outbox" ||
    fail "A: lienwatch outbox text: $(cat "$T/a.outbox")"
say "A: offline mail checked; 550 recipient failed, logged, delivery_failed published"

# back online: gap and distance moved
fix alice/car 41.3000 -8.6100 "$(date +%s)"
wait_for $((20 * SLOW)) is_true a "any(m['kind'] == 'back_online' and m['state'] == 'sent' for m in o['mail'])" ||
    fail "A: back_online mail not sent"
$MC alert "$T/a.mail" "$(msgid_of a back_online)" --rcpt ops@lender.example \
    --subject-has back_online --has "First position after the silence" \
    --has "Was silent:" --has "Moved meanwhile:" --has " km" >&2 ||
    fail "A: back_online mail"
$MC once "$T/a.mail" >&2 || fail "A: a mail arrived twice"
# the daemon's retained status (every 10 s) counts the mail: sent, the 550
# failed, nothing left pending
status_mail_ok() {
    mosquitto_sub -p "$PORT" -t lienwatch/v1/daemon -C 1 -W 2 2>/dev/null |
        "$PY" -c '
import json, sys
m = json.load(sys.stdin).get("mail") or {}
ok = (m.get("configured") is True and m.get("sent", 0) >= 4 and
      m.get("failed", 0) >= 1 and m.get("pending") == 0 and m.get("held") == 0)
sys.exit(0 if ok else 1)'
}
wait_for $((25 * SLOW)) status_mail_ok ||
    fail "A: mail counters in the daemon status: $(mosquitto_sub -p "$PORT" -t lienwatch/v1/daemon -C 1 -W 2)"
stop_checked "$DPID" "daemon a"
say "A ok"

# ---- B: SMTP down while alerts fire, up later; greylisting ------------------
SB=$(free_port) # nothing listens there yet
start_daemon b "$SB" --set alerts.offline_after=2s \
    --set smtp.route_offline=grey@recovery.example
register "$T/b.db" b 5
wait_for $((20 * SLOW)) is_true b "len(o['mail']) == 10 and any(m['attempts'] > 0 and 'onnect' in (m['last_error'] or '') for m in o['mail'])" ||
    fail "B: no failed attempts while the server is down: $(ob b "o['mail'][:2]")"
[ "$(n_state b pending)" = 10 ] || fail "B: mail not pending while the server is down"
say "B: 10 mails pending, server down: $(ob b "o['mail'][0]['last_error']")"
start_smtp b "$SB" --reject4 grey@recovery.example:2
wait_for $((30 * SLOW)) is_true b "sum(1 for m in o['mail'] if m['state'] == 'sent') == 10" ||
    fail "B: not all delivered after the server came up: $(ob b "[(m['recipient'], m['state'], m['last_error']) for m in o['mail']]")"
[ "$($MC count "$T/b.mail")" = 10 ] || fail "B: $($MC count "$T/b.mail") mails arrived, not 10"
$MC once "$T/b.mail" >&2 || fail "B: a mail arrived twice"
[ "$(grep -c 'grey@recovery.example: 451' "$T/b.smtp.log")" = 2 ] || fail "B: the server did not greylist"
is_true b "sum(1 for m in o['mail'] if m['recipient'] == 'grey@recovery.example' and m['attempts'] >= 2) >= 2" ||
    fail "B: greylisted mail not retried"
grep -q "451 4.3.0" "$DLOG" || fail "B: the 451 reply is not logged"
stop_checked "$DPID" "daemon b"
say "B ok: server down then up, 451 twice: every mail once"

# ---- C: restarts with mail pending and in the middle of a send --------------
SC=$(free_port)
start_daemon c "$SC" --set alerts.offline_after=2s
register "$T/c.db" c 3
wait_for $((20 * SLOW)) is_true c "len(o['mail']) == 3 and any(m['attempts'] > 0 for m in o['mail'])" ||
    fail "C: mail not queued"
stop_checked "$DPID" "daemon c"
npend=$(n_state c pending)
[ "$npend" -ge 3 ] || fail "C: only $npend pending after the stop"
start_smtp c "$SC" --delay-data $((5 * SLOW))
start_daemon c "$SC" --set alerts.offline_after=2s
wait_for $((20 * SLOW)) grep -q "stored .*000001.eml" "$T/c.smtp.log" ||
    fail "C: nothing reached the server after the restart"
stop_checked "$DPID" "daemon c (mid-send)"
grep -q "abandoned at shutdown" "$DLOG" || fail "C: the stop did not abandon the send in flight"
is_true c "all(m['state'] == 'pending' for m in o['mail'])" ||
    fail "C: the interrupted send is not pending: $(ob c "o['mail']")"
$MC msgids "$T/c.mail" >"$T/c.msgids"
interrupted=$(head -1 "$T/c.msgids" | cut -d' ' -f1)
stop_pid "$SMTP_PID"
start_smtp c "$SC"
start_daemon c "$SC" --set alerts.offline_after=2s
wait_for $((30 * SLOW)) is_true c "all(m['state'] == 'sent' for m in o['mail'])" ||
    fail "C: not delivered after the restart: $(ob c "o['mail']")"
$MC once "$T/c.mail" --allow "$interrupted" >&2 || fail "C: a mail arrived twice"
for m in $(ob c "' '.join(m['message_id'] for m in o['mail'])"); do
    $MC msgids "$T/c.mail" | grep -qF "$m" || fail "C: $m never arrived"
done
[ "$(ob c "len(o['mail'])")" = "$("$L" --db "$T/c.db" alerts --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" ] ||
    fail "C: not one mail per alert"
stop_checked "$DPID" "daemon c"
say "C ok: stop with mail pending, stop mid-send ($interrupted sent again): nothing lost"

# ---- D: a storm of 300 offline alerts ---------------------------------------
SD=$(free_port)
start_smtp d "$SD"
start_daemon d "$SD" --set alerts.offline_after=$((3 * SLOW))s \
    --set smtp.digest_delay_s=3
register "$T/d.db" storm 300
wait_for $((60 * SLOW)) is_true d "o['counts']['held'] == 0 and o['counts']['pending'] == 0 and any(m['digest'] for m in o['mail'])" ||
    fail "D: no digest sent: $(ob d "o['counts']")"
nalerts=$("$L" --db "$T/d.db" alerts --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$nalerts" = 300 ] || fail "D: $nalerts alerts raised, not 300"
singles=$(ob d "sum(1 for m in o['mail'] if not m['digest'])")
digests=$(ob d "sum(1 for m in o['mail'] if m['digest'])")
[ "$singles" = 20 ] || fail "D: $singles single mails, expected 20 (digest_threshold)"
[ "$digests" -ge 1 ] && [ "$digests" -le 3 ] || fail "D: $digests digests"
[ "$($MC count "$T/d.mail")" = $((singles + digests)) ] || fail "D: mail count"
seq -f 'storm/%03g' 1 300 >"$T/d.devices"
$MC devices "$T/d.mail" "$T/d.devices" >&2 || fail "D: a vehicle is named in no mail"
"$L" --db "$T/d.db" alerts --json >"$T/d.alerts.json"
ob d "json.dumps(o['mail'])" >"$T/d.mail.json"
$PY - "$T/d.alerts.json" "$T/d.mail.json" <<'EOF' || fail "D: alerts and mails do not match"
import json, sys
alerts = {a["id"] for a in json.load(open(sys.argv[1]))}
seen = {}
for m in json.load(open(sys.argv[2])):
    for i in m["alert_ids"]:
        seen.setdefault(i, set()).add(m["message_id"])
assert set(seen) == alerts, "alerts in no mail: %s" % sorted(alerts - set(seen))[:5]
twice = [i for i, s in seen.items() if len(s) > 1]
assert not twice, "alerts in two mails: %s" % twice[:5]
EOF
# the digest is queued digest_delay_s (3 s) after the threshold was crossed
$PY - "$T/d.alerts.json" "$T/d.mail.json" "$SLOW" <<'EOF' || fail "D: digest late"
import datetime, json, sys
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
opened = {a["id"]: t(a["opened_at"]) for a in json.load(open(sys.argv[1]))}
for m in json.load(open(sys.argv[2])):
    if m["digest"]:
        first = min(opened[i] for i in m["alert_ids"])
        late = t(m["created_at"]) - first
        assert 2.9 <= late <= 3 + int(sys.argv[3]), "digest %.2f s after its first alert" % late
        print("digest queued %.2f s after its first alert" % late)
EOF
ob d "[m['subject'] for m in o['mail'] if m['digest']][0]" | grep -q "storm digest: .* offline alerts - shared cause likely" ||
    fail "D: digest subject"
grep -q "alert storm: 1 digest" "$DLOG" || fail "D: the digest is not logged"
stop_checked "$DPID" "daemon d"
say "D ok: 300 offline alerts -> $singles mails and $digests digest(s), every vehicle named"

# ---- E: STARTTLS, AUTH, credentials ------------------------------------------
PKI="$T/pki"
mkdir -p "$PKI"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -keyout "$PKI/ca.key" \
    -out "$PKI/ca.pem" -subj "/CN=lienwatch test mail CA" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>>"$PKI/log" || fail "openssl CA"
openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$PKI/server.key" \
    -out "$PKI/server.csr" -subj "/CN=localhost" 2>>"$PKI/log" || fail "openssl csr"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$PKI/server.ext"
openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 2 -sha256 -extfile "$PKI/server.ext" \
    -out "$PKI/server.pem" 2>>"$PKI/log" || fail "openssl sign"
SE=$(free_port)
start_smtp e "$SE" --tls "$PKI/server.pem" "$PKI/server.key" --auth lw:s3cret-pw
mkdir -p "$T/creds"
echo 's3cret-pw' >"$T/creds/smtp-password"
chmod 600 "$T/creds/smtp-password"
export CREDENTIALS_DIRECTORY="$T/creds"
start_daemon e "$SE" --set smtp.starttls=required --set smtp.cafile="$PKI/ca.pem" \
    --set smtp.username=lw --set alerts.offline_after=2s
unset CREDENTIALS_DIRECTORY
register "$T/e.db" e 1
wait_for $((20 * SLOW)) is_true e "len(o['mail']) == 1 and o['mail'][0]['state'] == 'sent'" ||
    fail "E: not sent over STARTTLS with AUTH: $(ob e "o['mail']") $(grep mail: "$DLOG" | tail -3)"
grep -q "AUTH .* as b'lw': ok" "$T/e.smtp.log" || fail "E: no AUTH seen by the server"
grep -q "Ready to start TLS" "$DLOG" && grep -q "SSL connection using" "$DLOG" ||
    fail "E: no TLS in the conversation"
$MC alert "$T/e.mail" "$(ob e "o['mail'][0]['message_id']")" --rcpt ops@lender.example \
    --has "device e/001" >&2 || fail "E: mail"
stop_checked "$DPID" "daemon e"
say "E: STARTTLS (private CA) + AUTH with the credential smtp-password: sent"

# STARTTLS required (the default), server without it: never sent in clear
before=$($MC count "$T/a.mail")
start_daemon e2 "$SA" --set smtp.starttls=required --set alerts.offline_after=2s
register "$T/e2.db" e2 1
wait_for $((20 * SLOW)) grep -q "does not offer STARTTLS" "$DLOG" ||
    fail "E: STARTTLS required against a plain server: $(grep mail: "$DLOG" | tail -3)"
[ "$(n_state e2 pending)" = 1 ] || fail "E: the mail is not pending"
[ "$($MC count "$T/a.mail")" = "$before" ] || fail "E: sent in clear"
stop_checked "$DPID" "daemon e2"
say "E: STARTTLS required: nothing sent to a server without it"

# a wrong password: retried (not failed); fixed file + SIGHUP: delivered
echo 'wrong' >"$T/e3.pw"
chmod 600 "$T/e3.pw"
printf '[smtp]\nusername = lw\npassword_file = %s\n' "$T/e3.pw" >"$T/e3.conf"
start_daemon e3 "$SE" -c "$T/e3.conf" --set smtp.starttls=required \
    --set smtp.cafile="$PKI/ca.pem" --set alerts.offline_after=2s
register "$T/e3.db" e3 1
wait_for $((20 * SLOW)) grep -q "refused the login of 'lw'" "$DLOG" ||
    fail "E: wrong password not reported: $(grep mail: "$DLOG" | tail -3)"
[ "$(n_state e3 pending)" = 1 ] || fail "E: a refused login failed the mail"
echo 's3cret-pw' >"$T/e3.pw"
kill -HUP "$DPID"
wait_for $((20 * SLOW)) is_true e3 "o['mail'][0]['state'] == 'sent'" ||
    fail "E: not sent after the password was fixed: $(ob e3 "o['mail']")"
stop_checked "$DPID" "daemon e3"
say "E ok: wrong password retried, SIGHUP with the right one delivered"

# ---- F: where they park, in the offline mails and the storm digest ---------
SF=$(free_port)
start_smtp f "$SF"
"$L" --db "$T/f.db" init-db >/dev/null 2>&1 || fail "F: init-db"
register "$T/f.db" park 25 $((8000 * SLOW))
# each parked two hours at its own place (41.15 + i/100), a fix every
# 5 min, until 30 min ago; heard now, so silent from the start
now_ms=$(date +%s%3N)
sqlite3 -cmd ".timeout 10000" "$T/f.db" "
    BEGIN;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 25),
    k(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j < 24)
    INSERT INTO fix_history(device, fix_time_ms, recv_time_ms, lat_deg,
                            lon_deg, speed_mps, accuracy_m)
        SELECT printf('park/%03d', i), $now_ms - 9000000 + j * 300000,
               $now_ms - 9000000 + j * 300000 + 1000,
               41.15 + i / 100.0 + (j % 3) * 0.00002, -8.61, 0, 12
        FROM n, k;
    INSERT INTO devices(id, first_heard_ms, last_heard_ms, fix_count,
                        last_fix_time_ms, last_recv_time_ms, last_lat_deg,
                        last_lon_deg, last_speed_mps, last_accuracy_m)
        SELECT device, min(fix_time_ms), $now_ms, count(*), max(fix_time_ms),
               max(recv_time_ms),
               41.15 + CAST(substr(device, 6) AS INTEGER) / 100.0, -8.61, 0, 12
        FROM fix_history GROUP BY device;
    COMMIT;" || fail "F: history"
start_daemon f "$SF" --set places.timezone=UTC --set smtp.digest_delay_s=2
wait_for $((60 * SLOW)) is_true f "o['counts']['held'] == 0 and o['counts']['pending'] == 0 and any(m['digest'] for m in o['mail'])" ||
    fail "F: no digest sent: $(ob f "o['counts']")"
[ "$(ob f "sum(1 for m in o['mail'] if not m['digest'])")" = 20 ] || fail "F: not 20 single mails"
mid=$(ob f "[m['message_id'] for m in o['mail'] if not m['digest']][0]")
dev=$(ob f "[m['device'] for m in o['mail'] if not m['digest']][0]")
lat=$($PY -c "print('%.4f' % (41.15 + int('$dev'.split('/')[1]) / 100.0))")
$MC alert "$T/f.mail" "$mid" --rcpt ops@lender.example --has "Where it usually parks" \
    --has "1. $lat" >&2 || fail "F: the offline mail of $dev does not name its place"
dmid=$(ob f "[m['message_id'] for m in o['mail'] if m['digest']][0]")
$MC alert "$T/f.mail" "$dmid" --rcpt ops@lender.example --has "usually parks:" >&2 ||
    fail "F: the digest names no place"
$PY - "$T/f.mail" "$dmid" <<'EOF' || fail "F: the digest does not name each vehicle's place"
import email, email.policy, glob, os, re, sys
for meta in glob.glob(os.path.join(sys.argv[1], "*.json")):
    msg = email.message_from_bytes(open(meta[:-5] + ".eml", "rb").read(),
                                   policy=email.policy.default)
    if msg["Message-ID"] != sys.argv[2]:
        continue
    text = msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    named = 0
    for e in re.split(r"\n(?=#\d+ )", text):
        m = re.search(r"device park/(\d+)", e)
        if not m:
            continue
        lat = "%.4f" % (41.15 + int(m.group(1)) / 100.0)
        assert "usually parks:" in e and ("1. " + lat) in e, e
        named += 1
    assert named == 5, named
    print("digest: %d vehicles, each with its usual place" % named)
    break
else:
    sys.exit("digest not received")
EOF
stop_checked "$DPID" "daemon f"
say "F ok: the offline mails and the storm digest name where each vehicle parks"
