#!/bin/bash
# tests/fuzz/run.sh [SECONDS] - runs every libFuzzer target in build/fuzz
# (built by tests/fuzz/build.sh from tests/fuzz/fuzz_*.c) for a share of
# SECONDS (default 60) in total, at least 1 s each. Targets are found by
# name: a new fuzz_<name>.c is run with weight 1, no dictionary and an
# empty corpus unless this file gives it more (weight_of, dict_of, maxlen_of,
# a seeds_<name> function) or tests/fuzz/seeds/<name>/ holds seed files.
# The two decoders of device data get three shares each, the GeoJSON
# import two.
#
# Seeds are copied at run time into build/fuzz/corpus-<name>/ (never into the
# repository): the OwnTracks fixtures and the JSON of demo-iphone.rec, the
# gpsd JSON lines of the .chk files, one feature per file of the real
# geofences, and a small built-in set per target (the only seeds when
# $LW_DATA_DIR, default ../shared/data, is absent). libFuzzer adds what it
# finds to the same directory, so runs build on each other. Crash inputs go
# to build/fuzz/artifacts-<name>/.
#
# FUZZ_ONLY=REGEX runs the matching targets only.
# Exit status: 0 when no target found a crash, leak or timeout; 1 otherwise.
set -u
SECONDS_TOTAL=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=build/fuzz
DATA=${LW_DATA_DIR:-$ROOT/../shared/data}
PY=${PY:-/usr/bin/python3}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

case "$SECONDS_TOTAL" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

# every target, by name, from its source
TARGETS=""
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    [[ $name =~ ${FUZZ_ONLY:-.} ]] && TARGETS="$TARGETS $name"
done

# weight_of NAME: its share of the time
weight_of() {
    case $1 in
    owntracks | tpv) echo 3 ;;
    geojson) echo 2 ;;
    *) echo 1 ;;
    esac
}

# maxlen_of NAME: the largest input libFuzzer makes
maxlen_of() {
    case $1 in
    geojson) echo 100000 ;; # a German state (1,068 vertices) fits
    store | mime) echo 16384 ;;
    *) echo 70000 ;; # above the 64 KiB payload limit: too_large reachable
    esac
}

# dict_of NAME: its dictionary, or nothing
dict_of() {
    case $1 in
    owntracks | tpv | account) echo "$OUT/json.dict" ;;
    geojson) echo "$OUT/geojson.dict" ;;
    accountcsv) echo "$OUT/csv.dict" ;;
    store) echo "$OUT/sql.dict" ;;
    config) echo "$OUT/config.dict" ;;
    esac
}

weights=0
for t in $TARGETS; do weights=$((weights + $(weight_of "$t"))); done

have_data=1
if [ ! -d "$DATA/payloads" ]; then
    have_data=0
    echo "fuzz: shared data not found at $DATA (set LW_DATA_DIR):" \
        "using the built-in seeds only"
fi

# seed DIR NAME TEXT: writes one seed file (printf %b, so \n, \t work).
seed() { printf '%b' "$3" > "$1/$2"; }

# dict FILE WORD...: writes a dictionary of the words, each quoted.
dict() {
    local f=$1 w
    shift
    : > "$f"
    for w in "$@"; do
        w=${w//\\/\\\\}
        printf '"%s"\n' "${w//\"/\\\"}" >> "$f"
    done
}

write_dicts() {
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
    dict "$OUT/geojson.dict" '"type"' '"Feature"' '"FeatureCollection"' \
        '"features"' '"geometry"' '"coordinates"' '"Polygon"' \
        '"MultiPolygon"' '"Point"' '"properties"' '"name"' '"radius_m"' \
        '[[' ']]' '[[[' ']]]' '],[' '180' '-180' '90' '-90' '1e-300' \
        '0.1' '1e308' 'null' '{}' '[]'
    dict "$OUT/csv.dict" 'account,days_past_due,status' '\r\n' '""' '","' \
        '\xef\xbb\xbf' '2147483647' '2147483648' 'overdue' 'current'
    dict "$OUT/sql.dict" 'INSERT INTO ' 'UPDATE ' ' SET ' 'DELETE FROM ' \
        ' VALUES(' ' WHERE ' 'NULL' "X'00'" "'" '9223372036854775807' \
        '-9223372036854775808' '1e999' '-0.0' 'zeroblob(' 'randomblob(' \
        'devices' 'fix_history' 'fix_inbox' 'counters' 'audit' 'meta' \
        'accounts' 'vehicles' 'geofences' 'geofence_rtree' 'alerts' \
        'outbox' 'outbox_held' 'last_fix_time_ms' 'last_trigger_code' \
        'fix_time_ms' 'trigger_code' 'geojson' 'battery_pct' 'kind' 'state'
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

# feature NAME TYPE COORDS [PROPS]: one GeoJSON feature collection
feature() {
    printf '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"%s"%s},"geometry":{"type":"%s","coordinates":%s}}]}' \
        "$1" "${4:-}" "$2" "$3"
}

seeds_geojson() {
    local dir=$1
    # hand-made: valid, and each kind of invalid the import refuses
    feature square Polygon '[[[0,0],[1,0],[1,1],[0,1],[0,0]]]' > "$dir/square.json"
    feature holed Polygon '[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[1,2],[2,2],[2,1],[1,1]]]' > "$dir/holed.json"
    feature bow Polygon '[[[0,0],[2,2],[2,0],[0,2],[0,0]]]' > "$dir/bow.json"
    feature line Polygon '[[[0,0],[1,1],[2,2],[0,0]]]' > "$dir/line.json"
    feature spike Polygon '[[[0,0],[2,0],[2,1],[3,1],[2,1],[2,2],[0,2],[0,0]]]' > "$dir/spike.json"
    feature outside Polygon '[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[5,5],[6,5],[6,6],[5,6],[5,5]]]' > "$dir/outside.json"
    feature overlap MultiPolygon '[[[[0,0],[2,0],[2,2],[0,2],[0,0]]],[[[1,1],[3,1],[3,3],[1,3],[1,1]]]]' > "$dir/overlap.json"
    feature seam MultiPolygon '[[[[179,0],[180,0],[180,1],[179,1],[179,0]]],[[[-180,0],[-179,0],[-179,1],[-180,1],[-180,0]]]]' > "$dir/seam.json"
    feature open Polygon '[[[0,0],[1,0],[1,1],[0,1]]]' > "$dir/open.json"
    feature circle Point '[-37.05,-10.93]' ',"radius_m":500' > "$dir/circle.json"
    feature huge Point '[-37.05,-10.93]' ',"radius_m":1e12' > "$dir/huge.json"
    [ "$have_data" = 1 ] && [ -x "$PY" ] || return 0
    # real boundaries: one feature per file (a whole file is larger than
    # the inputs libFuzzer makes), every 10th urban area
    "$PY" - "$DATA/geofences" "$dir" <<'PY'
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
for root, _, files in os.walk(src):
    for f in sorted(files):
        if not f.endswith(".json"):
            continue
        try:
            feats = json.load(open(os.path.join(root, f)))["features"]
        except (OSError, ValueError, KeyError):
            continue
        step = 10 if len(feats) > 500 else 1
        for i, ft in enumerate(feats[::step]):
            doc = json.dumps({"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {"name": str(i)},
                 "geometry": ft.get("geometry")}]}, separators=(",", ":"))
            if len(doc) <= 100000:
                with open(os.path.join(out, "real-%s-%04d.json" % (f[:-5], i)), "w") as o:
                    o.write(doc)
PY
}

seeds_accountcsv() {
    local dir=$1
    seed "$dir" good.csv '\xef\xbb\xbfaccount,days_past_due,status\r\nA-1,3,overdue\r\n\r\n"A,2", 0 ,"cur ""rent"""\r\nACC-1,45,current\r\n'
    seed "$dir" bad.csv 'account,days_past_due,status\nNEW-1,3,overdue\nA-1,x,overdue\nNEW-2,1\n,2,empty\nNEW-1,4,again\nA-1,"7,unclosed\nACC-1,-2,negative\n'
    seed "$dir" limits.csv 'account,days_past_due,status\nJ\xc3\xb6rg,2147483647,\nB,2147483648,big\nC,1,a,b,c,d,e,f,g,h,i\nD,"1"x,after\nF,1,\xff\n'
    seed "$dir" header.csv 'acct,dpd,status\nA,1,x\n'
    seed "$dir" nul.csv 'account,days_past_due,status\nA,1,x\x00y\nB,2,z'
}

seeds_mime() {
    local dir=$1
    # byte 0 picks the function (see fuzz_mime.c)
    seed "$dir" header-1 '\x00[lienwatch] geofence_exit: AB-123 (device alice/phone) left its geofence (Aracaju)'
    seed "$dir" header-2 '\x00[lienwatch] tow: J\xc3\xb6rg\xe2\x80\x99s \xe8\xbd\xa6 (device car/7) was towed\r\nBcc: x@y'
    seed "$dir" mailbox-1 '\x01Opera\xc3\xa7\xc3\xb5es <ops@example.com>'
    seed "$dir" mailbox-2 '\x01"Doe, Jane" <jane@example.com>'
    seed "$dir" qp-1 '\x02line one \nlong line with = signs and \xc3\xa9 accents that goes on and on past seventy-six characters\r\n\ttab\t\n'
    seed "$dir" addr-1 '\x03Ops Desk <ops@example.com>'
    seed "$dir" list-1 '\x04a@x, "Doe, Jane" <j@x>,, b@y '
    seed "$dir" b64-1 '\x05\x00\x01\x02\xff'
    seed "$dir" date-1 '\x06\x00\xd4\x13\xea\xa2\x01\x00\x00'
    seed "$dir" compose-1 '\x07\x01\x00alice/phone\x00Aracaju centre\x00AB-123\x00WBA00000000000001\x00blue Gol\x00ACC-1\x00overdue\x00lienwatch <alerts@example.com>'
    seed "$dir" compose-2 '\x07\x04\x00=?UTF-8?B?QQ==?=  x\x00\xe8\xbd\xa6\x00\x00\x00\x00\x00\x00Ops \xc3\xa9 <a@b.c>'
}

seeds_tz() {
    local dir=$1 z f
    # byte 0 picks the parser (see fuzz_tz.c): even a TZif file, odd a rule
    for z in Europe/Lisbon America/Sao_Paulo America/New_York Australia/Lord_Howe \
        Asia/Kolkata Pacific/Chatham Africa/Casablanca UTC; do
        f=/usr/share/zoneinfo/$z
        [ -f "$f" ] || continue
        { printf '\x00'; cat "$f"; } >"$dir/tzif-${z//\//-}"
    done
    seed "$dir" posix-1 '\x01WET0WEST,M3.5.0/1,M10.5.0'
    seed "$dir" posix-2 '\x01<-03>3'
    seed "$dir" posix-3 '\x01EST5EDT'
    seed "$dir" posix-4 '\x01<+1030>-10:30<+11>-11,M10.1.0,M4.1.0'
    seed "$dir" posix-5 '\x01<-02>2<-01>,M3.5.0/-1,M10.5.0/0'
    seed "$dir" posix-6 '\x01AAA3BBB,J60/25,300/-167'
}

seeds_store() {
    local dir=$1
    seed "$dir" device.sql "INSERT INTO devices(id, first_heard_ms, last_heard_ms, fix_count, last_fix_time_ms, last_recv_time_ms, last_lat_deg, last_lon_deg, last_trigger_code) VALUES('a/b', 1, 2, 1, 1795435200000, 1795435200000, 1.5, 2.5, 'p');"
    seed "$dir" history.sql "INSERT INTO devices(id, first_heard_ms, last_heard_ms) VALUES('a/b', 1, 2); INSERT INTO fix_history VALUES('a/b', 1795435100000, 1795435100000, 91, 'x', NULL, 1e999, -1, NULL, 300, 'long trigger');"
    seed "$dir" inbox.sql "INSERT INTO devices(id, first_heard_ms, last_heard_ms) VALUES('a/b', 1, 2); INSERT INTO fix_inbox VALUES('a/b', 'late', X'00ff', 1.5, 2.5, NULL, NULL, NULL, NULL, -5, ''); INSERT INTO fix_inbox VALUES('fuzz/car', 1795435200000, 1, 0, 0, 0, 0, 0, 0, 0, 'p');"
    seed "$dir" registry.sql "INSERT INTO accounts VALUES('ACC-1', 45, 'overdue', 1, 'cli'); INSERT INTO vehicles VALUES('a/b', 'VIN', 'PLATE', 'desc', 'ACC-1', 0, 1, 1); INSERT INTO geofences(name, kind, geojson, created_ms) VALUES('f', 'keep_in', '{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,0],[1,1],[0,0]]]}', 1); INSERT INTO geofence_rtree VALUES(1, 0, 1, 0, 1);"
    seed "$dir" alerts.sql "INSERT INTO alerts(kind, device, raised_ms, changed_ms, has_fix, lat_deg, state) VALUES('geofence_exit', 'a/b', 1, 1, 1, NULL, 'weird'); INSERT INTO counters VALUES('fixes', 9223372036854775807); INSERT INTO audit(at_ms, who, action) VALUES(1, 'x', 'locate');"
    seed "$dir" meta.sql "UPDATE meta SET value = 'text'; INSERT INTO meta VALUES('registry_version', -1);"
}

# Writes the INI dictionary of the config target: its syntax, sections,
# keys (from the table, through --dump-config when the daemon is built) and
# values that reach the checks. Written here rather than with dict(), which
# would escape the \xNN of the control bytes.
write_config_dict() {
    local w
    : > "$OUT/config.dict"
    for w in '[mqtt]' '[store]' '[ingest]' '[alerts]' '[smtp]' '[log]' \
             ' = ' '=' ':' ' ;' ';' '#' '+' '/' '/+' '+/' '\x0a' ' ' '\x09' \
             'off' '\xef\xbb\xbf' '\x00' 90s 15m 6h 2d 500ms debug \
             'smtp://' 'a@example.com' 'lienwatch/v1' 'owntracks/+/+'; do
        printf '"%s"\n' "$w" >> "$OUT/config.dict"
    done
    if [ -x build/bin/lienwatchd ]; then
        build/bin/lienwatchd --dump-config |
            sed -nE 's/^([a-z_]+) = .*/"\1"/p' >> "$OUT/config.dict"
    fi
}

seeds_spill() {
    local dir=$1
    seed "$dir" builtin-1.spill '{"lienwatch_spill":1}\n{"t":"fix","device":"alice/phone","fix_ms":1700000000000,"recv_ms":1700000000100,"lat":41.123456789012345,"lon":-8.6,"speed":13.37,"acc":4.5,"batt":80,"trig":"p"}\n{"t":"heard","device":"truck7","recv_ms":1700000002000}\n{"end":2}\n'
    seed "$dir" builtin-2.spill '{"lienwatch_spill":1}\n{"t":"alert","kind":"geofence_exit","device":"d","fence":"home","fence_tag":3,"raised_ms":5,"late":false,"age_ms":0,"gap_ms":0,"fix":{"device":"d","fix_ms":4,"recv_ms":5,"lat":1.5,"lon":2.5}}\n{"t":"account","account":"L-1","days_past_due":45,"status":"overdue","updated_ms":9}\n{"end":2}\n'
    seed "$dir" builtin-3.spill '{"lienwatch_spill":1}\n{"end":0}\n'
}

seeds_config() {
    local dir=$1
    seed "$dir" builtin-1.conf '[mqtt]\nhost = broker.example\nport = 8883\ntopic_owntracks = owntracks/+/+ ; inline\n[store]\ncommit_interval_ms = 0\n'
    seed "$dir" builtin-2.conf '[mqtt]\nhost = a\nport\n\nnope = 1\n[alerts]\noffline_after = 6 hours\n'
    seed "$dir" builtin-3.conf '\xef\xbb\xbf  [ smtp ]\n url = smtp://mx:587\n from = lw <a@example.com>\n to = b@example.com, c@example.com\n[log]\nlevel = debug\r\n'
    seed "$dir" builtin-4.conf '[mqtt]\ntopic_fix = a/#\ntopic_account = off\ntopic_prefix = ops/+\n[mqt\nkey outside\n= v\n'
    seed "$dir" builtin-5.conf '[mqtt]\ntopic_owntracks = +/+/+\nreconnect_min = 1m\nreconnect_max = 2s\n[alerts]\nfence_margin_m = 1e400\n'
    if [ -x build/bin/lienwatchd ]; then
        build/bin/lienwatchd --dump-config > "$dir/dump.conf"
    fi
}

seeds_webreq() {
    local dir=$1
    seed "$dir" builtin-route '\x00GET\n/api/v1/vehicles/alice%2Fphone/history'
    seed "$dir" builtin-route2 '\x00POST\n/api/v1/alerts/12/ack'
    seed "$dir" builtin-pct '\x01\x20a%41+b%c3%a9'
    seed "$dir" builtin-num '\x02-33.8688'
    seed "$dir" builtin-login '\x03{"username":"alice","password":"secret"}'
    seed "$dir" builtin-case '\x04{"device":"d/1","agent":"a","expires":"72h","reason":"r"}'
    seed "$dir" builtin-close '\x05{"outcome":"recovered"}'
    seed "$dir" builtin-cookie '\x05a=1; lw_session=abc; b=2'
}

mkdir -p "$OUT"
write_dicts
write_config_dict
failed=0 ran=0
for name in $TARGETS; do
    weight=$(weight_of "$name")
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
    if declare -F "seeds_$name" >/dev/null; then
        "seeds_$name" "$corpus"
    fi
    if [ -d "tests/fuzz/seeds/$name" ]; then
        cp tests/fuzz/seeds/"$name"/* "$corpus"/ 2>/dev/null
    fi
    dict=()
    d=$(dict_of "$name")
    [ -n "$d" ] && dict=(-dict="$d")
    log="$OUT/fuzz_$name.log"
    "$bin" -max_total_time="$secs" -max_len="$(maxlen_of "$name")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$artifacts" "$corpus" > "$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
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
