#!/bin/bash
# test_web_browser.sh - the page in a real browser: headless Chromium driven
# through WebDriver (Debian's chromium, chromium-driver, python3-selenium)
# in a 390x844 phone window with geolocation emulated, against mosquitto,
# lienwatchd and lienwatch-web on loopback ports picked here.
#
# web_browser.py: an agent signs in, sees the car of her case and not the
# others, opens it, presses "Locate now" (answered after a fix arrives), sees a live fix move the marker, reloads
# offline and still sees her cases marked offline, and signs out (the saved
# copy is gone); a "Locate now" pressed offline goes out when the
# connection is back; a case closed meanwhile leaves the list and the saved
# copy at once; then ops sign in, see every open case and the watched
# vehicles and open a case from the page. A description "<img src=x onerror=alert(1)>" is shown as
# that text and runs nothing. The map tiles point at a closed port: the
# page says so and works on a blank map. Screenshots go to
# BUILD/test-screenshots/.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
W="$BIN/lienwatch-web"
[ -x "$W" ] || fail "$W not built"
[ -x /usr/bin/chromium ] || skip "chromium not installed"
[ -x /usr/bin/chromedriver ] || skip "chromium-driver not installed"
$PY -c 'import selenium' 2>/dev/null || skip "python3-selenium not installed"
$PY -c 'import paho.mqtt.client' 2>/dev/null || skip "python3-paho-mqtt not installed"
lw_setup
DB="$T/lw.db"
MQ=$(free_port)
HP=$(free_port)
SHOTS="$ROOT/$BUILD/test-screenshots"
mkdir -p "$SHOTS"

start_mosquitto "$MQ"
"$L" init-db --db "$DB" >/dev/null
# the fixes made up here move hundreds of metres within seconds, which the
# jump check (ingest.max_speed_kmh) would hold back as spoofed: it is off
# here; test_gps_jump.sh tests it.
lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$MQ" \
    --set store.commit_interval_ms=20 --set mqtt.client_id=lw-browsertest \
    --set ingest.max_speed_kmh=0 --set alerts.parked_alert_after=0 \
    >"$T/daemon.log" 2>&1 &
lw_track $!
wait_for 10 grep -q "started" "$T/daemon.log" || fail "lienwatchd did not start"

printf 'alice-secret-1\n' > "$T/pw"
"$L" --db "$DB" user add alice --role agent --password-file "$T/pw" >/dev/null
printf 'olga-secret-333\n' > "$T/pw2"
"$L" --db "$DB" user add olga --role ops --password-file "$T/pw2" >/dev/null
"$L" --db "$DB" account set A-1 --days-past-due 40 >/dev/null
"$L" --db "$DB" account set A-2 --days-past-due 40 >/dev/null
"$L" --db "$DB" vehicle set fleet/car1 --plate 'B-LW 101' --account A-1 \
    --description '<img src=x onerror=alert(1)>' >/dev/null
"$L" --db "$DB" vehicle set fleet/car5 --plate 'B-LW 105' --account A-1 \
    --description 'blue estate, roof box' >/dev/null
"$L" --db "$DB" vehicle set fleet/car2 --plate 'B-LW 202' --account A-2 --description 'not hers' >/dev/null
$PY - "$MQ" <<'PYEOF' || fail "publishing first fixes"
import json, sys, time
import paho.mqtt.publish as publish
now = int(time.time())
msgs = [{"topic": "owntracks/fleet/" + d, "qos": 1,
         "payload": json.dumps({"_type": "location", "lat": lat, "lon": lon, "tst": now - age,
                                "acc": acc, "vel": 0})}
        for d, lat, lon, age, acc in (("car1", 52.5200, 13.4050, 120, 25),
                                      ("car5", 52.5000, 13.3500, 7200, 60),
                                      ("car2", 52.5210, 13.4060, 60, 10))]
# car1's last day (before the fix above): a night at home, a working day
# 2 km away, home again since an hour and a half: its two usual places
home, work = (52.5200, 13.4050), (52.5105, 13.4280)
for d, (lat, lon), ts in ([("car1", home, t) for t in range(now - 28 * 3600, now - 20 * 3600, 600)] +
                          [("car1", work, t) for t in range(now - 10 * 3600, now - 3 * 3600, 600)] +
                          [("car1", home, t) for t in range(now - 5400, now - 180, 300)]):
    msgs.append({"topic": "owntracks/fleet/" + d, "qos": 1,
                 "payload": json.dumps({"_type": "location", "lat": lat, "lon": lon, "tst": ts,
                                        "acc": 10, "vel": 0})})
publish.multiple(msgs, hostname="127.0.0.1", port=int(sys.argv[1]))
PYEOF
wait_for 10 sh -c "[ \$(sqlite3 '$DB' 'SELECT count(*) FROM devices') -ge 3 ]" || fail "fixes not stored"
wait_for 20 sh -c "[ \$(sqlite3 '$DB' \"SELECT count(*) FROM fixes WHERE device = 'fleet/car1'\") -ge 109 ]" ||
    fail "car1's day not stored"
"$L" --db "$DB" case open fleet/car1 --agent alice --expires 72h --reason 'order 1' >/dev/null
CASE5=$("$L" --db "$DB" case open fleet/car5 --agent alice --expires 72h --reason 'order 5')

"$W" --db "$DB" --listen "127.0.0.1:$HP" --set web.static_dir="$ROOT/web/static" \
    --set web.tile_url='http://127.0.0.1:9/{z}/{x}/{y}.png' >"$T/web.log" 2>&1 &
lw_track $!
wait_for 10 port_open "$HP" || fail "lienwatch-web did not start: $(cat "$T/web.log")"

CASE5="$CASE5" LW="$L" DB="$DB" WEB="http://127.0.0.1:$HP" MQ="$MQ" SHOTS="$SHOTS" T="$T" \
    $PY "$ROOT/tests/integration/web_browser.py" || {
    say "web log:"; tail -20 "$T/web.log" >&2
    fail "browser checks"
}
say "ok (screenshots in $SHOTS)"
