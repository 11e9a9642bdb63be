#!/bin/bash
# test_evidence.sh - signed evidence bundles through the real 'lienwatch':
#   - keygen: a new secret key file of mode 0600 whatever the umask, the
#     public key alone on stdout, an existing file never overwritten;
#   - a bundle of a registered vehicle (hostile registry text) with fixes
#     (history and inbox), an alert in the range and one outside it:
#     every file present, the history files carry the range's fixes, the
#     report shows UTC and local times (--tz) and escapes the registry's
#     text, the export is an audit record (reason, folder, key) that the
#     bundle's audit.json and MANIFEST head include;
#   - 'evidence verify': passes with --pubkey (the key, a key file, a PEM
#     file) and without (saying it used the bundle's own key);
#     'sha256sum -c MANIFEST' and openssl agree, independently of lienwatch;
#   - one byte changed in each file, in MANIFEST and in MANIFEST.sig,
#     another public key, a file removed and a file added: each exits 1
#     naming what differs;
#   - refusals: a folder that is not empty (or a file), no --reason, no
#     --from/--to, no key, an unknown vehicle (exit 3, still recorded), an
#     audit record that cannot be written (nothing exported);
#   - the key from [privacy] signing_key_file of --config; help.
. "$(dirname "$0")/../lib.sh"

L="$BIN/lienwatch"
[ -x "$L" ] || fail "$L not built"
command -v sqlite3 >/dev/null || skip "sqlite3 shell not installed"
command -v openssl >/dev/null || skip "openssl not installed"
command -v xmllint >/dev/null || skip "xmllint not installed (Debian libxml2-utils)"
lw_setup
DB="$T/lw.db"
ME=$(id -un)

run() {
    local want=$1 rc=0
    shift
    (lw_wrap "$@") >"$T/out" 2>"$T/err" || rc=$?
    if [ "$rc" != "$want" ]; then
        say "stdout:"; head -20 "$T/out" >&2; say "stderr:"; head -20 "$T/err" >&2
        fail "exit $rc, wanted $want: $*"
    fi
}
lw() { run "$1" "$L" --db "$DB" --as 'Case Officer' "${@:2}"; }
has() { grep -qF -- "$1" "$T/out" || fail "output lacks '$1': $(head -8 "$T/out")"; }
err_has() { grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1': $(head -5 "$T/err")"; }

# ---- keys ----
(umask 000; lw_wrap "$L" evidence keygen "$T/k1.key") >"$T/k1.pub" 2>"$T/err" || fail "keygen: $(cat "$T/err")"
[ "$(stat -c %a "$T/k1.key")" = 600 ] || fail "key mode $(stat -c %a "$T/k1.key")"
[ "$(wc -l < "$T/k1.pub")" = 1 ] || fail "keygen printed more than the key"
grep -Eqx '[A-Za-z0-9+/]{43}=' "$T/k1.pub" || fail "public key: $(cat "$T/k1.pub")"
grep -qF "$(cat "$T/k1.pub")" "$T/k1.key" || fail "key file does not name its public key"
cp "$T/k1.key" "$T/k1.copy"
run 2 "$L" evidence keygen "$T/k1.key"
err_has "never overwritten"
cmp -s "$T/k1.key" "$T/k1.copy" || fail "keygen changed an existing key"
run 0 "$L" evidence keygen "$T/k2.key"
K1=$(cat "$T/k1.pub") K2=$(cat "$T/out")
[ "$K1" != "$K2" ] || fail "two keys alike"

# ---- a vehicle with a history ----
run 0 "$L" init-db --db "$DB"
NASTY=$'white <script>alert("x")</script> & \'98'
lw 0 vehicle set ev/car --plate 'EV <1>' --vin 9BWZZZ377VT004251 \
    --description "$NASTY" --account ACC-9
lw 0 account set ACC-9 --days-past-due 45 --status 'overdue <b>'
B=1795392000000 # 2026-11-23T00:00:00Z
$PY - "$DB" "$B" <<'PY' || fail "filling the database"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); base = int(sys.argv[2])
fixes = [(base - 3600000, -10.0, -37.0, None),     # before the range
         (base + 60000, -10.9101, -37.0702, 8.5),
         (base + 120000, -10.9102, -37.0703, None),
         (base + 7200000, -10.95, -37.1, 30.0),
         (base + 3 * 86400000, -11.0, -37.2, 5.0)]  # after it
db.execute("INSERT INTO devices (id, first_heard_ms, last_heard_ms, fix_count)"
           " VALUES ('ev/car', ?, ?, ?)", (fixes[0][0], fixes[-1][0], len(fixes)))
for i, (t, lat, lon, acc) in enumerate(fixes):
    table = 'fix_inbox' if i >= 3 else 'fix_history'
    db.execute("INSERT INTO %s VALUES ('ev/car', ?, ?, ?, ?, NULL, NULL, ?, NULL, NULL, ?)" % table,
               (t, t + 2500, lat, lon, acc, 'p' if i == 1 else None))
for kind, t in (('geofence_exit', base + 130000), ('offline', base + 5 * 86400000)):
    db.execute("INSERT INTO alerts (kind, device, geofence, raised_ms, has_fix, fix_time_ms,"
               " recv_time_ms, lat_deg, lon_deg, changed_ms) VALUES"
               " (?, 'ev/car', 'home <zone>', ?, 1, ?, ?, -10.9, -37.0, ?)",
               (kind, t, t - 1000, t - 500, t))
db.commit()
PY

# ---- the bundle ----
OUT="$T/bundle"
before=$(sqlite3 "$DB" "SELECT count(*) FROM audit")
lw 0 evidence 'ev <1>' --from 2026-11-23 --to 2026-11-24 \
    --reason 'court order 2026/1187 <urgent>' --out "$OUT" --key "$T/k1.key" \
    --tz America/Sao_Paulo
has "evidence bundle written to $OUT: 3 positions, 1 alert"
[ "$(stat -c %a "$OUT")" = 700 ] || fail "bundle folder mode $(stat -c %a "$OUT")"
for f in MANIFEST MANIFEST.sig signing-key.pem report.html vehicle.json account.json \
         history.csv history.gpx history.geojson history.kml alerts.json audit.json; do
    [ -f "$OUT/$f" ] || fail "bundle lacks $f"
    [ "$(stat -c %a "$OUT/$f")" = 600 ] || fail "$f mode $(stat -c %a "$OUT/$f")"
done
[ "$(ls "$OUT" | wc -l)" = 12 ] || fail "bundle holds $(ls "$OUT")"

# the export is on the record, with the reason, the folder and the key
[ "$(sqlite3 "$DB" "SELECT count(*) FROM audit")" = $((before + 1)) ] || fail "no audit record"
sqlite3 -separator '|' "$DB" "SELECT id, who, as_name, action, device, reason, detail FROM audit ORDER BY id DESC LIMIT 1" >"$T/rec"
IFS='|' read -r RID RWHO RAS RACT RDEV RREASON RDETAIL <"$T/rec"
[ "$RWHO|$RAS|$RACT|$RDEV" = "$ME|Case Officer|evidence|ev/car" ] || fail "audit record: $(cat "$T/rec")"
[ "$RREASON" = 'court order 2026/1187 <urgent>' ] || fail "reason: $RREASON"
case $RDETAIL in *"$OUT"*"$K1"*) ;; *) fail "detail: $RDETAIL" ;; esac
HEAD=$("$L" --db "$DB" audit verify | sed -n 's/^head: //p')
grep -qx "# audit head at export: $HEAD" "$OUT/MANIFEST" || fail "MANIFEST head is not $HEAD: $(grep head "$OUT/MANIFEST")"
grep -qx "# export audit record: $RID:.*" "$OUT/MANIFEST" || fail "MANIFEST lacks the export record $RID"
grep -qx "# signing key (Ed25519, base64): $K1" "$OUT/MANIFEST" || fail "MANIFEST key"

# the contents
$PY - "$OUT" "$RID" <<'PY' || fail "bundle contents"
import csv, json, os, sys
out, rid = sys.argv[1], int(sys.argv[2])
j = lambda n: json.load(open(os.path.join(out, n)))
v = j('vehicle.json')
assert v['device'] == 'ev/car' and v['vin'] == '9BWZZZ377VT004251' and v['plate'] == 'EV <1>', v
assert v['tracker']['fixes_stored'] == 5, v
a = j('account.json')
assert a['account'] == 'ACC-9' and a['days_past_due'] == 45, a
rows = list(csv.DictReader(open(os.path.join(out, 'history.csv'))))
assert [r['fix_time'] for r in rows] == ['2026-11-23T00:01:00Z', '2026-11-23T00:02:00Z',
                                         '2026-11-23T02:00:00Z'], rows
g = j('history.geojson')
assert sum(1 for f in g['features'] if f['geometry']['type'] == 'Point') == 3, g
al = j('alerts.json')
assert [x['kind'] for x in al] == ['geofence_exit'], al
au = j('audit.json')
assert au[-1]['id'] == rid and au[-1]['action'] == 'evidence', au[-1]
assert all(x['device'] == 'ev/car' for x in au), au
assert all(len(x['hash']) == 64 and len(x['prev_hash']) == 64 for x in au), au
assert any(x['action'] == 'vehicle set' for x in au), au
PY
for f in gpx kml; do
    xmllint --noout "$OUT/history.$f" || fail "history.$f not well-formed"
done
xmllint --html --noout "$OUT/report.html" 2>"$T/xerr" || fail "report.html: $(head -3 "$T/xerr")"
grep -q '<script' "$OUT/report.html" && fail "report.html carries the registry's <script>"
grep -qF 'white &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;98' "$OUT/report.html" ||
    fail "description not escaped in report.html"
grep -qF '2026-11-23T00:01:00Z' "$OUT/report.html" || fail "report lacks the UTC time"
grep -qF '2026-11-22 21:01:00 -03:00' "$OUT/report.html" || fail "report lacks the local time"
grep -qF 'America/Sao_Paulo' "$OUT/report.html" || fail "report lacks the zone"
grep -qF '9BWZZZ377VT004251' "$OUT/report.html" || fail "report lacks the VIN"
grep -qF '8.5' "$OUT/report.html" || fail "report lacks the accuracy"
grep -qF 'court order 2026/1187 &lt;urgent&gt;' "$OUT/report.html" || fail "report lacks the reason"
grep -qF 'How the data was received' "$OUT/report.html" || fail "report lacks how it was received"

# ---- verification ----
run 0 "$L" evidence verify "$OUT" --pubkey "$K1"
has "signature: good (Ed25519, the key given with --pubkey)"
has "files: all 10 listed in MANIFEST match, none added"
has "bundle verified"
run 0 "$L" evidence verify "$OUT" --pubkey "$T/k1.pub"
run 0 "$L" evidence verify "$OUT" --pubkey "$OUT/signing-key.pem"
run 0 "$L" evidence verify "$OUT"
has "checked with the key the bundle itself carries"
has "bundle verified (with the key it carries"
(cd "$OUT" && sha256sum --quiet -c MANIFEST) || fail "sha256sum -c MANIFEST"
base64 -d "$OUT/MANIFEST.sig" >"$T/sig.bin" || fail "MANIFEST.sig is not base64"
openssl pkeyutl -verify -pubin -inkey "$OUT/signing-key.pem" -rawin -in "$OUT/MANIFEST" \
    -sigfile "$T/sig.bin" >/dev/null || fail "openssl does not verify the signature"
# the published key as a PEM of its own, made from keygen's output alone
{ echo '-----BEGIN PUBLIC KEY-----'
  { printf '\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00'; base64 -d <<<"$K1"; } | base64
  echo '-----END PUBLIC KEY-----'; } >"$T/k1.pem"
openssl pkeyutl -verify -pubin -inkey "$T/k1.pem" -rawin -in "$OUT/MANIFEST" \
    -sigfile "$T/sig.bin" >/dev/null || fail "openssl with the published key"
run 1 "$L" evidence verify "$OUT" --pubkey "$K2"
has "signature: BAD"
has "bundle NOT verified: 1 problem"

# one byte changed in each file
flip() { # FILE OFFSET: the byte at OFFSET xor 1
    $PY -c "
import sys
p, o = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read()); b[o] ^= 1; open(p, 'wb').write(b)" "$1" "$2"
}
for f in $(cd "$OUT" && ls); do
    cp -a "$OUT" "$T/b2"
    size=$(stat -c %s "$T/b2/$f")
    flip "$T/b2/$f" $((size / 2))
    run 1 "$L" evidence verify "$T/b2" --pubkey "$K1"
    case $f in
    MANIFEST) has "signature: BAD" ;;
    MANIFEST.sig) grep -Eq "signature: BAD|MANIFEST.sig: not a signature" "$T/out" ||
                      fail "MANIFEST.sig changed: $(cat "$T/out")" ;;
    *) has "$f: CHANGED" ;;
    esac
    has "bundle NOT verified"
    rm -rf "$T/b2"
done
cp -a "$OUT" "$T/b2"
rm "$T/b2/alerts.json"
echo extra >"$T/b2/notes.txt"
run 1 "$L" evidence verify "$T/b2" --pubkey "$K1"
has "alerts.json: MISSING"
has "notes.txt: EXTRA (not listed in MANIFEST)"
has "bundle NOT verified: 2 problems"
rm -rf "$T/b2"
run 1 "$L" evidence verify "$T" --pubkey "$K1"
has "MANIFEST: MISSING"

# ---- refusals ----
n=$(sqlite3 "$DB" "SELECT count(*) FROM audit")
lw 2 evidence ev/car --from 1d --to 0s --reason x --out "$OUT" --key "$T/k1.key"
err_has "is not empty"
: >"$T/afile"
lw 2 evidence ev/car --from 1d --to 0s --reason x --out "$T/afile" --key "$T/k1.key"
err_has "not a folder"
lw 2 evidence ev/car --from 1d --to 0s --out "$T/b3" --key "$T/k1.key"
err_has "--reason is required"
lw 2 evidence ev/car --reason x --out "$T/b3" --key "$T/k1.key"
err_has "--from and --to are required"
lw 1 evidence ev/car --from 1d --to 0s --reason x --out "$T/b3" --config /dev/null
err_has "no signing key"
lw 1 evidence ev/car --from 1d --to 0s --reason x --out "$T/b3" --key "$T/k1.pub"
err_has "is not a signing key"
# a key file whose public half does not match its secret: damaged
sed '3s/^\(.\{60\}\)./\1A/' "$T/k1.key" >"$T/bad.key"
[ "$(sed -n 3p "$T/bad.key")" != "$(sed -n 3p "$T/k1.key")" ] || sed -i '3s/^\(.\{60\}\)./\1B/' "$T/bad.key"
lw 1 evidence ev/car --from 1d --to 0s --reason x --out "$T/b3" --key "$T/bad.key"
err_has "is not a signing key"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM audit")" = "$n" ] || fail "a refused export was recorded"
[ -e "$T/b3" ] && fail "a refused export made its folder"
lw 3 evidence no/such --from 1d --to 0s --reason fishing --out "$T/b3" --key "$T/k1.key"
[ "$(sqlite3 "$DB" "SELECT device || '|' || reason FROM audit ORDER BY id DESC LIMIT 1")" = "no/such|fishing" ] ||
    fail "the attempt on an unknown vehicle was not recorded"
[ -e "$T/b3" ] && fail "an unknown vehicle made a folder"
# the audit record cannot be written: nothing is exported
sqlite3 "$DB" "CREATE TRIGGER no_more BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
lw 1 evidence ev/car --from 1d --to 0s --reason x --out "$T/b3" --key "$T/k1.key"
err_has "could not be recorded in the audit trail, so nothing was exported"
[ -e "$T/b3" ] && fail "an unrecorded export made its folder"
sqlite3 "$DB" "DROP TRIGGER no_more"

# ---- the key from the configuration; an empty folder that exists ----
printf '[privacy]\nsigning_key_file = %s\n' "$T/k2.key" >"$T/lw.conf"
mkdir "$T/b4"
lw 0 evidence --vin 9bwzzz377vt004251 --from 2026-11-23T00:00:00Z --to 2026-11-23T00:01:30Z \
    --reason 'second request' --out "$T/b4" --config "$T/lw.conf"
has "1 position"
run 0 "$L" evidence verify "$T/b4" --pubkey "$K2"
run 1 "$L" evidence verify "$T/b4" --pubkey "$K1"
# a folder given relative to where the command runs is recorded in full
(cd "$T" && lw_wrap "$L" --db "$DB" evidence ev/car --from 2026-11-23 --to 2026-11-23 \
    --reason 'third request' --out rel --key "$T/k1.key") >/dev/null 2>"$T/err" ||
    fail "relative --out: $(cat "$T/err")"
[ -f "$T/rel/MANIFEST" ] || fail "relative --out: no bundle in $T/rel"
sqlite3 "$DB" "SELECT detail FROM audit ORDER BY id DESC LIMIT 1" | grep -qF "bundle to $T/rel:" ||
    fail "relative --out recorded as $(sqlite3 "$DB" "SELECT detail FROM audit ORDER BY id DESC LIMIT 1")"
"$L" --db "$DB" audit verify >/dev/null || fail "the trail is not intact after the exports"

# ---- help ----
run 0 "$L" help evidence
for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES keygen verify \
         --pubkey MANIFEST "sha256sum -c" openssl; do has "$s"; done
say "ok"
