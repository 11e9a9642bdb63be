#!/bin/bash
# test_geofence_oracle.sh - lienwatch's point-in-fence test against GEOS.
#
# 1. lw-geowhich basics: names per line in load order, "null" for an
#    unreadable line, "FILE: feature N: ..." errors for bad GeoJSON, --bench.
# 2. geofence_oracle.py: ~190,000 points (seeded random points in every
#    feature's box, points on and 0-10 m off random edges, vertices, rays
#    level with vertices, the real Porto taxi and UCI Aracaju track points)
#    over every polygon file in $LW_DATA_DIR/geofences/, answered by
#    lw-geowhich and by GEOS (shapely "covers"); any disagreement farther than
#    1 m from a boundary fails. Prints the counts.
# Skips (77) without the shared data or without python3-shapely / numpy.
. "$(dirname "$0")/../lib.sh"

G="$BIN/lw-geowhich"
[ -x "$G" ] || fail "$G not built"
need_data
GEO="$LW_DATA_DIR/geofences"
[ -d "$GEO" ] || skip "no geofences under $LW_DATA_DIR"
$PY -c 'import shapely.vectorized, numpy' 2>/dev/null ||
    skip "$PY lacks shapely (python3-shapely) or numpy"
lw_setup

# ---- the tool itself (lw_wrap execs, hence the subshells) ----
printf '52.52 13.405\n52.39,13.06\n\n-10.91\t-37.07\n95 0\n' |
    (lw_wrap "$G" "$GEO/germany/bundeslaender_3_mittel.geo.json" \
        "$GEO/brazil_ibge/geojs-28-mun.json") >"$T/out" 2>"$T/err" ||
    fail "lw-geowhich failed: $(cat "$T/err")"
printf '["Berlin"]\n["Brandenburg"]\nnull\n["Aracaju"]\nnull\n' >"$T/want"
cmp -s "$T/out" "$T/want" || { diff "$T/want" "$T/out" >&2; fail "answers differ"; }
grep -q 'stdin line 3' "$T/err" || fail "no warning for the blank line"

# Maseru is in Lesotho, a hole of South Africa; Johannesburg in South Africa.
printf -- '-29.31 27.48\n-26.2 28.04\n' |
    (lw_wrap "$G" --name-property NAME \
        "$GEO/natural_earth/ne_110m_admin_0_countries.json") >"$T/out" || fail "lw-geowhich failed on countries"
printf '["Lesotho"]\n["South Africa"]\n' >"$T/want"
cmp -s "$T/out" "$T/want" || { diff "$T/want" "$T/out" >&2; fail "countries differ"; }

# Bad GeoJSON: the file and the feature are named, nothing is answered.
printf '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}]}' >"$T/open.json"
rc=0
echo "0.5 0.5" | (lw_wrap "$G" "$T/open.json") >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 1 ] || fail "exit $rc for an unclosed ring, wanted 1"
grep -qF "$T/open.json: feature 1: ring 0 is not closed" "$T/err" ||
    fail "unclear error: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "answers printed despite the error"

(lw_wrap "$G" --bench 20000 "$GEO/natural_earth/ne_50m_urban_areas.json") >"$T/out" ||
    fail "--bench failed"
grep -q 'fences 2143 .*index on' "$T/out" && grep -q 'lookups/s [0-9]' "$T/out" ||
    fail "--bench output: $(cat "$T/out")"
say "$(tr '\n' ' ' <"$T/out")"

# ---- GEOS as the oracle ----
rc=0
$PY "$ROOT/tests/integration/geofence_oracle.py" --tool "$G" \
    --data "$LW_DATA_DIR" >"$T/oracle" 2>&1 || rc=$?
cat "$T/oracle" >&2
[ "$rc" = 0 ] || fail "oracle exit $rc: far disagreements with GEOS or an error (see above)"
grep -q '^TOTAL: .*far disagreements 0 ' "$T/oracle" || fail "no oracle summary"
say "ok"
