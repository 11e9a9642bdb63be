#!/bin/bash
# test_fence_validity.sh - fences are valid or refused, and imports are
# bounded, through the real 'lienwatch' command as an operator types it.
#
#   A. hand-made invalid polygons: bow-tie, zero area (collinear), a ring
#      of one point, a spike, an unclosed ring, a hole outside its shell,
#      overlapping parts, NaN / overflowing / out-of-range coordinates, a
#      polygon of 10^6 vertices: each refused with exit status 2, its
#      feature number, GEOS's reason and location, nothing stored; a file
#      mixing good and bad fences stores nothing;
#   B. --make-valid: the bow-tie, spike, hole and overlap are repaired and
#      stored, the report says what changed, 'which' answers with the
#      repaired shape, the export re-imports without --make-valid; a
#      collapsed polygon is still refused;
#   C. circles: add-circle and Point features with radius_m outside 1 m ..
#      1,000 km refused, the bounds themselves accepted;
#   D. size: /dev/zero, a pipe on stdin and a regular file over the limit
#      refused quickly for geofence and account imports; --max-bytes and
#      --config ([store] import_max_bytes) set the limit;
#   E. the real boundaries of ../shared/data/geofences: every file imports,
#      except Natural Earth's countries, refused for Sudan (GEOS:
#      self-intersection) and imported with --make-valid.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
[ -x "$L" ] || fail "$L not built"
need_data
GEO="$LW_DATA_DIR/geofences"
COUNTRIES="$GEO/natural_earth/ne_110m_admin_0_countries.json"
for f in "$COUNTRIES" "$GEO/brazil_ibge/geojs-28-mun.json" \
    "$GEO/germany/bundeslaender_3_mittel.geo.json" \
    "$GEO/natural_earth/ne_110m_admin_1_states_provinces.json" \
    "$GEO/natural_earth/ne_50m_urban_areas.json"; do
    [ -r "$f" ] || skip "$f missing"
done
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
lw() { run "$1" "$L" --db "$DB" --as ops1 "${@:2}"; }
has() { grep -qF -- "$1" "$T/out" || { cat "$T/out" >&2; fail "output lacks: $1"; }; }
err_has() { grep -qF -- "$1" "$T/err" || { cat "$T/err" >&2; fail "stderr lacks: $1"; }; }
count_fences() { sqlite3 "$DB" "SELECT count(*) FROM geofences"; }
# feature NAME TYPE COORDS: one GeoJSON FeatureCollection of one feature
feature() {
    printf '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"%s"},"geometry":{"type":"%s","coordinates":%s}}]}\n' \
        "$1" "$2" "$3"
}

run 0 "$L" init-db --db "$DB"

# ---- A: invalid polygons refused ------------------------------------------
feature bow Polygon '[[[0,0],[2,2],[2,0],[0,2],[0,0]]]' >"$T/bow.geojson"
feature line Polygon '[[[0,0],[1,1],[2,2],[0,0]]]' >"$T/line.geojson"
feature dot Polygon '[[[5,5],[5,5],[5,5],[5,5]]]' >"$T/dot.geojson"
feature spike Polygon '[[[0,0],[2,0],[2,1],[3,1],[2,1],[2,2],[0,2],[0,0]]]' >"$T/spike.geojson"
feature open Polygon '[[[0,0],[1,0],[1,1],[0,1]]]' >"$T/open.geojson"
feature holed Polygon '[[[0,0],[1,0],[1,1],[0,1],[0,0]],[[5,5],[6,5],[6,6],[5,6],[5,5]]]' >"$T/holed.geojson"
feature two MultiPolygon '[[[[0,0],[2,0],[2,2],[0,2],[0,0]]],[[[1,1],[3,1],[3,3],[1,3],[1,1]]]]' >"$T/two.geojson"
feature nan Polygon '[[[0,0],[NaN,0],[1,1],[0,0]]]' >"$T/nan.geojson"
feature overflow Polygon '[[[0,0],[1e400,0],[1,1],[0,0]]]' >"$T/overflow.geojson"
feature huge Polygon '[[[0,0],[1e300,0],[1,1],[0,0]]]' >"$T/huge.geojson"

lw 2 geofence import "$T/bow.geojson" --kind keep_in
err_has "bow.geojson: feature 0 ('bow'): Self-intersection at 1, 1"
err_has "bow.geojson: 1 of 1 fence is invalid; nothing imported (correct them, or let GEOS repair the polygons with --make-valid)"
lw 2 geofence import "$T/line.geojson" --kind keep_in
err_has "feature 0 ('line'): Self-intersection at 1, 1"
lw 2 geofence import "$T/dot.geojson" --kind keep_out
err_has "feature 0 ('dot'): Too few points in geometry component at 5, 5"
lw 2 geofence import "$T/spike.geojson" --kind keep_in
err_has "feature 0 ('spike'): Self-intersection at 1, 3"
lw 2 geofence import "$T/open.geojson" --kind keep_in
err_has "open.geojson: feature 0: ring 0 is not closed"
lw 2 geofence import "$T/holed.geojson" --kind keep_in
err_has "feature 0 ('holed'): Hole lies outside shell at 5, 5"
lw 2 geofence import "$T/two.geojson" --kind keep_in
err_has "feature 0 ('two'): Self-intersection"
lw 2 geofence import "$T/nan.geojson" --kind keep_in
err_has "nan.geojson: line 1 column"
lw 2 geofence import "$T/overflow.geojson" --kind keep_in
err_has "overflow.geojson: line 1 column"
lw 2 geofence import "$T/huge.geojson" --kind keep_in
err_has "longitude 1.0000000000000001e+300 is outside [-180, 180]"
# 10^6 vertices (about 30 MB): read, parsed, refused for its size
$PY - "$T/million.geojson" <<'PY'
import math, sys
n = 1000000
with open(sys.argv[1], "w") as f:
    f.write('{"type":"FeatureCollection","features":[{"type":"Feature",'
            '"properties":{"name":"million"},"geometry":{"type":"Polygon",'
            '"coordinates":[[')
    for i in range(n):
        k = 0 if i == n - 1 else i
        a = 2 * math.pi * k / (n - 1)
        f.write('%s[%.9f,%.9f]' % ("," if i else "", 8 + math.cos(a), 47 + math.sin(a)))
    f.write(']]}}]}\n')
PY
lw 2 geofence import "$T/million.geojson" --kind keep_in
err_has "feature 0 ('million'): 1000000 vertices, more than the 100000 a fence may have (simplify it)"
# good and bad together: nothing stored
$PY - "$T/mixed.geojson" "$T/bow.geojson" <<'PY'
import json, sys
bow = json.load(open(sys.argv[2]))["features"][0]
good = {"type": "Feature", "properties": {"name": "good"},
        "geometry": {"type": "Polygon", "coordinates": [[[10, 10], [11, 10], [11, 11], [10, 10]]]}}
json.dump({"type": "FeatureCollection", "features": [good, bow, good | {"properties": {"name": "good2"}}]},
          open(sys.argv[1], "w"))
PY
lw 2 geofence import "$T/mixed.geojson" --kind keep_out
err_has "feature 1 ('bow'): Self-intersection at 1, 1"
err_has "1 of 3 fences is invalid; nothing imported"
[ "$(count_fences)" = 0 ] || fail "A: a refused import stored fences"
say "A ok: invalid polygons refused"

# ---- B: --make-valid ------------------------------------------------------
lw 0 geofence import "$T/bow.geojson" --kind keep_in --make-valid
has "repaired feature 0 ('bow'): Self-intersection at 1, 1; now 2 parts (was 1), 0 holes (was 0), 8 vertices (was 5), area"
has "(was 0 m²)"
has "imported 1 keep_in geofence from $T/bow.geojson (0 replaced, 1 repaired)"
lw 0 geofence which 1 0.5 --json
[ "$(cat "$T/out")" = '["bow"]' ] || fail "B: bow-tie west lobe: $(cat "$T/out")"
lw 0 geofence which 1 1.5 --json
[ "$(cat "$T/out")" = '["bow"]' ] || fail "B: bow-tie east lobe: $(cat "$T/out")"
lw 0 geofence which 0.5 1 --json
[ "$(cat "$T/out")" = '[]' ] || fail "B: between the lobes: $(cat "$T/out")"
lw 0 geofence list --json
grep -q '"shape": "multipolygon"' "$T/out" || fail "B: the repaired bow-tie is not a multipolygon: $(cat "$T/out")"
lw 0 geofence import "$T/spike.geojson" --kind keep_in --make-valid
has "repaired feature 0 ('spike'): Self-intersection at 1, 3; now 1 part (was 1)"
lw 0 geofence which 1 2.5 --json              # on the spike: gone
[ "$(cat "$T/out")" = '[]' ] || fail "B: the spike is still there: $(cat "$T/out")"
lw 0 geofence which 1.5 1.5 --json
[ "$(cat "$T/out")" = '["bow","spike"]' ] || fail "B: inside the square: $(cat "$T/out")"
lw 0 geofence import "$T/holed.geojson" --kind keep_out --make-valid
has "repaired feature 0 ('holed'): Hole lies outside shell at 5, 5; now 2 parts (was 1), 0 holes (was 1)"
lw 0 geofence import "$T/two.geojson" --kind keep_out --make-valid
has "now 1 part (was 2)"
lw 0 geofence which 1.5 1.5 --json            # the overlap: inside
grep -q '"two"' "$T/out" || fail "B: the overlap of two parts is outside: $(cat "$T/out")"
lw 2 geofence import "$T/line.geojson" --kind keep_in --make-valid
err_has "feature 0 ('line'): Self-intersection at 1, 1; repairing it leaves no area (it collapses to lines or points)"
err_has "1 of 1 fence is invalid; nothing imported"
! grep -q -- "--make-valid)" "$T/err" || fail "B: suggests --make-valid after --make-valid"
# the audit trail says so
lw 0 audit --json
grep -q "bow.geojson: 1 keep_in fence (0 replaced, 1 repaired with --make-valid)" "$T/out" ||
    fail "B: audit: $(cat "$T/out")"
# what is stored is valid: the export imports elsewhere without --make-valid
lw 0 geofence list --geojson
cp "$T/out" "$T/export.geojson"
run 0 "$L" init-db --db "$T/copy.db"
run 0 "$L" --db "$T/copy.db" geofence import "$T/export.geojson" --kind keep_in
has "imported 4 keep_in geofences"
say "B ok: --make-valid"

# ---- C: circles ----------------------------------------------------------
n=$(count_fences)
lw 2 geofence add-circle big -10.9 -37.0 1e12 --kind keep_in
err_has "RADIUS_M: radius 1e+12 m is more than 1000 km"
lw 2 geofence add-circle tiny -10.9 -37.0 0.5 --kind keep_in
err_has "radius 0.5 m is less than 1 m"
lw 2 geofence add-circle over -10.9 -37.0 1000000.5 --kind keep_in
lw 0 geofence add-circle one -10.9 -37.0 1 --kind keep_out
lw 0 geofence add-circle thousand -10.9 -37.0 1000000 --kind keep_out
printf '{"type":"Feature","properties":{"name":"far","radius_m":1e12},"geometry":{"type":"Point","coordinates":[-37,-10.9]}}' >"$T/far.geojson"
lw 2 geofence import "$T/far.geojson" --kind keep_out --make-valid
err_has "feature 0 ('far'): radius 1e+12 m is more than 1000 km (circles are 1 m to 1000 km; import a polygon for a larger area) (centre -10.9, -37)"
[ "$(count_fences)" = $((n + 2)) ] || fail "C: $(count_fences) fences, wanted $((n + 2))"
say "C ok: circle radii"

# ---- D: bounded reads -------------------------------------------------
s0=$(date +%s)
lw 2 geofence import /dev/zero --kind keep_in
err_has "/dev/zero: more than 67108864 bytes (64 MiB), the most an import reads"
lw 2 account import /dev/zero
err_has "/dev/zero: more than 67108864 bytes"
[ $(( $(date +%s) - s0 )) -lt 60 ] || fail "D: /dev/zero took $(( $(date +%s) - s0 )) s"
# a stream on stdin, with --max-bytes
( head -c 3000000 /dev/zero | lw_wrap "$L" --db "$DB" geofence import - --kind keep_in --max-bytes 1048576 ) \
    >"$T/out" 2>"$T/err" && fail "D: a 3 MB pipe over a 1 MiB limit was accepted"
err_has "-: more than 1048576 bytes (1 MiB)"
# a regular file over the limit: refused unread
lw 2 geofence import "$T/million.geojson" --kind keep_in --max-bytes 1048576
err_has "million.geojson: $(stat -c %s "$T/million.geojson") bytes, more than 1048576 bytes"
lw 2 geofence import "$T/bow.geojson" --kind keep_in --max-bytes 100
err_has "--max-bytes: store.import_max_bytes: 100 is outside 1024..1073741824"
lw 2 geofence import "$T" --kind keep_in
err_has "is a directory, not a file"
# --config: the key of lienwatchd's configuration
printf '[store]\nimport_max_bytes = 2048\n' >"$T/small.conf"
$PY -c "print('account,days_past_due,status'); [print(f'ACC-{i:05d},1,overdue') for i in range(200)]" >"$T/acc.csv"
lw 2 account import "$T/acc.csv" --config "$T/small.conf"
err_has "bytes, more than 2048 bytes"
lw 0 account import "$T/acc.csv" --config "$T/small.conf" --max-bytes 1048576
has "imported 200 accounts"
lw 0 account import - --config "$T/small.conf" <<'CSV'
account,days_past_due,status
ACC-00001,5,overdue
CSV
has "imported 1 accounts from -: 0 new, 1 changed"
printf '[store]\nimport_max_bytes = lots\n' >"$T/bad.conf"
lw 2 geofence import "$T/bow.geojson" --kind keep_in --config "$T/bad.conf"
err_has "--config $T/bad.conf:"
lw 2 geofence import "$T/bow.geojson" --kind keep_in --config "$T/nonexistent.conf"
say "D ok: bounded reads"

# ---- E: real boundaries --------------------------------------------------
run 0 "$L" init-db --db "$T/real.db"
real() { run "$1" "$L" --db "$T/real.db" --as ops1 "${@:2}"; }
real 0 geofence import "$GEO/brazil_ibge/geojs-28-mun.json" --kind keep_in
has "imported 75 keep_in geofences"
real 0 geofence import "$GEO/germany/bundeslaender_3_mittel.geo.json" --kind keep_out
has "imported 16 keep_out geofences"
real 0 geofence import "$GEO/natural_earth/ne_110m_admin_1_states_provinces.json" --kind keep_in
has "imported 51 keep_in geofences"
# urban areas have no name property: named by their index for the test
$PY - "$GEO/natural_earth/ne_50m_urban_areas.json" "$T/urban.geojson" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for i, f in enumerate(d["features"]):
    f["properties"]["name"] = "urban-%04d" % i
json.dump(d, open(sys.argv[2], "w"))
PY
real 0 geofence import "$T/urban.geojson" --kind keep_out
has "imported 2143 keep_out geofences"
n=$(sqlite3 "$T/real.db" "SELECT count(*) FROM geofences")
real 2 geofence import "$COUNTRIES" --kind keep_in --name-property ADMIN
err_has "feature 139 ('Sudan'): Self-intersection at 9.464285, 33.963393"
err_has "1 of 177 fences is invalid; nothing imported"
[ "$(sqlite3 "$T/real.db" "SELECT count(*) FROM geofences")" = "$n" ] || fail "E: refused countries stored"
real 0 geofence import "$COUNTRIES" --kind keep_in --name-property ADMIN --make-valid
has "repaired feature 139 ('Sudan'): Self-intersection at 9.464285, 33.963393; now 2 parts (was 1)"
has "imported 177 keep_in geofences"
real 0 geofence which 15.5 32.5 --json         # Khartoum
grep -q '"Sudan"' "$T/out" || fail "E: Khartoum is not in Sudan: $(cat "$T/out")"
say "E ok: real boundaries"
