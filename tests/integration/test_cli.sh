#!/bin/bash
# test_cli.sh - the lienwatch CLI on a database made by 'lienwatch init-db'
# and filled with the sqlite3 shell (fixes inserted out of order, one of them
# a late upload), as lienwatchd would have left it.
#
# Checks: locate text and --json, history in csv/json/geojson/gpx (parsed by
# python), --from/--to, devices, stats, the audit trail (and no answer when
# the database is not writable for the user: the lookup cannot be recorded;
# the lookups name a reason, the vehicles being unwatched), a reader beside
# an open write transaction,
# and the exit codes: 3 unknown device, 1 missing database, 2 bad options.
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
lw() { run "$1" "$L" --db "$DB" "${@:2}"; }
has() { grep -qF -- "$1" "$T/out" || { cat "$T/out" >&2; fail "output lacks: $1"; }; }
err_is() {
    [ "$(cat "$T/err")" = "$1" ] || fail "stderr was '$(cat "$T/err")', wanted '$1'"
}
# pyjson 'python statements': runs them with the output parsed as JSON in d
pyjson() { $PY -c "import json,sys; d=json.load(open('$T/out')); $1" || fail "check failed: $1"; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---- database: created and migrated by the CLI, private ----
run 0 "$L" init-db --db "$DB"
VERSION=$(sed -n 's/.*: schema version \([0-9][0-9]*\)$/\1/p' "$T/out")
[ -n "$VERSION" ] && [ "$VERSION" -ge 1 ] || fail "init-db said: $(cat "$T/out")"
[ "$(stat -c %a "$DB")" = 600 ] || fail "database mode $(stat -c %a "$DB"), wanted 600"
run 0 "$L" --db "$DB" init-db  # again: idempotent
has "schema version $VERSION"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM schema_version')" = "$VERSION" ] ||
    fail "schema_version rows"

# stats of an empty database: the fixed keys are there
lw 0 stats --json
pyjson 'assert d == {"received": 0, "stored": 0, "duplicates": 0, "rejected": {}}, d'

# ---- fill it as the daemon would ----
now=$(date +%s)
ms() { echo $(( (now - $1) * 1000 )); }
OB="o'brien/van & <co>"
OBQ="o''brien/van & <co>"
# fixes of alice/phone in arrival order: -300, -120 (newest), -600, then -900
# arriving last (a late store-and-forward upload)
# (history in fix_history, the two that arrived last still in fix_inbox; the
# last-known fix is a copy in the devices row)
sqlite3 "$DB" <<SQL
INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count) VALUES ('alice/phone', $(ms 3600), $(ms 10), 4);
INSERT INTO fix_history VALUES ('alice/phone', $(ms 300), $(ms 298), 52.53, 13.41, 10.0, 180.0, 8.0, NULL, 77, 'u');
INSERT INTO fix_history VALUES ('alice/phone', $(ms 120), $(ms 118), 52.54, 13.42, 13.89, 270.5, 6.5, 41.0, 76, 'u');
INSERT INTO fix_inbox VALUES ('alice/phone', $(ms 600), $(ms 598), 52.52, 13.40, 5.0, 90.0, 10.0, NULL, NULL, NULL);
INSERT INTO fix_inbox VALUES ('alice/phone', $(ms 900), $(ms 10), 52.51, 13.39, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count) VALUES ('$OBQ', $(ms 7300), $(ms 3590), 2);
INSERT INTO fix_history VALUES ('$OBQ', $(ms 3600), $(ms 3590), -33.87, 151.21, 0.0, NULL, NULL, NULL, NULL, NULL);
INSERT INTO fix_history VALUES ('$OBQ', $(ms 7200), $(ms 7190), -33.8688, 151.2093, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count) VALUES ('carol/tracker', $(ms 86400), $(ms 60), 0);
UPDATE devices SET (last_fix_time_ms, last_recv_time_ms, last_lat_deg,
    last_lon_deg, last_speed_mps, last_course_deg, last_accuracy_m, last_alt_m,
    last_battery_pct, last_trigger_code) = (SELECT fix_time_ms, recv_time_ms,
    lat_deg, lon_deg, speed_mps, course_deg, accuracy_m, alt_m, battery_pct,
    trigger_code FROM fixes f WHERE f.device = devices.id
    ORDER BY fix_time_ms DESC LIMIT 1);
INSERT INTO counters VALUES ('received', 12), ('stored', 6), ('duplicates', 2),
    ('rejected.not_json', 1), ('rejected.future', 2), ('ignored.lwt', 3), ('late', 1);
SQL

# ---- locate ----
lw 0 locate alice/phone --as agent7 --reason "order 2291"
has "position    52.540000, 13.420000"
has "speed       50 km/h (13.89 m/s)"
has "(W)"
has "accuracy    6.5 m"
has "ago)"
has "https://www.openstreetmap.org/?mlat=52.540000&mlon=13.420000#map=17/52.540000/13.420000"
has "geo:52.540000,13.420000;u=6.5"
has "last heard  $(date -u -d "@$((now - 10))" +%Y-%m-%dT%H:%M:%S)"

lw 0 locate --reason 'cli test' alice/phone --json
pyjson "
assert d['device'] == 'alice/phone'
assert (d['lat'], d['lon']) == (52.54, 13.42), d
assert d['fix_time'] == '$(iso $((now - 120)))', d['fix_time']
assert d['received_time'] == '$(iso $((now - 118)))', d['received_time']
assert 115 <= d['age_s'] <= 300, d['age_s']
assert d['speed_mps'] == 13.89 and d['course_deg'] == 270.5 and d['accuracy_m'] == 6.5
assert d['last_heard'] == '$(iso $((now - 10)))'
assert d['osm_url'].startswith('https://www.openstreetmap.org/?mlat=52.540000&mlon=13.420000#map=17/')
assert d['geo_uri'] == 'geo:52.540000,13.420000;u=6.5'
"
# unknown values are null; the device id comes back intact
lw 0 locate --reason 'cli test' "$OB" --json
pyjson "
assert d['device'] == \"$OB\"
assert d['accuracy_m'] is None and d['course_deg'] is None and d['speed_mps'] == 0
assert d['geo_uri'] == 'geo:-33.870000,151.210000'
"

# heard but no position yet, and an unknown device
lw 3 locate carol/tracker --reason 'cli test'
grep -q "has no position yet" "$T/err" || fail "carol: $(cat "$T/err")"
lw 3 locate nobody/here
err_is "lienwatch locate: no device, plate or VIN 'nobody/here' (see 'lienwatch devices' and 'lienwatch vehicle list')"
lw 3 locate --device nobody/here
err_is "lienwatch locate: no such device 'nobody/here' (see 'lienwatch devices')"
lw 3 history nobody/here
lw 3 locate "x'); DROP TABLE fixes;--"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM fixes')" = 6 ] || fail "fixes table damaged"

# ---- history ----
lw 0 history --reason 'cli test' alice/phone
[ "$(head -1 "$T/out")" = "fix_time,lat,lon,speed_mps,course_deg,accuracy_m,device,suspect" ] ||
    fail "CSV header: $(head -1 "$T/out")"
[ "$(wc -l < "$T/out")" = 5 ] || fail "CSV rows: $(cat "$T/out")"
[ "$(sed -n 2p "$T/out")" = "$(iso $((now - 900))),52.51,13.39,,,,alice/phone," ] ||
    fail "CSV first row (the late one, first by fix time): $(sed -n 2p "$T/out")"
[ "$(sed -n 5p "$T/out")" = "$(iso $((now - 120))),52.54,13.42,13.89,270.5,6.5,alice/phone," ] ||
    fail "CSV last row: $(sed -n 5p "$T/out")"
tail -n +2 "$T/out" | cut -d, -f1 | sort -c || fail "CSV not in time order"

lw 0 history --reason 'cli test' alice/phone --format json
pyjson "
assert [f['lat'] for f in d] == [52.51, 52.52, 52.53, 52.54], d
assert all(set(f) == {'fix_time','lat','lon','speed_mps','course_deg','accuracy_m','device'} for f in d)
assert d[0]['speed_mps'] is None and d[3]['accuracy_m'] == 6.5
assert [f['fix_time'] for f in d] == sorted(f['fix_time'] for f in d)
"

lw 0 history --reason 'cli test' alice/phone --format geojson
pyjson "
assert d['type'] == 'FeatureCollection'
line = [f for f in d['features'] if f['geometry']['type'] == 'LineString']
pts = [f for f in d['features'] if f['geometry']['type'] == 'Point']
assert len(line) == 1 and len(pts) == 4
assert line[0]['geometry']['coordinates'][0] == [13.39, 52.51]
assert line[0]['properties']['device'] == 'alice/phone'
assert line[0]['properties']['from'] == '$(iso $((now - 900)))'
assert pts[3]['properties']['fix_time'] == '$(iso $((now - 120)))'
"

lw 0 history --reason 'cli test' "$OB" --format gpx
$PY - "$T/out" "$OB" <<'PY' || fail "GPX check"
import sys, xml.etree.ElementTree as ET
ns = {'g': 'http://www.topografix.com/GPX/1/1'}
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == '{http://www.topografix.com/GPX/1/1}gpx' and root.get('version') == '1.1'
assert root.find('g:trk/g:name', ns).text == sys.argv[2]
pts = root.findall('g:trk/g:trkseg/g:trkpt', ns)
assert [p.get('lat') for p in pts] == ['-33.8688', '-33.87'], [p.get('lat') for p in pts]
times = [p.find('g:time', ns).text for p in pts]
assert times == sorted(times)
PY

# bounds: ISO times, and a --to date before everything
lw 0 history --reason 'cli test' alice/phone --from "$(iso $((now - 600)))" --to "$(iso $((now - 300)))"
[ "$(wc -l < "$T/out")" = 3 ] || fail "--from/--to: $(cat "$T/out")"
lw 0 history --reason 'cli test' alice/phone --to 2000-01-01 --format json
pyjson 'assert d == []'
lw 0 history --reason 'cli test' alice/phone --from 7m
[ "$(wc -l < "$T/out")" = 3 ] || fail "--from 7m: $(cat "$T/out")"

# ---- devices ----
lw 0 devices
has "DEVICE"
has "carol/tracker"
has "$OB"
lw 0 devices --json
pyjson "
by = {x['device']: x for x in d}
assert [x['device'] for x in d] == sorted(by), d
assert by['alice/phone']['fixes'] == 4
assert by['alice/phone']['last_fix'] == '$(iso $((now - 120)))'
assert by['carol/tracker']['last_fix'] is None and by['carol/tracker']['fixes'] == 0
assert by['carol/tracker']['last_heard'] == '$(iso $((now - 60)))'
"

# ---- stats ----
lw 0 stats --json
pyjson "
assert (d['received'], d['stored'], d['duplicates'], d['late']) == (12, 6, 2, 1), d
assert d['rejected'] == {'future': 2, 'not_json': 1}, d
assert d['ignored'] == {'lwt': 3}, d
"
lw 0 stats
grep -Eq '^received +12$' "$T/out" || fail "stats text: $(cat "$T/out")"
grep -Eq '^  not_json +1$' "$T/out" || fail "stats text: $(cat "$T/out")"

# ---- audit ----
lw 0 audit --json
pyjson "
a = [x for x in d if x['as'] == 'agent7']
assert len(a) == 1 and a[0]['action'] == 'locate' and a[0]['device'] == 'alice/phone'
assert a[0]['who'] == '$(id -un)' and a[0]['via'] == 'cli', a[0]
assert a[0]['reason'] == 'order 2291'
assert any(x['action'] == 'history' and x['device'] == \"$OB\" for x in d)
assert any(x['device'] == 'nobody/here' for x in d)
"
lw 0 audit --device "$OB"
[ "$(wc -l < "$T/out")" -ge 3 ] || fail "audit --device: $(cat "$T/out")"
grep -Ev '^ +ID +TIME' "$T/out" | grep -vqF "$OB" && fail "audit --device shows others"
LIENWATCH_DB="$DB" run 0 "$L" audit
has "agent7"

# ---- a reader beside a writer holding an open transaction ----
$PY - "$DB" "$T/locked" <<'PY' &
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("INSERT INTO devices (id, first_heard_ms, last_heard_ms) VALUES ('zed/new', 1, 1)")
open(sys.argv[2], "w").close()
time.sleep(3)
db.execute("COMMIT")
PY
WRITER=$!
lw_track "$WRITER"
wait_for 10 test -e "$T/locked" || fail "writer did not start"
# a reader that waited for the commit would see zed/new
lw 0 devices --json
pyjson "assert 'zed/new' not in [x['device'] for x in d]"
wait "$WRITER"
lw_untrack "$WRITER"
lw 0 devices --json
pyjson "assert 'zed/new' in [x['device'] for x in d]"

# ---- a database this user may not write: not answered (no record, no
# answer) ----
RO="$T/ro"
mkdir "$RO"
sqlite3 "$DB" ".backup '$RO/lw.db'"
chmod 644 "$RO/lw.db"
chmod 755 "$T" "$RO"
if [ "$(id -u)" = 0 ]; then
    as_other() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
else
    chmod a-w "$RO/lw.db" "$RO"
    as_other() { "$@"; }
fi
rc=0
as_other "$L" --db "$RO/lw.db" locate alice/phone --reason 'cli test' >"$T/out" 2>"$T/err" || rc=$?
chmod u+w "$RO"
[ "$rc" = 1 ] || fail "read-only locate exit $rc, wanted 1: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "read-only locate answered: $(cat "$T/out")"
grep -q "could not be recorded in the audit trail, so it is not answered" "$T/err" ||
    fail "no refusal: $(cat "$T/err")"

# ---- errors and usage ----
run 1 "$L" --db "$T/nope.db" locate alice/phone
err_is "lienwatch: database $T/nope.db not found (is lienwatchd running? use --db)"
[ ! -e "$T/nope.db" ] || fail "a reader created the database"
run 1 "$L" --db "$T/nope.db" devices
lw 2 locate --bogus alice/phone
grep -q "unknown option '--bogus'" "$T/err" || fail "bad option message: $(cat "$T/err")"
grep -q "^usage: lienwatch locate {VEHICLE|--plate P|--vin V|--device ID}" "$T/err" ||
    fail "no usage line: $(cat "$T/err")"
lw 2 locate
lw 2 locate a b
lw 2 history alice/phone --format kmz
lw 2 history alice/phone --from yesterday
lw 2 history alice/phone --from
lw 2 stats --json=1
lw 2 devices extra
run 2 "$L" frobnicate
run 2 "$L"
run 2 "$L" --nope devices

# ---- help and version ----
run 0 "$L" --help
has "SYNOPSIS"; has "EXIT STATUS"; has "EXAMPLES"; has "history"
# every command the overview lists (a new one is checked without being
# named here), and at least the ones agents and operations rely on
CMDS=$(sed -n '/^COMMANDS$/,/^$/p' "$T/out" | awk '/^    [a-z]/ && $1 != "help" {print $1}')
for c in locate history devices stats audit init-db vehicle account geofence alerts outbox evidence; do
    echo "$CMDS" | grep -qx "$c" || fail "--help does not list $c: $CMDS"
done
for c in $CMDS; do
    run 0 "$L" help "$c"
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do has "$s"; done
    run 0 "$L" "$c" --help
    has "lienwatch $c"
done
run 0 "$L" --version
grep -Eq '^lienwatch [0-9]+\.[0-9]+\.[0-9]+' "$T/out" || fail "version: $(cat "$T/out")"

say "ok"
