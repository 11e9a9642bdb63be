#!/bin/bash
# tests/fuzz/run.sh [SECONDS] - runs every libFuzzer target in build/fuzz
# (built by tests/fuzz/build.sh) for a share of SECONDS (default 60) in
# total: the two decoders of device data get three shares each, account and
# topic one each, at least 1 s per target.
#
# Seeds are copied at run time into build/fuzz/corpus-<name>/ (never into the
# repository): the OwnTracks fixtures and the JSON of demo-iphone.rec, the
# gpsd JSON lines of the .chk files, and a small built-in set per target
# (the only seeds when $LW_DATA_DIR, default ../shared/data, is absent).
# libFuzzer adds what it finds to the same directory, so runs build on each
# other. Crash inputs go to build/fuzz/artifacts-<name>/.
#
# Exit status: 0 when no target found a crash, leak or timeout; 1 otherwise.
set -u
SECONDS_TOTAL=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=build/fuzz
DATA=${LW_DATA_DIR:-$ROOT/../shared/data}
MAX_LEN=70000 # above the 64 KiB payload limit, so too_large is reachable
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "$SECONDS_TOTAL" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

# name:weight
TARGETS="owntracks:3 tpv:3 account:1 topic:1"
weights=0
for t in $TARGETS; do weights=$((weights + ${t#*:})); done

have_data=1
if [ ! -d "$DATA/payloads" ]; then
    have_data=0
    echo "fuzz: shared data not found at $DATA (set LW_DATA_DIR):" \
        "using the built-in seeds only"
fi

# seed DIR NAME TEXT: writes one seed file (printf %b, so \n, \t work).
seed() { printf '%b' "$3" > "$1/$2"; }

# Writes a JSON dictionary shared by the decoder targets.
write_dict() {
    local w
    : > "$OUT/json.dict"
    for w in _type location lwt lat lon tst acc alt vel cog batt t created_at \
             class TPV SKY mode time speed track eph epx epy altMSL altHAE \
             days_past_due status overdue; do
        printf '"\\"%s\\""\n' "$w" >> "$OUT/json.dict"
    done
    printf '%s\n' '"null"' '"true"' '"false"' '"1e400"' '"-0.0"' \
        '"\\u0000"' '"\\ud800"' '"2026-11-23T12:00:00.000Z"' '"+02:00"' \
        '"{"' '"}"' '"["' '"]"' '":"' '","' >> "$OUT/json.dict"
}

seeds_owntracks() {
    local dir=$1 i=0
    seed "$dir" builtin-1.json '{"_type":"location","lat":52.5,"lon":13.4,"tst":1795435000,"acc":9,"vel":1,"cog":252,"batt":94,"t":"p"}'
    seed "$dir" builtin-2.json '{"_type":"lwt","tst":"1440363922"}'
    seed "$dir" builtin-3.json '[{"_type":"location","lat":8,"lon":9,"tst":1000}]'
    if [ "$have_data" = 1 ]; then
        cp "$DATA"/payloads/owntracks/*.json "$dir"/ 2>/dev/null
        if [ -f "$DATA/payloads/owntracks/demo-iphone.rec" ]; then
            while IFS=$'\t' read -r _ _ json; do
                i=$((i + 1))
                printf '%s' "$json" > "$dir/rec-$i.json"
            done < "$DATA/payloads/owntracks/demo-iphone.rec"
        fi
    fi
}

seeds_tpv() {
    local dir=$1
    seed "$dir" builtin-1.json '{"class":"TPV","mode":3,"time":"2026-11-23T11:59:00.000Z","lat":48.2,"lon":8.4,"altHAE":813.2,"altMSL":765.8,"track":0.0,"speed":0.5,"eph":13.3}'
    seed "$dir" builtin-2.json '{"class":"TPV","mode":2,"time":"2026-11-23T13:59:00+02:00","lat":1,"lon":2,"epx":3,"epy":5}'
    seed "$dir" builtin-3.json '{"class":"TPV","mode":1}'
    if [ "$have_data" = 1 ]; then
        # one seed per distinct gpsd JSON line (TPV, and SKY for other classes)
        cat "$DATA"/payloads/gpsd_json/*.chk 2>/dev/null |
            grep -E '^\{"class":"(TPV|SKY)"' | sort -u | head -n 2500 |
            split -l 1 -a 4 - "$dir/chk-"
    fi
}

seeds_account() {
    local dir=$1
    seed "$dir" builtin-1.json '{"days_past_due": 45, "status": "overdue"}'
    seed "$dir" builtin-2.json '{"days_past_due":0}'
    seed "$dir" builtin-3.json '{"days_past_due":36500,"status":null}'
    seed "$dir" builtin-4.json '{"days_past_due":"45","status":"\\u00e9"}'
}

seeds_topic() {
    local dir=$1
    # byte 0 picks the parser (0 topic, 1 time, 2 duration, 3 id), byte 1
    # is the id buffer size for topics
    seed "$dir" topic-1 '\x00\x40owntracks/+/+\nowntracks/alice/phone'
    seed "$dir" topic-2 '\x00\x05lienwatch/v1/fix/+\nlienwatch/v1/fix/truck7'
    seed "$dir" time-1 '\x01\x00 2026-11-23T16:43:46.123+02:00'
    seed "$dir" time-2 '\x01\x002024-02-29 23:59:60Z'
    seed "$dir" duration-1 '\x02\x001d2h3m4s5ms'
    seed "$dir" duration-2 '\x02\x0090'
    seed "$dir" id-1 "\\x03\\x00x'); DROP TABLE fixes;--"
    seed "$dir" id-2 '\x03\x00j\xc3\xb6rg/\xf0\x9f\x9a\x97'
}

mkdir -p "$OUT"
write_dict
failed=0 ran=0
for t in $TARGETS; do
    name=${t%%:*} weight=${t#*:}
    bin="$OUT/fuzz_$name"
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin missing (run tests/fuzz/build.sh)" >&2
        failed=$((failed + 1))
        continue
    fi
    secs=$((SECONDS_TOTAL * weight / weights))
    [ "$secs" -ge 1 ] || secs=1
    corpus="$OUT/corpus-$name" artifacts="$OUT/artifacts-$name/"
    mkdir -p "$corpus" "$artifacts"
    "seeds_$name" "$corpus"
    dict=()
    [ "$name" = topic ] || dict=(-dict="$OUT/json.dict")
    log="$OUT/fuzz_$name.log"
    "$bin" -max_total_time="$secs" -max_len="$MAX_LEN" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$artifacts" "$corpus" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    files=$(find "$corpus" -type f | wc -l)
    ran=$((ran + 1))
    if [ "$rc" -eq 0 ]; then
        echo "  ok    fuzz_$name: ${secs}s, ${execs:-?} runs, ${cov:-cov: ?}, corpus $files"
    else
        failed=$((failed + 1))
        echo "  FAIL  fuzz_$name (rc $rc): see $log; inputs in $artifacts"
        grep -E 'ERROR|invariant broken|runtime error|SUMMARY|Test unit written' \
            "$log" | head -n 10 | sed 's/^/        /'
    fi
done
echo "fuzz: $ran targets run for ${SECONDS_TOTAL}s in total, $failed failed"
[ "$failed" -eq 0 ]
