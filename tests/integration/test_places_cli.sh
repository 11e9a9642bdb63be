#!/bin/bash
# test_places_cli.sh - 'lienwatch places' as an operator types it.
#
# A month of life is written into the database as lienwatchd would have
# stored it (fix_history, with the sqlite3 shell): a car parked at home
# every night (19:00 to 07:30 Berlin time), at work on weekdays (08:00 to
# 17:30), driving between them with a fix a minute, parked fixes every 5
# minutes. Checks:
#   - the places found: home and work within 60 m of the truth, home with
#     a night for each night of the month (stops covering 03:00 local),
#     work with none; the JSON keys of the issue, usual_hours of 24 shares;
#   - local time: home's usual hours follow --tz (Europe/Berlin, UTC,
#     America/Sao_Paulo: the same stops, hours shifted), and [places]
#     timezone from --config when --tz is not given;
#   - likely_now: at 02:00 Berlin home is first; ranked shares sum to <= 1;
#   - the gate: an unwatched vehicle needs --reason (exit 4, nothing on
#     stdout), a watched one does not; every lookup (refused ones too) is
#     one audit row with action 'places', role ops, its basis and detail;
#   - errors: unknown vehicle (3), no fix in the window (3), bad --days and
#     --tz (2), a bad --config (1), --help (0).
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
[ -x "$L" ] || fail "$L not built"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
[ -f /usr/share/zoneinfo/Europe/Berlin ] || skip "no zone files (tzdata)"
lw_setup
DB="$T/lw.db"

run() {
    local want=$1 rc=0
    shift
    (lw_wrap "$@") >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" != "$want" ]; then
        say "stdout:"; cat "$T/out" >&2; say "stderr:"; cat "$T/err" >&2
        fail "exit $rc, wanted $want: $*"
    fi
}
lw() { run "$1" "$L" --db "$DB" --as agent7 "${@:2}"; }
has() { grep -qF -- "$1" "$T/out" || { cat "$T/out" >&2; fail "output lacks: $1"; }; }
err_has() { grep -qF -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks: $1"; }; }
out_empty() { [ ! -s "$T/out" ] || { cat "$T/out" >&2; fail "stdout not empty"; }; }
pyjson() { $PY -c "import json,sys,math; d=json.load(open('$T/out')); $1" || { cat "$T/out" >&2; fail "check failed: $1"; }; }
audits() { sqlite3 "$DB" "SELECT count(*) FROM audit WHERE action = 'places'"; }
last_audit() { sqlite3 "$DB" "SELECT coalesce(device, '') || '|' || coalesce(role, '') || '|' || coalesce(basis, '') || '|' || coalesce(reason, '') || '|' || coalesce(detail, '') FROM audit WHERE action = 'places' ORDER BY id DESC LIMIT 1"; }

run 0 "$L" init-db --db "$DB"
lw 0 account set ACC-LATE --days-past-due 45 --status overdue
lw 0 account set ACC-OK --days-past-due 0 --status current
lw 0 vehicle set late/car --plate 'B-LW 123' --vin 1HGCM82633A004352 --account ACC-LATE
lw 0 vehicle set ok/car --plate 'SP 4411' --account ACC-OK
printf '[alerts]\nwatch_days_past_due = 30\n' >"$T/d30.conf"
printf '[places]\ntimezone = America/Sao_Paulo\n' >"$T/sp.conf"
printf '[places]\ntimezone = Mars/Olympus\n' >"$T/badtz.conf"

# "now" is 02:00 Berlin time, today or yesterday, so that the last
# evening is complete and the car is home
NOW=$($PY - <<'EOF'
import datetime, zoneinfo
tz = zoneinfo.ZoneInfo("Europe/Berlin")
n = datetime.datetime.now(tz)
t = n.replace(hour=2, minute=0, second=0, microsecond=0)
if t > n:
    t -= datetime.timedelta(days=1)
print(int(t.timestamp() * 1000))
EOF
)
# a month of life for both cars, as SQL
$PY - "$NOW" >"$T/month.sql" <<'EOF'
import datetime, math, sys, zoneinfo
now_ms = int(sys.argv[1])
tz = zoneinfo.ZoneInfo("Europe/Berlin")
HOME = (52.520008, 13.404954)
WORK = (52.540000, 13.360000)
rows = []
def fix(dev, t, p, spd, acc=8.0):
    rows.append("('%s', %d, %d, %.6f, %.6f, %.2f, NULL, %.1f, NULL, NULL, 'p')"
                % (dev, t, t + 2000, p[0], p[1], spd, acc))
def stay(dev, t0, t1, p, step=300000):
    t = t0
    while t < t1:
        # a few metres of jitter, as parked trackers show
        j = 0.00003 * math.sin(t / 7e5)
        fix(dev, t, (p[0] + j, p[1] - j), 0.0)
        t += step
def drive(dev, t0, a, b, minutes=30):
    for i in range(minutes):
        f = i / minutes
        fix(dev, t0 + i * 60000, (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f), 8.0)
def ms(d):
    return int(d.timestamp() * 1000)
start = datetime.datetime.fromtimestamp(now_ms / 1000, tz).date() - datetime.timedelta(days=28)
for dev in ("late/car", "ok/car"):
    day = start
    prev_end = ms(datetime.datetime.combine(day, datetime.time(0, 0), tz))
    while True:
        weekday = day.weekday() < 5
        at = lambda h, m: ms(datetime.datetime.combine(day, datetime.time(h, m), tz))
        if weekday:
            stay(dev, prev_end, at(7, 30), HOME)
            drive(dev, at(7, 30), HOME, WORK)
            stay(dev, at(8, 0), at(17, 30), WORK)
            drive(dev, at(17, 30), WORK, HOME)
        else:
            stay(dev, prev_end, at(18, 30), HOME)
            drive(dev, at(18, 30), HOME, HOME)
        prev_end = at(19, 0)
        if prev_end > now_ms:
            break
        day += datetime.timedelta(days=1)
    stay(dev, prev_end, now_ms + 1, HOME)
    rows = [r for r in rows if int(r.split(",")[1]) <= now_ms]
print("INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count) VALUES ('late/car', 0, %d, 1), ('ok/car', 0, %d, 1);" % (now_ms, now_ms))
print("INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count) VALUES ('quiet/car', 0, %d, 0);" % now_ms)
for i in range(0, len(rows), 500):
    print("INSERT INTO fix_history VALUES " + ",\n".join(rows[i:i + 500]) + ";")
EOF
sqlite3 "$DB" <"$T/month.sql" || fail "cannot write the month"
nfix=$(sqlite3 "$DB" "SELECT count(*) FROM fixes WHERE device = 'late/car'")
[ "$nfix" -gt 5000 ] || fail "only $nfix fixes written"
# the CLI's clock is the real one; the history ends at 02:00 Berlin (up to
# a day ago), so the window of 30 days holds all of it
HOME_CHECK="import math
def dist(a, b):
    k = math.pi / 180
    x = (b[1] - a[1]) * k * math.cos((a[0] + b[0]) / 2 * k)
    return 6371000 * math.hypot(x, (b[0] - a[0]) * k)
H = (52.520008, 13.404954); W = (52.54, 13.36)
home = [p for p in d if dist((p['lat'], p['lon']), H) < 60]
work = [p for p in d if dist((p['lat'], p['lon']), W) < 60]
assert len(home) == 1 and len(work) == 1, d"

# ---- a watched vehicle: no reason needed ----
n0=$(audits)
lw 0 places 'b-lw 123' --config "$T/d30.conf" --tz Europe/Berlin --json
pyjson "$HOME_CHECK
keys = {'lat','lon','radius_m','visits','nights','dwell_s','first_seen','last_seen','usual_hours','likely_now'}
assert all(set(p) == keys for p in d), d[0].keys()
h, w = home[0], work[0]
assert 27 <= h['nights'] <= 29, h['nights']
assert w['nights'] == 0, w
assert 18 <= w['visits'] <= 21, w['visits']
assert len(h['usual_hours']) == 24 and all(0 <= x <= 1 for x in h['usual_hours'])
# Berlin hours: home at 03:00 and 22:00 always, at work at 11:00 on weekdays
assert h['usual_hours'][3] > 0.95 and h['usual_hours'][22] > 0.95, h['usual_hours']
assert h['usual_hours'][11] < 0.4 and w['usual_hours'][11] > 0.6, (h, w)
assert d[0] is h, 'home is not first at 02:00: %r' % d[0]
assert h['likely_now'] > 0.8, h
assert sum(p['likely_now'] for p in d) <= 1.0001
assert h['radius_m'] < 150 and 15 * 86400 < h['dwell_s'] < 22 * 86400, h['dwell_s']
assert h['first_seen'].endswith('Z') and h['last_seen'] >= h['first_seen']"
[ "$(audits)" = $((n0 + 1)) ] || fail "no audit row for places"
[ "$(last_audit)" = "late/car|ops|watched||days=30 tz=Europe/Berlin" ] ||
    fail "audit row: $(last_audit)"

# the same stops in other zones: the hours move, the places and nights stay
lw 0 places late/car --config "$T/d30.conf" --tz UTC --json
pyjson "$HOME_CHECK
h = home[0]
# winter: Berlin is UTC+1 (in summer +2): home at 02:00 UTC always
assert h['usual_hours'][2] > 0.95, h['usual_hours']
assert 27 <= h['nights'] <= 29"
lw 0 places late/car --config "$T/sp.conf" --json
pyjson "$HOME_CHECK
h = home[0]
# Sao Paulo is UTC-3: Berlin's 03:00 is 23:00 there, so home at 23:00
assert h['usual_hours'][23] > 0.95, h['usual_hours']
# 03:00 there is 07:00 in Berlin, before the car leaves: nights still 28
assert 27 <= h['nights'] <= 29, h['nights']"
[ "$(last_audit | cut -d'|' -f5)" = "days=30 tz=America/Sao_Paulo" ] ||
    fail "zone of the configuration not used: $(last_audit)"

# text output
lw 0 places --vin 1hgcm82633a004352 --config "$T/d30.conf" --tz Europe/Berlin
has "vehicle     B-LW 123 (late/car)"
has "time zone   Europe/Berlin"
has "places      "
has "https://www.openstreetmap.org/?mlat=52.52"
has "(last fix here)"
grep -qE '^ 1 +[0-9.]+% +52\.52' "$T/out" || { cat "$T/out" >&2; fail "home not ranked first in text"; }
# usual hours of home, as a range across midnight
grep -E '^ 1 ' "$T/out" | grep -qE ' 1[6-9]-0[6-7]' || { cat "$T/out" >&2; fail "home's usual hours"; }

# --days: the last 2 days only: fewer visits at work
lw 0 places late/car --config "$T/d30.conf" --tz Europe/Berlin --days 2 --json
pyjson "assert sum(p['visits'] for p in d) <= 6, d"

# ---- an unwatched vehicle: refused without a reason, recorded ----
n0=$(audits)
lw 4 places ok/car --config "$T/d30.conf" --tz Europe/Berlin --json
out_empty
err_has "reason"
[ "$(audits)" = $((n0 + 1)) ] || fail "refusal not recorded"
last_audit | grep -q '^ok/car|ops||' || fail "refusal's audit row: $(last_audit)"
last_audit | grep -q 'refused' || fail "refusal's audit row: $(last_audit)"
lw 0 places ok/car --config "$T/d30.conf" --tz Europe/Berlin --json -r 'order 2291'
pyjson "assert len(d) >= 2"
[ "$(last_audit)" = "ok/car|ops|override|order 2291|days=30 tz=Europe/Berlin" ] ||
    fail "override's audit row: $(last_audit)"
# the daemon's threshold decides: at 60 days ACC-LATE (45) is not watched
printf '[alerts]\nwatch_days_past_due = 60\n' >"$T/d60.conf"
lw 4 places late/car --config "$T/d60.conf" --tz UTC

# ---- errors ----
lw 3 places nobody/here --config "$T/d30.conf"
err_has "nobody/here"
lw 3 places quiet/car --config "$T/d30.conf" -r test
err_has "no fix in the last 30 days"
lw 2 places late/car --days 0
lw 2 places late/car --days 9x
lw 2 places late/car --tz Mars/Olympus
err_has "Mars/Olympus"
lw 2 places late/car --tz ../../etc/passwd
lw 1 places late/car --config "$T/badtz.conf"
err_has "Mars/Olympus"
lw 1 places late/car --config "$T/missing.conf"
lw 2 places
lw 0 places --help
has "EXIT STATUS"
has "--tz ZONE"
out=$("$L" --help) || fail "lienwatch --help"
grep -q 'places' <<<"$out" || fail "places not in lienwatch --help"

# lienwatchd --check-config knows the key and checks the zone
if [ -x "$BIN/../sbin/lienwatchd" ] || [ -x "$BIN/lienwatchd" ]; then
    D="$BIN/lienwatchd"
    printf '[places]\ntimezone = Europe/Berlin\n[store]\ndb = %s\n' "$DB" >"$T/ok.conf"
    "$D" -c "$T/ok.conf" --check-config >"$T/out" 2>&1 || { cat "$T/out" >&2; fail "check-config refuses a good zone"; }
    printf '[places]\ntimezone = Mars/Olympus\n[store]\ndb = %s\n' "$DB" >"$T/bad.conf"
    ! "$D" -c "$T/bad.conf" --check-config >"$T/out" 2>&1 || fail "check-config takes Mars/Olympus"
    grep -q 'places.timezone' "$T/out" || { cat "$T/out" >&2; fail "check-config does not name places.timezone"; }
fi
say "ok"
