#!/bin/bash
# test_audit_head.sh - lienwatchd keeps an outside copy of the audit trail's
# head, on a real mosquitto:
#   - at start it logs the head and publishes it retained on
#     <prefix>/audit/head (QoS 1): a subscriber that comes later gets it
#     (mosquitto_sub), and it is what 'lienwatch audit verify' prints;
#   - a CLI change moves the head: the new one is published within the
#     10 s interval (and not before the interval since the last one);
#   - the published JSON is taken as it is by 'audit verify --head'; after
#     records are removed from the end (triggers dropped, as an attacker
#     would) the trail alone still verifies, the published head does not;
#   - a custom topic_prefix; the head logged at stop.
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

"$L" init-db --db "$DB" >/dev/null || fail "init-db"
"$L" --db "$DB" --as ops1 vehicle set car/1 --plate 'AB-1' >/dev/null || fail "vehicle set"
verify_head() { "$L" --db "$DB" audit verify | sed -n 's/^head: //p'; }
H1=$(verify_head)
[ "${H1%%:*}" = 1 ] || fail "first head: $H1"

lw_wrap "$D" --db "$DB" --mqtt-port "$PORT" --set mqtt.topic_prefix=acme/lw \
    --set mqtt.client_id=lw-audit-head -v >"$T/d.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((10 * SLOW)) grep -q "audit: trail head $H1" "$T/d.log" ||
    fail "no head logged at start: $(tail -3 "$T/d.log")"

# sub: the retained head, as a subscriber arriving now sees it
sub() { mosquitto_sub -p "$PORT" -t acme/lw/audit/head -C 1 -W $((5 * SLOW)) 2>/dev/null; }
wait_for $((10 * SLOW)) sub || fail "nothing retained on acme/lw/audit/head"
P1=$(sub)
$PY -c "
import json, sys
d = json.loads(sys.argv[1])
assert '%d:%s' % (d['id'], d['hash']) == sys.argv[2], (d, sys.argv[2])
assert d['published'].endswith('Z'), d" "$P1" "$H1" || fail "published head $P1, verify says $H1"

# the CLI moves the head; the daemon sees it within a second and publishes
# it once AUDITHEAD_MIN_INTERVAL_S (10 s) passed since the last publication
t0=$(date +%s)
"$L" --db "$DB" --as ops1 account set ACC-1 --days-past-due 30 >/dev/null || fail "account set"
"$L" --db "$DB" --as ops1 vehicle set car/1 --account ACC-1 >/dev/null || fail "vehicle set"
H2=$(verify_head)
[ "${H2%%:*}" = 3 ] || fail "head after two changes: $H2"
moved() { sub | grep -q "\"id\":3,"; }
wait_for $((20 * SLOW)) moved || fail "the new head was not published: $(sub)"
took=$(( $(date +%s) - t0 ))
say "new head published after ${took} s"
[ "$took" -le $((12 * SLOW)) ] || fail "new head took $took s"
P2=$(sub)
"$L" --db "$DB" audit verify --head "$P2" >"$T/out" || fail "verify --head with the published JSON: $(cat "$T/out")"
grep -q "the given head is in the chain" "$T/out" || fail "head not found: $(cat "$T/out")"
grep -q "audit: head moved to $H2" "$T/d.log" || fail "no debug line for the move"

# stop: the head is logged once more
stop_checked "$DPID" "lienwatchd"
grep -q "audit: trail head at stop $H2" "$T/d.log" || fail "no head at stop: $(tail -3 "$T/d.log")"

# an attacker removes the last records: the trail alone still verifies ...
sqlite3 "$DB" "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id > 1" ||
    fail "tampering"
"$L" --db "$DB" audit verify >"$T/out" 2>&1 || fail "a truncated trail should verify alone: $(cat "$T/out")"
# ... but not against the head the broker kept
rc=0
"$L" --db "$DB" audit verify --head "$(sub)" >"$T/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "verify --head after truncation exited $rc: $(cat "$T/out")"
grep -q "before the expected head 3" "$T/out" || fail "truncation message: $(cat "$T/out")"
say "ok"
