#!/bin/bash
# test_payoff.sh - the end of a loan, with a real mosquitto and lienwatchd:
#   - the retained state topic: a watched vehicle shows its position; a
#     vehicle that is not watched shows watched false, last heard and no
#     fix ([privacy] publish_unwatched = no, the default);
#   - paid off over MQTT (loan servicing) and closed with 'lienwatch account
#     set': the vehicles stop being watched at once (state topic), their
#     open alerts are closed, and after purge_after_payoff (2 s here) no
#     position of them is left in any table that holds positions
#     (fix_history, fix_inbox, the devices row's last fix, alerts, outbox)
#     nor in the state topic; their registry records and every audit record
#     remain, the purge itself is an audit record, the chain verifies;
#   - fixes arriving afterwards are counted ignored.paid_off, not stored;
#   - a vehicle of another account is untouched; a payoff reversed before
#     the delay calls the purge off.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
D="$BIN/lienwatchd"
[ -x "$D" ] || fail "$D not built"
command -v mosquitto >/dev/null || skip "mosquitto not installed"
command -v mosquitto_sub >/dev/null || skip "mosquitto_sub not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
lw_setup
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
DB="$T/lw.db"
PORT=$(free_port)
start_mosquitto "$PORT"

LW() { "$L" --db "$DB" --as ops1 "$@"; }
q() { sqlite3 "$DB" "$1"; }
fix() { # fix DEVICE LAT LON [AGE_S]
    mosquitto_pub -p "$PORT" -q 1 -t "owntracks/$1" \
        -m "{\"_type\":\"location\",\"lat\":$2,\"lon\":$3,\"tst\":$(($(date +%s) - ${4:-0})),\"acc\":5}"
}
account() { mosquitto_pub -p "$PORT" -q 1 -r -t "lienwatch/v1/account/$1" -m "$2"; }

"$L" init-db --db "$DB" >/dev/null || fail "init-db"
LW account set ACC-A --days-past-due 40 --status overdue >/dev/null
LW account set ACC-B --days-past-due 40 --status overdue >/dev/null
LW account set ACC-C --days-past-due 40 --status overdue >/dev/null
LW account set ACC-D --days-past-due 0 --status current >/dev/null
LW vehicle set a/car --plate A-1 --vin 1HGCM82633A000001 --account ACC-A >/dev/null
LW vehicle set b/car --plate B-1 --vin 1HGCM82633A000002 --account ACC-B >/dev/null
LW vehicle set c/car --plate C-1 --account ACC-C >/dev/null
LW vehicle set d/car --plate D-1 --account ACC-D >/dev/null
LW account set ACC-E --days-past-due 40 --status overdue >/dev/null
LW vehicle set e/car --plate E-1 --account ACC-E >/dev/null
LW vehicle set f/car --plate F-1 --account ACC-E >/dev/null
# a keep-in fence a/car will leave (an alert whose row carries a position)
LW geofence add-circle home 41.15 -8.61 2000 --kind keep_in --device a/car >/dev/null 2>&1 ||
    LW geofence add home --circle 41.15 -8.61 2000 --kind keep_in >/dev/null 2>&1 || true

# old history to thin: 6 h, a fix a minute: 1 h driving, 4 h parked, 1 h
# driving
$PY - "$DB" <<'PY' || fail "writing old history"
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
t0 = int(time.time() * 1000) - 200 * 86400 * 1000
t0 -= t0 % 3600000
rows, lat = [], 41.0
for i in range(360):
    if i < 60 or i >= 300:
        lat += 0.002
    rows.append(("g/old", t0 + i * 60000, t0 + i * 60000 + 1000, lat, -8.6))
db.executemany("INSERT INTO fix_history (device, fix_time_ms, recv_time_ms, "
               "lat_deg, lon_deg) VALUES (?, ?, ?, ?, ?)", rows)
db.execute("INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count) "
           "VALUES ('g/old', ?, ?, 360)", (t0, t0 + 360 * 60000))
db.commit()
print(t0 + 59 * 60000, t0 + 299 * 60000, file=open(sys.argv[1] + ".stop", "w"))
PY
read -r STOP_FIRST STOP_LAST <"$DB.stop"

mosquitto_sub -p "$PORT" -t 'lienwatch/v1/state/#' -v >"$T/state.log" 2>/dev/null &
lw_track $!
# the made-up fixes jump between far places within seconds: the jump check
# (ingest.max_speed_kmh) would hold them back; test_gps_jump.sh tests it
"$D" --db "$DB" --mqtt-port "$PORT" --set mqtt.client_id=lw-payoff \
    --set privacy.purge_after_payoff=2s --set mqtt.state_interval=0 \
    --set store.retention_delay=0s --set store.thin_after=90d \
    --set ingest.max_speed_kmh=0 --set alerts.parked_alert_after=0 \
    -v >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((20 * SLOW)) grep -q "subscribed to lienwatch/v1/account/+" "$T/d.log" ||
    fail "daemon did not start: $(tail -3 "$T/d.log")"

for dev in a/car b/car c/car d/car e/car f/car; do
    fix "$dev" 41.15 -8.61 30
    fix "$dev" 41.30 -8.70 20
    fix "$dev" 41.31 -8.71 10
done
nfix() { q "SELECT count(*) FROM fix_history WHERE device = '$1'"; }
nfixes() { q "SELECT count(*) FROM fixes WHERE device = '$1'"; }
all_in() { [ "$(q "SELECT count(*) FROM fixes")" -ge 18 ]; }
wait_for $((10 * SLOW)) all_in ||
    fail "fixes not stored: $(q "SELECT count(*) FROM fixes")"

# ---- the state topic: positions only of watched vehicles ----
last_state() { grep "^lienwatch/v1/state/$1 " "$T/state.log" | tail -1 | cut -d' ' -f2-; }
state_is() { # state_is DEVICE PYTHON-ASSERTION
    last_state "$1" | $PY -c "import json,sys; s=json.load(sys.stdin); assert $2, s" 2>/dev/null
}
wait_for $((10 * SLOW)) state_is a/car 's["watched"] is True and s["last_fix"]["lat"] == 41.31' ||
    fail "state of a/car (watched): $(last_state a/car)"
wait_for $((10 * SLOW)) state_is d/car 's["watched"] is False and s["last_fix"] is None and s["last_heard"]' ||
    fail "state of d/car (not watched): $(last_state d/car)"
grep "^lienwatch/v1/state/d/car " "$T/state.log" | grep -q '"lat"' &&
    fail "a position of d/car (not watched) was published: $(grep d/car "$T/state.log")"

# an open alert on a/car to be closed (and stripped of its position)
q "INSERT INTO alerts (kind, device, raised_ms, has_fix, fix_time_ms, lat_deg, lon_deg, state, changed_ms)
   VALUES ('geofence_exit', 'a/car', 1, 1, 1, 41.31, -8.71, 'open', 1)"
q "INSERT INTO outbox (kind, device, recipient, message_id, subject, message, next_try_ms, created_ms)
   VALUES ('geofence_exit', 'a/car', 'ops@example.com', '<x@y>', 'a/car left', 'at 41.31,-8.71', 0, 1)"
naudit0=$(q "SELECT count(*) FROM audit")

# ---- paid off over MQTT; closed through the CLI ----
account ACC-A '{"days_past_due": 40, "status": "paid_off"}'
LW account set ACC-B --days-past-due 40 --status closed >/dev/null || fail "account set closed"
wait_for $((10 * SLOW)) state_is a/car 's["watched"] is False' ||
    fail "a/car still watched after payoff: $(last_state a/car)"
[ "$(q "SELECT state FROM alerts WHERE device = 'a/car' AND kind = 'geofence_exit' ORDER BY id DESC LIMIT 1")" = closed ] ||
    fail "open alert of a/car not closed: $(q "SELECT id, state FROM alerts WHERE device = 'a/car'")"
# a payoff reversed within the delay: nothing purged
LW account set ACC-C --days-past-due 40 --status paid_off >/dev/null
LW account set ACC-C --days-past-due 55 --status overdue >/dev/null

# ---- after the delay: nothing of a/car and b/car holds a position ----
purged() { [ "$(q "SELECT count(*) FROM purges WHERE device = '$1' AND done_ms > 0")" = 1 ]; }
wait_for $((20 * SLOW)) purged a/car || fail "a/car not purged: $(q 'SELECT * FROM purges'); $(grep -i purge "$T/d.log" | tail -3)"
wait_for $((20 * SLOW)) purged b/car || fail "b/car not purged"
for dev in a/car b/car; do
    [ "$(nfixes $dev)" = 0 ] || fail "$dev: fixes left: $(nfixes $dev)"
    [ "$(q "SELECT count(*) FROM devices WHERE id = '$dev' AND (last_lat_deg IS NOT NULL OR last_lon_deg IS NOT NULL OR last_fix_time_ms IS NOT NULL)")" = 0 ] ||
        fail "$dev: last-known fix left"
    [ "$(q "SELECT count(*) FROM last_fix WHERE device = '$dev'")" = 0 ] || fail "$dev: in last_fix"
    [ "$(q "SELECT count(*) FROM alerts WHERE device = '$dev' AND (lat_deg IS NOT NULL OR lon_deg IS NOT NULL)")" = 0 ] ||
        fail "$dev: alert positions left"
    [ "$(q "SELECT count(*) FROM outbox WHERE device = '$dev'")" = 0 ] || fail "$dev: mail left"
    # kept: the registry and the audit trail (the purge is in it)
    [ "$(q "SELECT count(*) FROM vehicles WHERE device = '$dev'")" = 1 ] || fail "$dev: registry record gone"
    [ "$(q "SELECT count(*) FROM audit WHERE action = 'purge' AND device = '$dev' AND who = 'lienwatchd'")" = 1 ] ||
        fail "$dev: no purge audit record"
    wait_for $((10 * SLOW)) state_is "$dev" 's["last_fix"] is None' || fail "$dev: state still has a fix"
done
[ "$(q "SELECT vin FROM vehicles WHERE device = 'a/car'")" = 1HGCM82633A000001 ] || fail "a/car VIN lost"
[ "$(q "SELECT count(*) FROM alerts WHERE device = 'a/car'")" -ge 1 ] || fail "a/car alert record removed"
[ "$(q "SELECT count(*) FROM audit")" -ge $((naudit0 + 2)) ] || fail "audit records lost"
"$L" --db "$DB" audit verify >"$T/verify" 2>&1 || fail "audit chain broken: $(cat "$T/verify")"
grep -q "positions purged: 3 history fixes" <<<"$(q "SELECT detail FROM audit WHERE action = 'purge' AND device = 'a/car'")" ||
    fail "purge detail: $(q "SELECT detail FROM audit WHERE action = 'purge'")"
# not purged: the reversed payoff, the current account
[ "$(nfixes c/car)" = 3 ] || fail "c/car (payoff reversed) lost fixes: $(nfixes c/car)"
[ "$(nfixes d/car)" = 3 ] || fail "d/car (current) lost fixes: $(nfixes d/car)"
[ "$(q "SELECT count(*) FROM purges WHERE device IN ('c/car', 'd/car')")" = 0 ] || fail "c/car or d/car queued"

# ---- fixes arriving afterwards: counted, not stored ----
fix a/car 41.40 -8.80 5
fix b/car 41.40 -8.80 4
fix c/car 41.40 -8.80 3
c_in() { [ "$(nfixes c/car)" = 4 ]; }
wait_for $((10 * SLOW)) c_in || fail "c/car's new fix not stored"
ignored() { [ "$(q "SELECT value FROM counters WHERE name = 'ignored.paid_off'")" = 2 ]; }
wait_for $((10 * SLOW)) ignored || fail "ignored.paid_off: $(q "SELECT * FROM counters")"
[ "$(nfixes a/car)" = 0 ] && [ "$(nfixes b/car)" = 0 ] || fail "a fix after payoff was stored"
[ "$(q "SELECT count(*) FROM devices WHERE id = 'a/car' AND last_lat_deg IS NOT NULL")" = 0 ] ||
    fail "a fix after payoff became the last-known fix"
LW stats >"$T/stats" || fail "stats"
grep -q "paid_off" "$T/stats" || fail "stats lack paid_off: $(cat "$T/stats")"
# the CLI has nothing to show either (with a reason, as it is not watched)
rc=0; LW locate a/car --reason 'check after payoff' >"$T/out" 2>&1 || rc=$?
[ "$rc" = 3 ] || fail "locate a/car after the purge: exit $rc: $(cat "$T/out")"

# ---- thinning ----
thinned() { [ "$(q "SELECT count(*) FROM thin_marks WHERE device = 'g/old'")" = 1 ]; }
wait_for $((20 * SLOW)) thinned || fail "g/old not thinned: $(grep -i thin "$T/d.log" | tail -2)"
n=$(nfixes g/old)
[ "$n" -ge 6 ] && [ "$n" -le 12 ] || fail "g/old thinned to $n fixes: $(q "SELECT fix_time_ms FROM fix_history WHERE device = 'g/old'")"
for t in "$STOP_FIRST" "$STOP_LAST"; do
    [ "$(q "SELECT count(*) FROM fix_history WHERE device = 'g/old' AND fix_time_ms = $t")" = 1 ] ||
        fail "g/old: the stop's end at $t was thinned: $(q "SELECT fix_time_ms FROM fix_history WHERE device = 'g/old'")"
done
grep -q "thinning deleted $((360 - n)) fixes" "$T/d.log" || fail "thinning not logged: $(grep -i thin "$T/d.log")"

# ---- a tracker taken out ----
LW vehicle remove e/car --purge >"$T/out" || fail "vehicle remove --purge"
grep -q "tracker e/car removed" "$T/out" || fail "remove output: $(cat "$T/out")"
LW vehicle remove f/car >"$T/out" || fail "vehicle remove"
wait_for $((10 * SLOW)) purged e/car || fail "e/car not purged at once: $(q "SELECT * FROM purges WHERE device = 'e/car'")"
[ "$(nfixes e/car)" = 0 ] || fail "e/car: fixes left"
[ "$(q "SELECT count(*) FROM audit WHERE device = 'e/car' AND action IN ('vehicle remove', 'purge')")" = 2 ] ||
    fail "e/car: audit of removal and purge: $(q "SELECT action FROM audit WHERE device = 'e/car'")"
[ "$(q "SELECT count(*) FROM vehicles WHERE device = 'e/car'")" = 1 ] || fail "e/car: vehicle record gone"
sleep 1
[ "$(nfixes f/car)" = 3 ] || fail "f/car (removed without --purge) lost fixes: $(nfixes f/car)"
[ "$(q "SELECT done_ms FROM purges WHERE device = 'f/car'")" = 0 ] || fail "f/car purged without --purge"
wait_for $((10 * SLOW)) state_is f/car 's["watched"] is False' || fail "f/car still watched: $(last_state f/car)"
fix e/car 41.5 -8.5 2
fix f/car 41.5 -8.5 1
ignored4() { [ "$(q "SELECT value FROM counters WHERE name = 'ignored.paid_off'")" = 4 ]; }
wait_for $((10 * SLOW)) ignored4 || fail "removed trackers' fixes: $(q "SELECT * FROM counters WHERE name LIKE 'ignored%'")"
[ "$(nfixes e/car)" = 0 ] && [ "$(nfixes f/car)" = 3 ] || fail "a removed tracker's fix was stored"
"$L" --db "$DB" audit verify >"$T/verify" 2>&1 || fail "audit chain broken: $(cat "$T/verify")"

stop_checked "$DPID" lienwatchd
say "ok"
