#!/bin/bash
# test_stale_subscriptions: the daemon's persistent session keeps its
# subscriptions at the broker, so one dropped from the configuration must
# be unsubscribed. Real mosquitto:
#   A. run with topic_fix = other/fix/+, stop;
#   B. run with the default: "other/fix/+" is unsubscribed at connection
#      (logged), a message published there afterwards never reaches the
#      daemon (no unknown_topic, nothing received), fixes on the configured
#      topics are stored;
#   C. a third start has nothing to unsubscribe.
source "$(dirname "$0")/../lib.sh"
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
command -v mosquitto_pub >/dev/null || skip "mosquitto-clients not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
PORT=$(free_port)
start_mosquitto "$PORT"
DB="$T/lw.db"
READY="subscribed to lienwatch/v1/account/+ (QoS 1 granted)"
q() { sqlite3 -cmd ".timeout 2000" "$DB" "$1"; }
counter() { q "select coalesce((select value from counters where name='$1'), 0)"; }
n_fixes() { q "select count(*) from fixes"; }
is() { [ "$($1 "${@:3}")" = "$2" ]; }

start_daemon() { # [--set ...]
    local before
    before=$(grep -c -- "$READY" "$T/d.log" 2>/dev/null || true)
    lw_wrap "$BIN/lienwatchd" --db "$DB" --mqtt-port "$PORT" \
        --set mqtt.client_id=lw-subs "$@" -v >>"$T/d.log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    wait_for $((20 * SLOW)) log_has_more "$T/d.log" "$READY" "${before:-0}" ||
        fail "daemon did not subscribe: $(tail -3 "$T/d.log")"
}
tpv() { # TOPIC SECOND
    mosquitto_pub -p "$PORT" -q 1 -t "$1" -m \
        "{\"class\":\"TPV\",\"mode\":3,\"time\":\"2026-01-01T00:00:$2.000Z\",\"lat\":41.1,\"lon\":-8.6}"
}

# A
start_daemon --set mqtt.topic_fix=other/fix/+
grep -q "subscribed to other/fix/+" "$T/d.log" || fail "A: not subscribed to other/fix/+"
tpv other/fix/a 01
wait_for $((10 * SLOW)) is n_fixes 1 || fail "A: fix on other/fix/a not stored"
stop_checked "$DPID" lienwatchd
[ "$(q "select value from meta where key='mqtt.subscriptions.lw-subs'")" = "owntracks/+/+
other/fix/+
lienwatch/v1/account/+" ] || fail "A: subscriptions not recorded: $(q "select * from meta where key like 'mqtt.%'")"

# B
start_daemon
wait_for $((10 * SLOW)) grep -q "unsubscribed from other/fix/+ (no longer in the configuration)" "$T/d.log" ||
    fail "B: other/fix/+ not unsubscribed: $(grep -i subscri "$T/d.log" | tail -5)"
grep -q "'other/fix/+' was subscribed by an earlier configuration" "$T/d.log" || fail "B: not logged"
received=$(counter received)
tpv other/fix/a 02
tpv lienwatch/v1/fix/b 03
wait_for $((10 * SLOW)) is n_fixes 2 || fail "B: fix on the configured topic not stored"
sleep 1
[ "$(counter rejected.unknown_topic)" = 0 ] || fail "B: the stale topic's message reached the daemon"
[ "$(counter received)" = $((received + 1)) ] ||
    fail "B: received $(counter received), expected $((received + 1))"
[ "$(q "select count(*) from fixes where device='a'")" = 1 ] || fail "B: a fix of device a was stored"
wait_for 5 is q "owntracks/+/+
lienwatch/v1/fix/+
lienwatch/v1/account/+" "select value from meta where key='mqtt.subscriptions.lw-subs'" ||
    fail "B: record not updated: $(q "select value from meta where key='mqtt.subscriptions.lw-subs'")"
stop_checked "$DPID" lienwatchd

# C
start_daemon
[ "$(grep -c "earlier configuration" "$T/d.log")" = 1 ] || fail "C: unsubscribed again"
stop_checked "$DPID" lienwatchd
exit 0
