#!/bin/bash
# Ingest end to end, against a real mosquitto on a free loopback port:
#   A. real OwnTracks recording (demo-iphone.rec) + real Porto taxi tracks +
#      gpsd TPV, shuffled, with duplicates and a burst of bad payloads: every
#      good fix stored once, in fix-time order, locate = newest, every bad one
#      counted under its reason, daemon still up;
#   B. the broker is stopped and restarted mid-stream: nothing lost;
#   C. the daemon gets SIGTERM mid-stream and is started again: nothing lost,
#      exit status 0.
source "$(dirname "$0")/../lib.sh"
need_data
lw_setup
PORT=$(free_port)
start_mosquitto "$PORT"
PUB="$PY $ROOT/tests/integration/lw_pub.py --port $PORT"
PLAN="$PY $ROOT/tests/integration/make_plan.py --data $LW_DATA_DIR"
CHECK="$PY $ROOT/tests/integration/check_store.py $BIN/lienwatch"
# valgrind slows the daemon ~20x
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6

# start_daemon NAME: lienwatchd on $T/NAME.db with client id NAME; DPID
READY="subscribed to lienwatch/v1/account/+ (QoS 1 granted)"
start_daemon() {
    local before
    before=$(grep -c -- "$READY" "$T/$1.log" 2>/dev/null || true)
    lw_wrap "$BIN/lienwatchd" --db "$T/$1.db" --mqtt-port "$PORT" \
        --set mqtt.client_id="lw-$1" --set mqtt.reconnect_max=2s -v \
        >>"$T/$1.log" 2>&1 &
    DPID=$!
    lw_track "$DPID"
    # ready when the broker shows our subscription took: the db exists
    wait_for $((10 * SLOW)) test -s "$T/$1.db" || fail "daemon $1 did not start: $(tail -5 "$T/$1.log")"
    wait_for $((10 * SLOW)) log_has_more "$T/$1.log" "$READY" "${before:-0}" ||
        fail "daemon $1 did not subscribe: $(tail -5 "$T/$1.log")"
}

stored() { "$BIN/lienwatch" --db "$T/$1.db" stats --json 2>/dev/null |
    $PY -c 'import json,sys; print(json.load(sys.stdin).get("stored",0))' 2>/dev/null || echo 0; }

wait_stored() { # NAME EXPECTFILE
    local want
    want=$($PY -c 'import json,sys; print(sum(len(v) for v in json.load(open(sys.argv[1]))["devices"].values()))' "$2")
    for _ in $(seq $((300 * SLOW))); do
        [ "$(stored "$1")" -ge "$want" ] && return 0
        sleep 0.2
    done
    fail "$1: only $(stored "$1") of $want fixes stored"
}

# ---- A: shuffled real data with duplicates and bad payloads
$PLAN --bad --trips 40 --seed 1 "$T/a.plan" "$T/a.expect" >&2
start_daemon a
$PUB "$T/a.plan" --client-id pub-a >&2 || fail "A: publisher did not get every PUBACK"
wait_stored a "$T/a.expect"
sleep 1 # rejected-only counters are committed within the commit interval
$CHECK "$T/a.db" "$T/a.expect" >&2 || fail "A: stored data differs from what was sent"
kill -0 "$DPID" || fail "A: daemon died"
grep -q "rejected message on .*(not_json)" "$T/a.log" || fail "A: no rejection logged"
stop_checked "$DPID" "daemon a"
grep -q "stopped: received" "$T/a.log" || fail "A: no clean stop logged"
say "A ok: shuffled real data, duplicates and bad payloads"

# ---- B: broker restarted mid-stream
$PLAN --trips 60 --seed 2 --dup-ratio 0.05 --device-prefix b- "$T/b.plan" "$T/b.expect" >&2
start_daemon b
$PUB "$T/b.plan" --client-id pub-b --rate 400 --timeout 180 >"$T/b.pub" 2>&1 &
PUBPID=$!
lw_track "$PUBPID"
sleep 1.5
stop_pid "$MOSQ_PID"
say "B: broker stopped with $(stored b) fixes stored"
sleep 2
start_mosquitto "$PORT"
wait "$PUBPID" || fail "B: publisher: $(cat "$T/b.pub")"
lw_untrack "$PUBPID"
wait_stored b "$T/b.expect"
$CHECK "$T/b.db" "$T/b.expect" >&2 || fail "B: stored data differs after broker restart"
grep -q "connected to" "$T/b.log" || fail "B: no reconnection logged"
stop_checked "$DPID" "daemon b"
say "B ok: broker restart mid-stream lost nothing"

# ---- C: SIGTERM mid-stream, daemon restarted
$PLAN --trips 60 --seed 3 --dup-ratio 0.05 --device-prefix c- "$T/c.plan" "$T/c.expect" >&2
start_daemon c
$PUB "$T/c.plan" --client-id pub-c --rate 400 --timeout 180 >"$T/c.pub" 2>&1 &
PUBPID=$!
lw_track "$PUBPID"
sleep 1.5
kill -TERM "$DPID"
wait "$DPID"; rc=$?
lw_untrack "$DPID"
[ "$rc" -eq 0 ] || fail "C: daemon exited $rc on SIGTERM"
n1=$(stored c)
say "C: daemon stopped by SIGTERM with $n1 fixes stored"
sleep 1
start_daemon c
wait "$PUBPID" || fail "C: publisher: $(cat "$T/c.pub")"
lw_untrack "$PUBPID"
wait_stored c "$T/c.expect"
$CHECK "$T/c.db" "$T/c.expect" >&2 || fail "C: stored data differs after SIGTERM + restart"
stop_checked "$DPID" "daemon c"
say "C ok: SIGTERM mid-stream lost nothing"
