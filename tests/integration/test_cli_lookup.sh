#!/bin/bash
# test_cli_lookup.sh - 'lienwatch locate' and 'history' given what a field
# agent has in hand: a plate or a VIN as people type them, or a device id.
#
# The registry is written with the CLI itself (vehicle set, account set),
# the trackers' reports and the daemon's alerts with the sqlite3 shell, as
# lienwatchd would have left them. Checks:
#   - plates and VINs found whatever the case, spaces, hyphens and dots;
#     --plate, --vin and --device; device ids exact;
#   - an ambiguous name (two plates that differ in spacing, a plate equal to
#     another vehicle's device id) lists device, plate, VIN, description and
#     what matched on stderr, prints nothing on stdout, exits 2; --device
#     then picks one;
#   - no match: exit 3 and a message per kind of name; a registered vehicle
#     whose tracker never reported: exit 3;
#   - locate's text and --json: the vehicle, the account with days past due,
#     whether it is watched under lienwatchd's watch_days_past_due (read
#     from --config; a missing or bad --config is an error), the open alerts
#     (acknowledged ones included, closed ones not); an unregistered device;
#   - the audit trail: one row per lookup, with the device resolved, or the
#     name as typed when it resolved to none or several;
#   - history by plate or VIN gives what history by device gives;
#   - usage errors, and the --help of both commands.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
[ -x "$L" ] || fail "$L not built"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
lw_setup
DB="$T/lw.db"

# run WANT_RC CMD...: runs CMD, output in $T/out and $T/err, checks the code.
run() {
    local want=$1 rc=0
    shift
    (lw_wrap "$@") >"$T/out" 2>"$T/err" || rc=$?  # lw_wrap execs
    if [ "$rc" != "$want" ]; then
        say "stdout:"; cat "$T/out" >&2; say "stderr:"; cat "$T/err" >&2
        fail "exit $rc, wanted $want: $*"
    fi
}
lw() { run "$1" "$L" --db "$DB" --as agent7 "${@:2}"; }
has() { grep -qF -- "$1" "$T/out" || { cat "$T/out" >&2; fail "output lacks: $1"; }; }
lacks() { ! grep -qF -- "$1" "$T/out" || { cat "$T/out" >&2; fail "output has: $1"; }; }
err_has() { grep -qF -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks: $1"; }; }
err_is() {
    [ "$(cat "$T/err")" = "$1" ] || fail "stderr was '$(cat "$T/err")', wanted '$1'"
}
out_empty() { [ ! -s "$T/out" ] || { cat "$T/out" >&2; fail "stdout not empty"; }; }
# pyjson 'python statements': runs them with the output parsed as JSON in d
pyjson() { $PY -c "import json,sys; d=json.load(open('$T/out')); $1" || fail "check failed: $1"; }
audit_count() { sqlite3 "$DB" "SELECT count(*) FROM audit WHERE action IN ('locate', 'history')"; }
# action|--as name|device|reason (who is the OS account, checked once below)
last_audit() { sqlite3 "$DB" "SELECT action || '|' || coalesce(as_name, '') || '|' || coalesce(device, '') || '|' || coalesce(reason, '') FROM audit ORDER BY id DESC LIMIT 1"; }

run 0 "$L" init-db --db "$DB"

# ---- the registry, as operations staff write it ----
lw 0 account set ACC-1001 --days-past-due 45 --status overdue
lw 0 account set ACC-2002 --days-past-due 0 --status current
lw 0 vehicle set alice/phone --plate 'B-LW 123' --vin 1HGCM82633A004352 \
    --description 'white Toyota Corolla' --account ACC-1001
lw 0 vehicle set bob/car --plate 'SP 4411' --vin WVWZZZ1JZXW000001 \
    --description 'grey VW Golf' --account ACC-2002
# two plates that loosen to the same: ambiguous
lw 0 vehicle set carol/van --plate 'ZX-9' --description 'red Fiat Ducato' --account ACC-1001
lw 0 vehicle set dan/van --plate 'zx 9' --description 'red Fiat Ducato, the other one'
# a plate equal to another vehicle's device id
lw 0 vehicle set erin/truck --plate 'ALICE/PHONE' --description 'blue Scania'
# registered, never reported
lw 0 vehicle set fred/car --plate 'HH-AB 77' --account ACC-1001
# an account that does not exist yet
lw 0 vehicle set gina/car --plate 'GI 1' --account ACC-9999 2>/dev/null

# ---- what trackers reported and what the daemon raised ----
now=$(date +%s)
ms() { echo $(( (now - $1) * 1000 )); }
sqlite3 "$DB" <<SQL
INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count) VALUES
    ('alice/phone', $(ms 3600), $(ms 10), 3), ('bob/car', $(ms 3600), $(ms 20), 1),
    ('carol/van', $(ms 3600), $(ms 30), 1), ('dan/van', $(ms 3600), $(ms 30), 1),
    ('erin/truck', $(ms 3600), $(ms 30), 1), ('gina/car', $(ms 3600), $(ms 30), 1),
    ('zed/tracker', $(ms 3600), $(ms 40), 1), ('heard/nofix', $(ms 3600), $(ms 50), 0);
INSERT INTO fix_history VALUES
    ('alice/phone', $(ms 600), $(ms 598), -10.91, -37.07, 10.0, 90.0, 8.0, NULL, 80, 'u'),
    ('alice/phone', $(ms 300), $(ms 298), -10.90, -37.06, 12.0, 45.0, 6.0, 12.0, 79, 'u'),
    ('bob/car', $(ms 400), $(ms 398), -23.55, -46.63, NULL, NULL, NULL, NULL, NULL, NULL),
    ('carol/van', $(ms 400), $(ms 398), 41.15, -8.61, NULL, NULL, NULL, NULL, NULL, NULL),
    ('dan/van', $(ms 400), $(ms 398), 41.16, -8.62, NULL, NULL, NULL, NULL, NULL, NULL),
    ('erin/truck', $(ms 400), $(ms 398), 48.1, 11.5, NULL, NULL, NULL, NULL, NULL, NULL),
    ('gina/car', $(ms 400), $(ms 398), 48.2, 11.6, NULL, NULL, NULL, NULL, NULL, NULL),
    ('zed/tracker', $(ms 400), $(ms 398), 30.0, 31.0, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO fix_inbox VALUES
    ('alice/phone', $(ms 120), $(ms 118), -10.89, -37.05, 13.89, 270.5, 5.0, NULL, 78, 'u');
UPDATE devices SET (last_fix_time_ms, last_recv_time_ms, last_lat_deg,
    last_lon_deg, last_speed_mps, last_course_deg, last_accuracy_m, last_alt_m,
    last_battery_pct, last_trigger_code) = (SELECT fix_time_ms, recv_time_ms,
    lat_deg, lon_deg, speed_mps, course_deg, accuracy_m, alt_m, battery_pct,
    trigger_code FROM fixes f WHERE f.device = devices.id
    ORDER BY fix_time_ms DESC LIMIT 1);
INSERT INTO alerts (kind, device, geofence, raised_ms, has_fix, fix_time_ms,
    lat_deg, lon_deg, state, ack_by, ack_ms, changed_ms) VALUES
    ('geofence_exit', 'alice/phone', 'Aracaju', $(ms 500), 1, $(ms 600), -10.91, -37.07, 'acknowledged', 'agent3', $(ms 400), $(ms 400)),
    ('offline', 'alice/phone', '', $(ms 3000), 0, NULL, NULL, NULL, 'closed', '', 0, $(ms 2000)),
    ('power_cut', 'alice/phone', '', $(ms 200), 0, NULL, NULL, NULL, 'open', '', 0, $(ms 200)),
    ('offline', 'bob/car', '', $(ms 100), 0, NULL, NULL, NULL, 'open', '', 0, $(ms 100));
SQL
ALERT_EXIT=$(sqlite3 "$DB" "SELECT id FROM alerts WHERE kind = 'geofence_exit'")
ALERT_CUT=$(sqlite3 "$DB" "SELECT id FROM alerts WHERE kind = 'power_cut'")
# lienwatchd's configuration: the watch threshold locate applies
printf '[alerts]\nwatch_days_past_due = 30\n' >"$T/d30.conf"
printf '[alerts]\nwatch_days_past_due = 60\n' >"$T/d60.conf"
printf '[alerts]\nwatch_days_pass_due = 60\n' >"$T/bad.conf"

# ---- plates and VINs as people type them ----
for typed in 'B-LW 123' 'b-lw 123' 'BLW123' 'B LW-123' 'b.lw.123' ' blw 123 '; do
    lw 0 locate "$typed" --config "$T/d30.conf"
    has "device      alice/phone"
    has "plate       B-LW 123"
done
lw 0 locate 1hgcm82633a004352 --config "$T/d30.conf"
has "device      alice/phone"
lw 0 locate '1HGCM 82633 A004352' --config "$T/d30.conf"
has "device      alice/phone"
lw 0 locate --plate 'sp4411' --config "$T/d30.conf" --reason 'lookup test'
has "device      bob/car"
lw 0 locate --vin 'wvwzzz1jzxw000001' --config "$T/d30.conf" --reason 'lookup test'
has "device      bob/car"
lw 0 locate --device bob/car --config "$T/d30.conf" --reason 'lookup test'
has "device      bob/car"
# the plate option does not look at VINs, nor the VIN option at plates
lw 3 locate --plate 1HGCM82633A004352
err_is "lienwatch locate: no vehicle with the plate '1HGCM82633A004352' (see 'lienwatch vehicle list')"
lw 3 locate --vin 'B-LW 123'
err_is "lienwatch locate: no vehicle with the VIN 'B-LW 123' (see 'lienwatch vehicle list')"
# device ids are exact
lw 3 locate --device Alice/Phone
err_is "lienwatch locate: no such device 'Alice/Phone' (see 'lienwatch devices')"
lw 3 locate 'B-LW 124'
err_is "lienwatch locate: no device, plate or VIN 'B-LW 124' (see 'lienwatch devices' and 'lienwatch vehicle list')"
# SQL and LIKE characters are only text
lw 3 locate "x' OR '1'='1"
lw 3 locate --plate '%'
lw 3 locate --plate 'B-LW 12_'
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM vehicles')" = 7 ] || fail "vehicles table damaged"

# ---- the text output: vehicle, account, watched, alerts ----
lw 0 locate 'b-lw 123' --config "$T/d30.conf" --reason 'order 2291'
has "device      alice/phone"
has "plate       B-LW 123"
has "vin         1HGCM82633A004352"
has "vehicle     white Toyota Corolla"
has "account     ACC-1001, 45 days past due, overdue"
has "watched     yes: lienwatchd watches from 30 days past due"
has "position    -10.890000, -37.050000"
has "speed       50 km/h (13.89 m/s)"
has "alerts      2 open (lienwatch alerts --device alice/phone)"
grep -Eq "^ +$ALERT_EXIT  geofence_exit 'Aracaju' opened [0-9T:-]+Z \([0-9]+m[0-9]+s ago\), acknowledged$" "$T/out" ||
    fail "acknowledged alert line: $(cat "$T/out")"
grep -Eq "^ +$ALERT_CUT  power_cut opened [0-9T:-]+Z \([0-9]+m[0-9]+s ago\), open$" "$T/out" ||
    fail "open alert line: $(cat "$T/out")"
lacks "offline"   # closed
[ "$(last_audit)" = "locate|agent7|alice/phone|order 2291" ] || fail "audit row: $(last_audit)"
[ "$(sqlite3 "$DB" "SELECT who FROM audit ORDER BY id DESC LIMIT 1")" = "$(id -un)" ] ||
    fail "audit row: who is not the OS account"

lw 0 locate 'b-lw 123' --config "$T/d60.conf" --reason 'lookup test'
has "watched     no: lienwatchd watches from 60 days past due"
lw 0 locate 'sp 4411' --config "$T/d30.conf" --reason 'lookup test'
has "account     ACC-2002, 0 days past due, current"
has "watched     no: lienwatchd watches from 30 days past due"
has "alerts      1 open"
lw 0 locate erin/truck --reason 'lookup test'
has "account     none"
has "watched     no: no account"
has "alerts      none open"
lw 0 locate 'GI 1' --reason 'lookup test'
has "account     ACC-9999, not known yet"
has "watched     no: account not known yet"
lw 0 locate zed/tracker --reason 'lookup test'
has "device      zed/tracker"
has "vehicle     not registered"
has "watched     no: not registered"
lacks "plate"

# ---- --json: the state topic's keys ----
lw 0 locate --plate 'blw123' --json --config "$T/d30.conf"
pyjson "
assert d['device'] == 'alice/phone' and d['registered'] is True, d
assert (d['plate'], d['vin'], d['description']) == ('B-LW 123', '1HGCM82633A004352', 'white Toyota Corolla'), d
assert (d['account'], d['days_past_due'], d['account_status']) == ('ACC-1001', 45, 'overdue'), d
assert d['watched'] is True and d['watch_days_past_due'] == 30, d
assert d['watch_setting_from'] == '$T/d30.conf', d
assert (d['lat'], d['lon']) == (-10.89, -37.05), d
ids = [a['id'] for a in d['open_alerts']]
assert ids == [$ALERT_EXIT, $ALERT_CUT], ids
a = d['open_alerts'][0]
assert (a['kind'], a['state'], a['geofence'], a['late']) == ('geofence_exit', 'acknowledged', 'Aracaju', False), a
assert d['open_alerts'][1]['geofence'] is None
"
lw 0 locate zed/tracker --json --config "$T/d60.conf" --reason 'lookup test'
pyjson "
assert d['registered'] is False and d['watched'] is False, d
assert d['plate'] is None and d['vin'] is None and d['account'] is None and d['days_past_due'] is None, d
assert d['open_alerts'] == [] and d['watch_days_past_due'] == 60, d
"
lw 0 locate 'GI 1' --json --config "$T/d30.conf" --reason 'lookup test'
pyjson "assert d['account'] == 'ACC-9999' and d['days_past_due'] is None and d['watched'] is False, d"
# without --config: lienwatchd's file when there is one, else its default
if [ ! -e /etc/lienwatch/lienwatchd.conf ]; then
    lw 0 locate --device alice/phone --json
    pyjson "assert d['watch_days_past_due'] == 1 and d['watch_setting_from'] is None and d['watched'] is True, d"
fi
# a --config that cannot be used is an error, not a silent default
lw 1 locate alice/phone --config "$T/none.conf"
err_has "$T/none.conf: cannot open"
lw 1 locate alice/phone --config "$T/bad.conf"
err_has "$T/bad.conf:2:"
lw 2 locate alice/phone --config ''

# ---- ambiguous names ----
before=$(audit_count)
lw 2 locate 'zx-9' --reason 'order 7'
out_empty
err_has "lienwatch locate: 'zx-9' names 2 vehicles; name one with --device ID:"
grep -Eq '^    DEVICE +PLATE +VIN +MATCHED +DESCRIPTION$' "$T/err" || fail "listing header: $(cat "$T/err")"
grep -Eq '^    carol/van +ZX-9 +- +plate +red Fiat Ducato$' "$T/err" || fail "carol: $(cat "$T/err")"
grep -Eq '^    dan/van +zx 9 +- +plate +red Fiat Ducato, the other one$' "$T/err" || fail "dan: $(cat "$T/err")"
[ "$(last_audit)" = "locate|agent7|zx-9|order 7" ] || fail "audit of an ambiguous name: $(last_audit)"
lw 2 history --plate 'ZX 9'
out_empty
err_has "'ZX 9' names 2 vehicles"
# alice's device id is erin's plate
lw 2 locate alice/phone
grep -Eq '^    alice/phone +B-LW 123 +1HGCM82633A004352 +device id +white Toyota Corolla$' "$T/err" ||
    fail "alice in the listing: $(cat "$T/err")"
grep -Eq '^    erin/truck +ALICE/PHONE +- +plate +blue Scania$' "$T/err" || fail "erin: $(cat "$T/err")"
lw 0 locate --device alice/phone
has "device      alice/phone"
lw 0 locate --plate alice/phone --reason 'lookup test'
has "device      erin/truck"
[ "$(audit_count)" = $((before + 5)) ] || fail "one audit row per lookup: $(audit_count) after $before"

# ---- not there ----
lw 3 locate 'HH AB 77'
err_is "lienwatch locate: fred/car (plate HH-AB 77) has not reported yet (registered, but its tracker has never been heard)"
[ "$(last_audit)" = "locate|agent7|fred/car|" ] || fail "audit: $(last_audit)"
lw 3 history 'hh-ab-77'
err_has "fred/car has not reported yet"
lw 3 locate heard/nofix --reason 'lookup test'
err_has "heard/nofix has no position yet (last heard"
lw 3 locate nobody/here --reason fishing
[ "$(last_audit)" = "locate|agent7|nobody/here|fishing" ] || fail "audit: $(last_audit)"

# ---- history by plate or VIN is history by device ----
lw 0 history --device alice/phone
cp "$T/out" "$T/by-device.csv"
[ "$(wc -l < "$T/out")" = 4 ] || fail "alice's history: $(cat "$T/out")"
lw 0 history 'b lw 123' --reason 'order 2291'
cmp -s "$T/out" "$T/by-device.csv" || fail "history by plate differs: $(cat "$T/out")"
[ "$(last_audit)" = "history|agent7|alice/phone|order 2291" ] || fail "audit: $(last_audit)"
lw 0 history --vin 1hgcm82633a004352 --from "$(date -u -d "@$((now - 420))" +%Y-%m-%dT%H:%M:%SZ)"
[ "$(wc -l < "$T/out")" = 3 ] || fail "history --vin --from: $(cat "$T/out")"
lw 0 history --plate 'B-LW 123' --format geojson
pyjson "
p = [f for f in d['features'] if f['geometry']['type'] == 'LineString'][0]['properties']
assert (p['device'], p['plate'], p['vin'], p['description']) == ('alice/phone', 'B-LW 123', '1HGCM82633A004352', 'white Toyota Corolla'), p
"
lw 3 history 'B-LW 124'
err_is "lienwatch history: no device, plate or VIN 'B-LW 124' (see 'lienwatch devices' and 'lienwatch vehicle list')"

# ---- usage ----
lw 2 locate
err_has "which vehicle? (a device id, plate or VIN)"
grep -q "^usage: lienwatch locate {VEHICLE|--plate P|--vin V|--device ID}" "$T/err" ||
    fail "usage line: $(cat "$T/err")"
lw 2 locate 'B-LW 123' --plate 'B-LW 123'
err_has "one vehicle at a time"
lw 2 locate --plate X --vin Y
err_has "one vehicle at a time (--plate and --vin)"
lw 2 locate a b
lw 2 locate --plate ''
err_has "--plate needs a value"
lw 2 locate ''
lw 2 history
lw 2 history --vin
lw 2 history --device a --device b

# ---- help ----
for c in locate history; do
    run 0 "$L" help "$c"
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES \
        "--plate P, --vin V, --device ID" "ignoring spaces, hyphens and dots" \
        "VEHICLE matches several vehicles"; do
        has "$s"
    done
    run 0 "$L" "$c" --help
    has "$c {VEHICLE|--plate P|--vin V|--device ID}"
done
run 0 "$L" help locate
has "watch_days_past_due"
has "--config FILE"
has "open_alerts"
run 0 "$L" help history
has "kml: KML 2.2"
run 0 "$L" --help
grep -Eq '^    locate +where a vehicle is now, its account and open alerts$' "$T/out" || fail "overview: $(cat "$T/out")"

say "ok"
