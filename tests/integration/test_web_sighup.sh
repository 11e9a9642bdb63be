#!/bin/bash
# test_web_sighup.sh - lienwatch-web re-reads its configuration file on
# SIGHUP, as lienwatchd does: what it reads at each request (the tile
# server, the unwatched-vehicle policy, the watch threshold, the places'
# time zone, the log level) is taken at once and logged as applied; what it
# set up at start (the listening address, TLS, the database, session
# lifetimes) keeps its running value and the log says it waits for a
# restart; a file that does not load, or a zone that does not exist, keeps
# the whole running configuration; the service answers throughout.
. "$(dirname "$0")/../lib.sh"

W="$BIN/lienwatch-web"
L="$BIN/lienwatch"
[ -x "$W" ] || fail "$W not built"
command -v curl >/dev/null || skip "curl not installed"
lw_setup
DB="$T/lw.db"
"$L" init-db --db "$DB" >/dev/null
"$L" --db "$DB" account set A-3 --days-past-due 0 >/dev/null
"$L" --db "$DB" account set A-4 --days-past-due 3 >/dev/null
"$L" --db "$DB" vehicle set fleet/car3 --plate KA-333 --account A-3 >/dev/null
"$L" --db "$DB" vehicle set fleet/car4 --plate KA-444 --account A-4 >/dev/null
TOKEN=$("$L" --db "$DB" token create dash --role ops | grep -o 'lwt_[A-Za-z0-9_-]*' | head -1)
[ -n "$TOKEN" ] || fail "token create printed no token"

P=$(free_port)
P2=$(free_port)
conf() { # TILE POLICY THRESHOLD ZONE LISTEN-PORT IDLE
    cat > "$T/lw.conf" <<CONF
[store]
db = $DB
[web]
listen = 127.0.0.1:$5
static_dir = $ROOT/web/static
tile_url = $1
session_idle = $6
[privacy]
unwatched_access = $2
[alerts]
watch_days_past_due = $3
[places]
timezone = $4
CONF
}
conf 'https://a.example/{z}/{x}/{y}.png' reason 1 Europe/Lisbon "$P" 30m
"$W" -c "$T/lw.conf" >"$T/web.log" 2>&1 &
WPID=$!
lw_track "$WPID"
wait_for 10 grep -q "serving HTTP" "$T/web.log" || fail "no service: $(cat "$T/web.log")"

get() { curl -sS -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$P$1"; }
hup() { # waits for the N-th re-read
    kill -HUP "$WPID"
    wait_for 10 log_has_more "$T/web.log" "SIGHUP: configuration\|SIGHUP: keeping\|SIGHUP: .*not reloaded" "$1" ||
        fail "no SIGHUP line: $(tail -5 "$T/web.log")"
}

[ "$(get /config.json)" = 200 ] && grep -q 'a.example' "$T/body" || fail "config.json: $(cat "$T/body")"
# car4 (3 days past due) is watched with threshold 1: ops see it
[ "$(get /api/v1/vehicles/fleet%2Fcar4)" = 200 ] || fail "watched car4: $(cat "$T/body")"
# car3 (paying) needs a reason under 'reason'
[ "$(get '/api/v1/vehicles/fleet%2Fcar3?reason=dispute')" = 200 ] || fail "car3 with a reason"

# ---- live settings change, start-up ones wait ------------------------------------
conf 'https://b.example/{z}/{x}/{y}.png' deny 5 America/New_York "$P2" 10m
hup 0
log=$(cat "$T/web.log")
grep -q "SIGHUP: web.tile_url: 'https://a.example/{z}/{x}/{y}.png' -> 'https://b.example/{z}/{x}/{y}.png' (applied)" <<<"$log" ||
    fail "tile_url not applied: $log"
grep -q "SIGHUP: privacy.unwatched_access: 'reason' -> 'deny' (applied)" <<<"$log" || fail "policy: $log"
grep -q "SIGHUP: alerts.watch_days_past_due: '1' -> '5' (applied)" <<<"$log" || fail "threshold: $log"
grep -q "SIGHUP: places.timezone: 'Europe/Lisbon' -> 'America/New_York' (applied)" <<<"$log" || fail "zone: $log"
grep -q "SIGHUP: web.listen changed ('127.0.0.1:$P' -> '127.0.0.1:$P2'): takes effect at restart; running with '127.0.0.1:$P' until then" <<<"$log" ||
    fail "listen must wait for a restart: $log"
grep -q "SIGHUP: web.session_idle changed .*takes effect at restart" <<<"$log" || fail "session_idle: $log"
grep -q "SIGHUP: configuration re-read from $T/lw.conf: 4 changes applied, 2 waiting for a restart" <<<"$log" ||
    fail "summary: $log"
[ "$(get /config.json)" = 200 ] && grep -q 'b.example' "$T/body" || fail "new tile_url not served: $(cat "$T/body")"
port_open "$P2" && fail "a changed listen address must not be taken without a restart"
# the threshold 5 makes car4 (3 days) unwatched; 'deny' refuses even with a reason
[ "$(get /api/v1/vehicles/fleet%2Fcar4)" = 403 ] || fail "threshold not applied: $(cat "$T/body")"
[ "$(get '/api/v1/vehicles/fleet%2Fcar3?reason=dispute')" = 403 ] || fail "deny not applied: $(cat "$T/body")"

# ---- a bad file, a bad zone: nothing changes ----------------------------------------
printf '[web]\ntile_url = https://c.example/{z}/{x}/{y}.png\nno_such_key = 1\n' >> "$T/lw.conf"
hup 1
grep -q "SIGHUP: configuration not reloaded; keeping the running configuration" "$T/web.log" ||
    fail "a bad file: $(tail -5 "$T/web.log")"
conf 'https://d.example/{z}/{x}/{y}.png' reason 1 Nowhere/Atlantis "$P" 30m
hup 2
grep -q "SIGHUP: places.timezone: unknown time zone 'Nowhere/Atlantis'" "$T/web.log" &&
    [ "$(grep -c "SIGHUP: configuration not reloaded; keeping the running configuration" "$T/web.log")" = 2 ] ||
    fail "a bad zone: $(tail -5 "$T/web.log")"
[ "$(get /config.json)" = 200 ] && grep -q 'b.example' "$T/body" || fail "kept tile_url: $(cat "$T/body")"
[ "$(get /api/v1/vehicles/fleet%2Fcar4)" = 403 ] || fail "kept threshold"

# ---- no change ------------------------------------------------------------------------
conf 'https://b.example/{z}/{x}/{y}.png' deny 5 America/New_York "$P" 30m
hup 3
grep -q "configuration re-read from .*: 0 changes applied, 0 waiting" "$T/web.log" ||
    fail "no change: $(tail -3 "$T/web.log")"
stop_checked "$WPID" lienwatch-web
say "ok"
