#!/bin/bash
# test_install: "make install DESTDIR=..." (make units for the prefix, then
# build-aux/install.sh on the current build, as the Makefile calls them):
#   - every file where it belongs, with its mode; the units made by make
#     from systemd/*.service.in name PREFIX and SYSCONFDIR; install.sh
#     refuses units made for other directories;
#   - the installed example config is --dump-config, every key in it, and
#     lienwatchd.conf(5) documents every key (and is up to date);
#   - the installed daemon runs from DESTDIR with the installed config
#     (database and broker port adjusted) and ingests one message: checked
#     in the database with sqlite3 and with the installed CLI;
#   - "man -l" renders every installed page without a warning;
#   - uninstall leaves only the edited config; a second round with the
#     config untouched leaves nothing.
source "$(dirname "$0")/../lib.sh"
lw_setup
[ -x "$BIN/lienwatchd" ] || fail "$BIN/lienwatchd not built"
[ -x "$BIN/lienwatch" ] || fail "$BIN/lienwatch not built (make install needs it)"
SLOW=1; [ "${LW_VALGRIND:-0}" = 1 ] && SLOW=6
# The broker has confirmed all three subscriptions (the daemon logs
# "subscribed to" when it sends SUBSCRIBE; a message published before the
# SUBACK may find no subscription yet). Needs -v (libmosquitto's debug log).
subacked() { [ "$(grep -c 'received SUBACK' "$1")" -ge 3 ]; }

D="$T/root"
INSTALL="$ROOT/build-aux/install.sh"
# the units of this prefix, as make install makes them (nothing else is
# built: the binaries are the current build's)
make -s -C "$ROOT" BUILD="$BUILD" PREFIX=/usr SYSCONFDIR=/etc units >"$T/units.log" 2>&1 ||
    fail "make units failed: $(cat "$T/units.log")"
grep -qx 'ExecStart=/usr/sbin/lienwatchd -c /etc/lienwatch/lienwatchd.conf' \
    "$ROOT/$BUILD/systemd/lienwatchd.service" || fail "make units: ExecStart not made for PREFIX=/usr"
# units made for /usr do not go into an install for /opt/lw
if "$INSTALL" install "$T/wrong" /opt/lw /etc "$BUILD" >"$T/wrong.log" 2>&1; then
    fail "install.sh installed units made for another PREFIX"
fi
grep -q "was made for other directories" "$T/wrong.log" || fail "wrong-prefix units: unclear error: $(cat "$T/wrong.log")"
[ ! -e "$T/wrong" ] || fail "a refused install left files: $(cd "$T/wrong" && find . -type f)"
"$INSTALL" install "$D" /usr /etc "$BUILD" >"$T/install.log" 2>&1 ||
    fail "install failed: $(cat "$T/install.log")"

# ---- files and modes
expect_file() { # PATH MODE
    [ -f "$D$1" ] || fail "not installed: $1"
    local m
    m=$(stat -c %a "$D$1")
    [ "$m" = "$2" ] || fail "$1 has mode $m, expected $2"
}
expect_file /usr/sbin/lienwatchd 755
expect_file /usr/bin/lienwatch 755
[ -x "$BIN/lw-gpsbridge" ] && expect_file /usr/sbin/lw-gpsbridge 755
expect_file /usr/lib/systemd/system/lienwatchd.service 644
expect_file /usr/lib/sysusers.d/lienwatch.conf 644
expect_file /usr/share/man/man8/lienwatchd.8 644
expect_file /usr/share/man/man1/lienwatch.1 644
expect_file /usr/share/man/man5/lienwatchd.conf.5 644
expect_file /usr/share/doc/lienwatch/mosquitto/mosquitto.conf 644
expect_file /usr/share/doc/lienwatch/mosquitto/aclfile 644
expect_file /usr/share/doc/lienwatch/deploy.md 644
expect_file /etc/lienwatch/lienwatchd.conf 640
say "installed: $(cd "$D" && find . -type f | sort | tr '\n' ' ')"

# Units: our binaries at PREFIX, config at SYSCONFDIR, and every Exec
# binary present (in DESTDIR for ours, on the host for /bin/kill).
for unit in "$D"/usr/lib/systemd/system/*.service; do
    grep -E '^Exec' "$unit" | while IFS= read -r line; do
        cmd=${line#*=}
        cmd=${cmd#[-@:+!]}
        cmd=${cmd%% *}
        case $cmd in
        /usr/sbin/lienwatchd | /usr/sbin/lw-gpsbridge | /usr/sbin/lienwatch-web) [ -x "$D$cmd" ] || fail "$unit: $cmd not installed" ;;
        /usr/local/*) fail "$unit still points at /usr/local: $line" ;;
        *) [ -x "$cmd" ] || fail "$unit: $cmd not on this host" ;;
        esac
    done || exit 1
done
grep -qx 'ExecStart=/usr/sbin/lienwatchd -c /etc/lienwatch/lienwatchd.conf' \
    "$D/usr/lib/systemd/system/lienwatchd.service" || fail "installed ExecStart not for PREFIX=/usr"

# ---- the example configuration
CONF="$D/etc/lienwatch/lienwatchd.conf"
"$D/usr/sbin/lienwatchd" --dump-config >"$T/dump.conf" || fail "installed daemon: --dump-config failed"
cmp -s "$T/dump.conf" "$CONF" || fail "installed config is not the --dump-config output"
"$D/usr/sbin/lienwatchd" --check-config -c "$CONF" >"$T/check.log" 2>&1 ||
    fail "the example config does not pass --check-config: $(cat "$T/check.log")"

# Every key of --dump-config is documented in the installed conf(5) page.
MANWIDTH=80 man -l "$D/usr/share/man/man5/lienwatchd.conf.5" 2>/dev/null >"$T/conf5.txt" ||
    fail "man -l lienwatchd.conf.5 failed"
keys=$(sed -nE 's/^[#;]?[[:space:]]*([a-z][a-z0-9_]*)[[:space:]]*=.*/\1/p' "$T/dump.conf")
[ "$(wc -w <<<"$keys")" -ge 20 ] || fail "too few keys in --dump-config: $keys"
for k in $keys; do
    grep -Eq "^ +$k = " "$T/conf5.txt" || fail "lienwatchd.conf(5) does not document key '$k'"
done
for s in $(sed -nE 's/^\[([a-z_]+)\].*/\1/p' "$T/dump.conf"); do
    grep -Eq "^ +\[$s\]" "$T/conf5.txt" || fail "lienwatchd.conf(5) lacks section [$s]"
done
"$ROOT/build-aux/gen-conf-man.sh" --check "$BIN/lienwatchd" >&2 ||
    fail "docs/man/lienwatchd.conf.5 is out of date: run build-aux/gen-conf-man.sh"
say "conf(5) documents all $(wc -w <<<"$keys") keys"

# ---- man pages
for page in "$D"/usr/share/man/man*/*; do
    MANWIDTH=80 man -l --warnings "$page" >"$T/page.txt" 2>"$T/page.err" ||
        fail "man -l $page failed: $(cat "$T/page.err")"
    [ ! -s "$T/page.err" ] || fail "man -l --warnings $page: $(cat "$T/page.err")"
    grep -q '^NAME' "$T/page.txt" || fail "$page has no NAME section"
    [ "$(wc -l <"$T/page.txt")" -gt 20 ] || fail "$page renders to almost nothing"
done
say "man pages render cleanly: $(cd "$D/usr/share/man" && echo man*/*)"

# ---- the installed daemon with the installed config
PORT=$(free_port)
start_mosquitto "$PORT"
mkdir -p "$T/state"
sed -i -E "s|^[#;]?[[:space:]]*db[[:space:]]*=.*|db = $T/state/lienwatch.db|;
           s|^[#;]?[[:space:]]*port[[:space:]]*=.*|port = $PORT|" "$CONF"
grep -qx "db = $T/state/lienwatch.db" "$CONF" && grep -qx "port = $PORT" "$CONF" ||
    fail "could not adjust db and port in the installed config"
"$D/usr/sbin/lienwatchd" --check-config -c "$CONF" >"$T/check.log" 2>&1 ||
    fail "adjusted config rejected: $(cat "$T/check.log")"

lw_wrap "$D/usr/sbin/lienwatchd" -c "$CONF" -v >"$T/daemon.log" 2>&1 &
DPID=$!
lw_track "$DPID"
wait_for $((10 * SLOW)) subacked "$T/daemon.log" ||
    fail "installed daemon did not subscribe: $(tail -5 "$T/daemon.log")"
TST=$(date +%s)
mosquitto_pub -p "$PORT" -q 1 -t owntracks/alice/phone \
    -m "{\"_type\":\"location\",\"lat\":41.1579,\"lon\":-8.6291,\"tst\":$TST,\"acc\":12}" ||
    fail "mosquitto_pub failed"
count() { sqlite3 "$T/state/lienwatch.db" "SELECT count(*) FROM fixes WHERE device = 'alice/phone'" 2>/dev/null; }
has_fix() { [ "$(count)" = 1 ]; }
wait_for $((10 * SLOW)) has_fix || fail "the fix was not stored: $(tail -5 "$T/daemon.log")"
row=$(sqlite3 "$T/state/lienwatch.db" "SELECT fix_time_ms, lat_deg, lon_deg FROM fixes WHERE device = 'alice/phone'")
[ "$row" = "$((TST * 1000))|41.1579|-8.6291" ] || fail "stored fix differs: $row"
"$D/usr/bin/lienwatch" --db "$T/state/lienwatch.db" locate alice/phone --json --reason 'install check' >"$T/locate.json" 2>"$T/locate.err" ||
    fail "installed CLI: locate failed: $(cat "$T/locate.err")"
$PY - "$T/locate.json" <<'PY' || fail "installed CLI: locate --json: $(cat "$T/locate.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["device"] == "alice/phone", j
assert abs(j["lat"] - 41.1579) < 1e-9 and abs(j["lon"] + 8.6291) < 1e-9, j
PY
stop_pid "$DPID" || true
say "installed daemon ingested the fix; installed CLI located it"

# ---- uninstall: only the edited config stays
"$INSTALL" uninstall "$D" /usr /etc "$BUILD" >"$T/uninstall.log" 2>&1 ||
    fail "uninstall failed: $(cat "$T/uninstall.log")"
left=$(cd "$D" && find . -mindepth 1 \( -type f -o -type l \) | sort)
[ "$left" = "./etc/lienwatch/lienwatchd.conf" ] || fail "uninstall left: $left"
grep -q "kept .*lienwatchd.conf" "$T/uninstall.log" || fail "uninstall did not say it kept the config"
dirs=$(cd "$D" && find . -mindepth 1 -type d | sort | tr '\n' ' ')
[ "$dirs" = "./etc ./etc/lienwatch " ] || fail "uninstall left directories: $dirs"

# An existing config survives a reinstall.
"$INSTALL" install "$D" /usr /etc "$BUILD" >"$T/install2.log" 2>&1 || fail "reinstall failed"
grep -qx "port = $PORT" "$CONF" || fail "reinstall overwrote the edited config"
"$INSTALL" uninstall "$D" /usr /etc "$BUILD" >/dev/null 2>&1 || fail "second uninstall failed"

# An untouched config goes with the rest.
rm -f "$CONF"
"$INSTALL" install "$D" /usr /etc "$BUILD" >/dev/null 2>&1 || fail "third install failed"
"$INSTALL" uninstall "$D" /usr /etc "$BUILD" >"$T/uninstall3.log" 2>&1 || fail "third uninstall failed"
left=$(cd "$D" && find . -mindepth 1 | sort)
[ -z "$left" ] || fail "uninstall of an untouched install left: $left"
say "ok: install, run from DESTDIR, man pages, uninstall"
