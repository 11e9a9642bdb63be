#!/bin/bash
# lw-sim and lw-baresub against a real mosquitto on a free loopback port:
#   A. 600 messages with bad payloads, duplicates and shuffling: every one
#      acknowledged and delivered, topics PREFIX/carNNNNN, good payloads are
#      valid OwnTracks location JSON with plausible values (near the centre,
#      road speeds, no time travel, no tst from the future), each bad kind
#      delivered as often as the summary line says;
#   B. the same --seed and --start give the same messages; another seed does
#      not;
#   C. the default start puts the last report at about now; --rate paces;
#   D. lw-baresub counts what lw-sim publishes;
#   E. --help, bad options.
# Needs no shared data. LW_VALGRIND=1 runs both tools under valgrind.
source "$(dirname "$0")/../lib.sh"
lw_setup
PORT=$(free_port)
start_mosquitto "$PORT"
[ -x "$BIN/lw-sim" ] || fail "no $BIN/lw-sim (build first)"
# under LW_VALGRIND=1 both tools run in valgrind (errors exit 99)
sim() { (lw_wrap "$BIN/lw-sim" "$@"); }
baresub() { (lw_wrap "$BIN/lw-baresub" "$@"); }

# collect NAME PREFIX: registers a persistent QoS 1 session that queues what
# is published under PREFIX, so nothing can be missed by starting late.
register() {
    mosquitto_sub -p "$PORT" -i "t-$1" -c -q 1 -t "$2/#" -E ||
        fail "could not register subscriber $1"
}
# fetch NAME PREFIX N: prints the N queued messages, "topic hexpayload".
fetch() {
    mosquitto_sub -p "$PORT" -i "t-$1" -c -q 1 -t "$2/#" -C "$3" -W 20 \
        -F '%t %x' > "$T/$1.msgs" || fail "$1: fewer than $3 messages arrived"
}

# ---- A: one run with everything mixed in
START=$(( $(date +%s) - 86400 ))
register a fleet/a
sim --port "$PORT" --topic-prefix fleet/a -n 6 -c 600 --rate 0 --seed 11 \
    --start "$START" --bad-ratio 0.1 --duplicates 0.05 --shuffle 8 \
    > "$T/a.out" 2> "$T/a.err" || fail "A: lw-sim failed: $(cat "$T/a.err")"
grep -q '^published=600 acked=600 ' "$T/a.out" || fail "A: not all acknowledged: $(cat "$T/a.out")"
grep -q '^lw-sim: sent [0-9]* good, [0-9]* bad (not_json=' "$T/a.err" ||
    fail "A: no summary line on stderr: $(cat "$T/a.err")"
fetch a fleet/a 600
$PY - "$T/a.msgs" "$T/a.out" "$T/a.err" <<'EOF' || fail "A: messages do not match"
import collections, json, math, re, sys, time

msgs_path, out_path, err_path = sys.argv[1:4]
out = dict(kv.split("=") for kv in open(out_path).read().split())
summary = re.search(r"sent (\d+) good, (\d+) bad \(([^)]*)\), (\d+) duplicates",
                    open(err_path).read())
assert summary, "no summary"
want_bad = {k: int(v) for k, v in
            (kv.split("=") for kv in summary.group(3).split(", "))}
good_n, dup_n = int(summary.group(1)), int(summary.group(4))
assert int(out["good"]) == good_n and int(out["duplicates"]) == dup_n
assert sum(want_bad.values()) == int(summary.group(2)) == int(out["bad"])
assert good_n + dup_n + int(out["bad"]) == 600

now = time.time()
CENTRE = (41.15, -8.61)

def dist_m(a, b):
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dl = math.radians(b[1] - a[1])
    h = (math.sin((p2 - p1) / 2) ** 2 +
         math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2)
    return 2 * 6371000 * math.asin(math.sqrt(h))

got_bad = collections.Counter()
good = collections.defaultdict(list)  # topic -> [payload]
for line in open(msgs_path):
    topic, _, hexp = line.rstrip("\n").partition(" ")
    assert re.fullmatch(r"fleet/a/car0000[1-6]", topic), topic
    raw = bytes.fromhex(hexp)
    if len(raw) > 64 * 1024:
        got_bad["oversize"] += 1
        continue
    try:
        j = json.loads(raw)
    except ValueError:
        got_bad["truncated" if raw.startswith(b"{") else "not_json"] += 1
        continue
    assert j["_type"] == "location"
    if isinstance(j["lat"], str):
        got_bad["string_lat"] += 1
    elif abs(j["lat"]) > 90:
        got_bad["lat_range"] += 1
    elif j["lat"] == 0 and j["lon"] == 0:
        got_bad["zero_zero"] += 1
    elif j["tst"] > now + 300:
        got_bad["future"] += 1
    else:
        good[topic].append(j)
assert dict(got_bad) == {k: v for k, v in want_bad.items() if v}, (got_bad, want_bad)

n_good = sum(len(v) for v in good.values())
assert n_good == good_n + dup_n, (n_good, good_n, dup_n)
distinct = {(t, j["tst"]) for t, l in good.items() for j in l}
assert len(distinct) == good_n, (len(distinct), good_n)
for topic, reports in good.items():
    tid = topic[-2:]
    for j in reports:
        assert set(j) == {"_type", "tid", "lat", "lon", "tst", "acc", "vel",
                          "cog", "batt", "t"}, j
        assert j["tid"] == tid and j["t"] in ("t", "u"), j
        assert dist_m(CENTRE, (j["lat"], j["lon"])) < 60000, j
        assert 0 <= j["vel"] <= 120 and 0 <= j["cog"] < 360, j
        assert 0 < j["acc"] < 100 and 0 <= j["batt"] <= 100, j
        assert j["tst"] <= now + 5, j
    # no teleporting: implied speed between reports stays on the road
    uniq = sorted({j["tst"]: j for j in reports}.values(), key=lambda j: j["tst"])
    for a, b in zip(uniq, uniq[1:]):
        kmh = dist_m((a["lat"], a["lon"]), (b["lat"], b["lon"])) / (b["tst"] - a["tst"]) * 3.6
        assert kmh < 130, (topic, a, b, kmh)
print("A: %d good, %d duplicates, bad %s" % (good_n, dup_n, dict(got_bad)))
EOF
say "A ok: counts, topics, JSON, plausible values, bad kinds"

# ---- B: deterministic for a seed
run_b() { # NAME SEED
    register "$1" "det/$1"
    sim --port "$PORT" --topic-prefix "det/$1" -n 5 -c 300 --rate 0 \
        --seed "$2" --start "$START" --bad-ratio 0.05 --duplicates 0.05 \
        --shuffle 4 -q > /dev/null || fail "B: lw-sim $1 failed"
    fetch "$1" "det/$1" 300
    # the topic prefix differs on purpose; "future" payloads carry the wall
    # clock and are left out
    $PY - "$T/$1.msgs" > "$T/$1.cmp" <<'EOF'
import json, sys, time
for line in open(sys.argv[1]):
    topic, _, hexp = line.rstrip("\n").partition(" ")
    raw = bytes.fromhex(hexp)
    try:
        if json.loads(raw)["tst"] > time.time() + 300:
            continue
    except (ValueError, KeyError, TypeError):
        pass
    print(topic.rsplit("/", 1)[1], hexp)
EOF
}
run_b b1 99
run_b b2 99
run_b b3 100
cmp -s "$T/b1.cmp" "$T/b2.cmp" || fail "B: same seed, different messages"
cmp -s "$T/b1.cmp" "$T/b3.cmp" && fail "B: different seeds, same messages"
say "B ok: deterministic for a seed"

# ---- C: default start ends at about now; --rate paces
register c fleet/c
t0=$(date +%s%N)
sim --port "$PORT" --topic-prefix fleet/c -n 3 -c 60 --rate 200 --step 20 -q \
    > /dev/null || fail "C: lw-sim failed"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 250 ] || fail "C: 60 messages at 200/s took only $ms ms"
fetch c fleet/c 60
$PY - "$T/c.msgs" <<'EOF' || fail "C: default start is not about now"
import json, sys, time
tst = [json.loads(bytes.fromhex(l.split()[1]))["tst"] for l in open(sys.argv[1])]
now = time.time()
# 20 reports per vehicle, 20 s apart: the last is within one step of now
assert now - 30 <= max(tst) <= now + 2, (max(tst), now)
assert now - 20 * 20 - 30 <= min(tst), (min(tst), now)
EOF
say "C ok: default start and rate (60 messages in $ms ms)"

# ---- D: lw-baresub counts lw-sim's messages
baresub --port "$PORT" --topic 'fleet/d/#' --client-id t-d \
    --count 2000 --timeout 30 > "$T/d.out" 2> "$T/d.err" &
BPID=$!
lw_track "$BPID"
wait_for 10 grep -q '^ready$' "$T/d.out" || fail "D: lw-baresub did not subscribe: $(cat "$T/d.err")"
sim --port "$PORT" --topic-prefix fleet/d -n 50 -c 2000 --rate 0 -q > /dev/null ||
    fail "D: lw-sim failed"
wait "$BPID" || fail "D: lw-baresub failed: $(cat "$T/d.err")"
lw_untrack "$BPID"
grep -q '^received=2000 seconds=[0-9.]* rate=[0-9]* first_ms=[0-9]* last_ms=[0-9]* cpu_s=[0-9.]* maxrss_kib=[0-9]*$' "$T/d.out" ||
    fail "D: unexpected lw-baresub output: $(cat "$T/d.out")"
say "D ok: $(tail -1 "$T/d.out")"

# ---- E: usage
sim --help | grep -q -- '--bad-ratio' || fail "E: --help"
baresub --help | grep -q -- '--count' || fail "E: lw-baresub --help"
rc=0; sim --rate -1 2> /dev/null || rc=$?
[ "$rc" = 2 ] || fail "E: bad --rate gave $rc, want 2"
rc=0; sim --port "$(free_port)" -c 1 --timeout 1 -q 2> /dev/null || rc=$?
[ "$rc" = 1 ] || fail "E: no broker gave $rc, want 1"
say "E ok: usage and errors"
