#!/bin/bash
# test_history_formats.sh - 'lienwatch history' in all its formats (csv,
# json, geojson, gpx, kml) carries the same fixes: same number of points, same
# coordinates and times, in time order; the XML ones are well-formed
# (xmllint) whatever the registry holds.
#
# Histories (written with the sqlite3 shell as lienwatchd would leave them:
# most fixes in fix_history, the newest in fix_inbox):
#   - a real track: every point of the UCI go_track trajectories (Aracaju,
#     13,887 distinct times of ~18,000 points) on one device, registered
#     with a plate and description full of XML and HTML syntax;
#   - made-up edge cases: millisecond times, altitudes known and unknown,
#     the antimeridian and the poles, one fix only, and a device id with
#     XML syntax;
#   - registry text no CLI command would accept (control characters, bytes
#     that are not UTF-8), as a database edited by hand could hold.
# KML is checked for what viewers need: a Placemark named after the vehicle
# whose gx:Track has one <when> per <gx:coord>, a last-fix Placemark, and a
# description that is HTML with the registry's text escaped (Google Earth
# renders descriptions as HTML: '<b>' must come out as text).
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
[ -x "$L" ] || fail "$L not built"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
command -v xmllint >/dev/null || skip "xmllint not installed (Debian libxml2-utils; make deps)"
lw_setup
DB="$T/lw.db"
UCI="$LW_DATA_DIR/tracks/uci_gps_trajectories/go_track_trackspoints.csv"

run() {
    local want=$1 rc=0
    shift
    (lw_wrap "$@") >"$T/out" 2>"$T/err" || rc=$?  # lw_wrap execs
    if [ "$rc" != "$want" ]; then
        say "stdout:"; head -20 "$T/out" >&2; say "stderr:"; cat "$T/err" >&2
        fail "exit $rc, wanted $want: $*"
    fi
}
lw() { run "$1" "$L" --db "$DB" --as tester "${@:2}"; }

run 0 "$L" init-db --db "$DB"
NASTY=$'white <b>Corolla</b> & "Co" \'98 ]]> </description>'
lw 0 vehicle set uci/car --plate 'SE <1> & 2' --vin 9BWZZZ377VT004251 \
    --description "$NASTY" --account ACC-1
OB="o'brien/van & <co>"

# ---- the histories ----
$PY - "$DB" "$UCI" "$OB" <<'PY' || fail "filling the database"
import calendar, csv, os, sqlite3, sys, time
db_path, uci, ob = sys.argv[1:4]
db = sqlite3.connect(db_path)
rows = {}   # device -> {fix_time_ms: (lat, lon, speed, course, acc, alt)}
if os.path.exists(uci):
    with open(uci, newline='') as f:
        for r in csv.DictReader(f):
            # naive local times: taken as UTC here, which is all this needs
            t = calendar.timegm(time.strptime(r['time'], '%Y-%m-%d %H:%M:%S')) * 1000
            rows.setdefault('uci/car', {}).setdefault(
                t, (float(r['latitude']), float(r['longitude']), None, None, None, None))
base = 1795392000000  # 2026-11-23T00:00:00Z
rows['edge/cases'] = {
    base + 1: (-89.9999999, 179.9999999, 0.0, 359.9, 3.5, 8848.86),
    base + 999: (89.9999999, -179.9999999, 55.55, 0.0, None, -412.3),
    base + 60000: (-10.1234567, -37.7654321, None, None, None, None),
    base + 120500: (0.0000001, -0.0000001, 1.0, 1.0, 1.0, 0.0),
    base + 3600000: (51.4778, -0.0014, None, 90.0, 12.0, None),
}
rows[ob] = {base: (-33.8688, 151.2093, None, None, None, None)}
for dev, fixes in rows.items():
    times = sorted(fixes)
    db.execute("INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count)"
               " VALUES (?, ?, ?, ?)", (dev, times[0], times[-1], len(times)))
    for i, t in enumerate(times):
        lat, lon, sp, co, acc, alt = fixes[t]
        # the newest tenth still in the inbox, as between two merges
        table = 'fix_inbox' if i >= len(times) * 9 // 10 and len(times) > 1 else 'fix_history'
        db.execute("INSERT INTO %s VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)" % table,
                   (dev, t, t + 1500, lat, lon, sp, co, acc, alt))
    db.execute("UPDATE devices SET (last_fix_time_ms, last_recv_time_ms, last_lat_deg,"
               " last_lon_deg) = (SELECT fix_time_ms, recv_time_ms, lat_deg, lon_deg"
               " FROM fixes f WHERE f.device = devices.id ORDER BY fix_time_ms DESC"
               " LIMIT 1) WHERE id = ?", (dev,))
db.commit()
print(sum(len(f) for f in rows.values()), "fixes", file=sys.stderr)
PY

# export DEVICE_ARGS... : every format into $T/h.{csv,json,geojson,gpx,kml}
export_all() {
    local f
    for f in csv json geojson gpx kml; do
        lw 0 history --reason 'format checks' "$@" --format "$f"
        cp "$T/out" "$T/h.$f"
    done
    for f in gpx kml; do
        xmllint --noout "$T/h.$f" 2>"$T/xmllint.err" ||
            fail "$f not well-formed for $*: $(head -5 "$T/xmllint.err")"
    done
}

# compare LABEL: the five files hold the same fixes
compare() {
    $PY - "$T" "$1" <<'PY' || fail "formats differ for $1"
import csv, json, sys, xml.etree.ElementTree as ET
d, label = sys.argv[1:3]
def load(ext):
    return open('%s/h.%s' % (d, ext), encoding='utf-8')

with load('csv') as f:
    c = list(csv.DictReader(f))
c_pts = [(r['fix_time'], r['lat'], r['lon']) for r in c]
j = json.load(load('json'))
j_pts = [(x['fix_time'], x['lat'], x['lon']) for x in j]
g = json.load(load('geojson'))
g_pts = [(x['properties']['fix_time'], x['geometry']['coordinates'][1],
          x['geometry']['coordinates'][0])
         for x in g['features'] if x['geometry']['type'] == 'Point']
g_line = [x for x in g['features'] if x['geometry']['type'] == 'LineString']
G = '{http://www.topografix.com/GPX/1/1}'
gpx = ET.parse('%s/h.gpx' % d).getroot()
x_pts = [(p.find(G + 'time').text, p.get('lat'), p.get('lon'))
         for p in gpx.iter(G + 'trkpt')]
K = '{http://www.opengis.net/kml/2.2}'
X = '{http://www.google.com/kml/ext/2.2}'
kml = ET.parse('%s/h.kml' % d).getroot()
assert kml.tag == K + 'kml', kml.tag
marks = kml.findall(K + 'Document/' + K + 'Placemark')
track = marks[0].find(X + 'Track')
kids = [k for k in track if k.tag in (K + 'when', X + 'coord')]
whens = [k.text for k in kids if k.tag == K + 'when']
coords = [k.text.split() for k in kids if k.tag == X + 'coord']
assert len(whens) == len(coords), (len(whens), len(coords))
# pairs: <when> then its <gx:coord>
assert [k.tag for k in kids] == [K + 'when', X + 'coord'] * len(whens)
assert all(len(xyz) == 3 for xyz in coords), coords[:3]
k_pts = [(w, xyz[1], xyz[0]) for w, xyz in zip(whens, coords)]

n = len(c_pts)
for name, pts in (('json', j_pts), ('geojson', g_pts), ('gpx', x_pts), ('kml', k_pts)):
    assert len(pts) == n, '%s: %d points, csv %d' % (name, len(pts), n)
for i in range(n):
    t, la, lo = c_pts[i]
    # times: the same string everywhere
    for name, pts in (('json', j_pts), ('geojson', g_pts), ('gpx', x_pts), ('kml', k_pts)):
        assert pts[i][0] == t, '%s point %d: time %s, csv %s' % (name, i, pts[i][0], t)
    # text formats write 7 decimals the same way; JSON has the full double
    assert x_pts[i][1:] == (la, lo), ('gpx', i, x_pts[i], c_pts[i])
    assert k_pts[i][1:] == (la, lo), ('kml', i, k_pts[i], c_pts[i])
    for name, pts in (('json', j_pts), ('geojson', g_pts)):
        assert abs(pts[i][1] - float(la)) <= 5.01e-8 and abs(pts[i][2] - float(lo)) <= 5.01e-8, \
            (name, i, pts[i], c_pts[i])
times = [p[0] for p in c_pts]
assert times == sorted(times) and len(set(times)) == n, 'not in time order, or repeated'
# the extras: the GeoJSON line (from two fixes on), the KML last-fix mark
if n >= 2:
    assert len(g_line) == 1 and g_line[0]['properties']['fixes'] == n
    assert g_line[0]['geometry']['coordinates'] == [[p[2], p[1]] for p in g_pts]
else:
    assert g_line == []
if n:
    last = marks[1]
    assert last.find(K + 'TimeStamp/' + K + 'when').text == times[-1]
    lon, lat = last.find(K + 'Point/' + K + 'coordinates').text.split(',')
    assert (lat, lon) == c_pts[-1][1:], (lat, lon, c_pts[-1])
else:
    assert len(marks) == 1, 'a last-fix mark without fixes'
print('%s: %d fixes alike in csv, json, geojson, gpx, kml' % (label, n), file=sys.stderr)
PY
}

# ---- the real track, by plate ----
if [ -r "$UCI" ]; then
    export_all --plate 'se<1>&2'
    compare "UCI track"
    n=$(($(wc -l < "$T/h.csv") - 1))
    [ "$n" -gt 13000 ] || fail "UCI track: only $n fixes"
    # the vehicle in the KML and GPX, its text intact and inert
    $PY - "$T" "$NASTY" <<'PY' || fail "vehicle text in KML/GPX"
import html, sys, xml.etree.ElementTree as ET
d, nasty = sys.argv[1:3]
K = '{http://www.opengis.net/kml/2.2}'
kml = ET.parse(d + '/h.kml').getroot()
doc = kml.find(K + 'Document')
label = 'SE <1> & 2, %s (uci/car)' % nasty
assert doc.find(K + 'name').text == label, doc.find(K + 'name').text
mark = doc.find(K + 'Placemark')
assert mark.find(K + 'name').text == label
desc = mark.find(K + 'description').text
# HTML: our <br/> between lines, the registry's text escaped
lines = desc.split('<br/>')
assert lines[0] == 'Device: uci/car', lines
assert html.unescape(lines[1]) == 'Plate: SE <1> & 2', lines[1]
assert lines[2] == 'VIN: 9BWZZZ377VT004251', lines[2]
assert html.unescape(lines[3]) == 'Vehicle: ' + nasty, lines[3]
assert lines[4] == 'Account: ACC-1', lines[4]
for bad in ('<b>', '</b>', '</description>', '"', "'"):
    assert bad not in ''.join(lines[1:4]), (bad, lines)
G = '{http://www.topografix.com/GPX/1/1}'
gpx = ET.parse(d + '/h.gpx').getroot()
assert gpx.find(G + 'trk/' + G + 'name').text == label
assert nasty in gpx.find(G + 'trk/' + G + 'desc').text
PY
    # the same by VIN and by device
    cp "$T/h.kml" "$T/by-plate.kml"
    lw 0 history --reason 'format checks' --vin 9bwzzz377vt004251 --format kml
    diff <(grep -v '<time>' "$T/out") <(grep -v '<time>' "$T/by-plate.kml") >/dev/null ||
        fail "KML by VIN differs from KML by plate"
    # a range: the same subset everywhere
    from=$(sed -n 2000p "$T/h.csv" | cut -d, -f1)
    to=$(sed -n 3000p "$T/h.csv" | cut -d, -f1)
    export_all uci/car --from "$from" --to "$to"
    compare "UCI track, --from/--to"
    [ "$(($(wc -l < "$T/h.csv") - 1))" = 1001 ] || fail "range: $(wc -l < "$T/h.csv") lines"
else
    say "real track missing ($UCI): made-up histories only"
fi

# ---- edge cases ----
export_all edge/cases
compare "edge cases"
grep -qF '<when>2026-11-23T00:00:00.001Z</when><gx:coord>179.9999999 -89.9999999 8848.9</gx:coord>' "$T/h.kml" ||
    fail "KML first pair: $(grep -m1 '<when>' "$T/h.kml")"
grep -qF '<gx:coord>-37.7654321 -10.1234567 0</gx:coord>' "$T/h.kml" ||
    fail "KML coord without altitude: $(cat "$T/h.kml")"
grep -qF '<name>edge/cases</name>' "$T/h.kml" || fail "unregistered device's KML name"
grep -q '<description>Device: edge/cases</description>' "$T/h.kml" ||
    fail "unregistered device's description: $(grep description "$T/h.kml")"
export_all "$OB"
compare "one fix, a device id with XML syntax"
$PY -c '
import sys, xml.etree.ElementTree as ET
K = "{http://www.opengis.net/kml/2.2}"
r = ET.parse(sys.argv[1]).getroot()
assert r.find(K + "Document/" + K + "name").text == sys.argv[2]' "$T/h.kml" "$OB" ||
    fail "KML name of $OB"
export_all edge/cases --to 2000-01-01
compare "an empty range"
grep -q '<gx:Track>' "$T/h.kml" || fail "empty range: no track"

# ---- registry text no command would accept ----
sqlite3 "$DB" "UPDATE vehicles SET description = 'bell' || char(7) || ' nul-ish ' || char(1) ||
    ' bad ' || CAST(X'C3' AS TEXT) || ' end ' || CAST(X'EFBFBF' AS TEXT), plate = CAST(X'FF' AS TEXT) || 'P'
    WHERE device = 'uci/car'"
for f in kml gpx; do
    lw 0 history --reason 'format checks' --device uci/car --to 2000-01-01 --format "$f"
    xmllint --noout "$T/out" 2>"$T/xmllint.err" ||
        fail "$f with control characters and bad UTF-8 is not well-formed: $(head -3 "$T/xmllint.err")"
    grep -qF 'bell? nul-ish ? bad ? end ?' "$T/out" || fail "$f: replaced characters: $(grep -a bell "$T/out")"
done

# ---- usage ----
lw 2 history --reason 'format checks' edge/cases --format KML
grep -qF "unknown format 'KML' (csv, json, geojson, gpx or kml)" "$T/err" || fail "format message: $(cat "$T/err")"
run 0 "$L" help history
grep -qF 'kml: KML 2.2' "$T/out" || fail "help lacks kml"

say "ok"
