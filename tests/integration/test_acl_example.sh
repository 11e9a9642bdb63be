#!/bin/bash
# test_acl_example: the example ACL file (docs/mosquitto/aclfile), as
# shipped, in a real mosquitto with passwords: a tracker writes its own
# devices' topics and reads their cmd topic; another user cannot write
# them; and a user whose name has two levels ("carol/phone") cannot write
# as device "phone" of user "carol", neither its position nor its TPV
# (with "owntracks/%u/#" it could: mosquitto puts the name in %u as it is).
source "$(dirname "$0")/../lib.sh"
lw_setup
command -v mosquitto_passwd >/dev/null || skip "mosquitto not installed"
PORT=$(free_port)
PW="$T/passwd"
touch "$PW"
chmod 0600 "$PW"
for u in lienwatchd:d carol:c carol/phone:cp bob:b; do
    mosquitto_passwd -b "$PW" "${u%%:*}" "${u#*:}" || fail "mosquitto_passwd $u"
done
cp "$ROOT/docs/mosquitto/aclfile" "$T/acl"
cat >"$T/m.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous false
password_file $PW
acl_file $T/acl
user $(id -un)
log_dest file $T/mosquitto.log
CONF
mosquitto -c "$T/m.conf" >"$T/m.out" 2>&1 &
lw_track $!
wait_for 10 port_open "$PORT" || fail "mosquitto did not start: $(cat "$T/m.out" "$T/mosquitto.log")"

# what the daemon's user reads (its subscriptions), and what carol's app reads
mosquitto_sub -p "$PORT" -u lienwatchd -P d -q 1 -v -t 'owntracks/+/+' \
    -t 'lienwatch/v1/fix/+' >"$T/daemon.sub" 2>&1 &
lw_track $!
mosquitto_sub -p "$PORT" -u carol -P c -q 1 -v -t 'owntracks/carol/phone/cmd' \
    >"$T/carol.sub" 2>&1 &
lw_track $!
sleep 1
pub() { mosquitto_pub -p "$PORT" -u "$1" -P "$2" -q 1 -t "$3" -m "$4"; }
pub carol c owntracks/carol/phone own-fix
pub 'carol/phone' cp owntracks/carol/phone forged-fix
pub 'carol/phone' cp lienwatch/v1/fix/carol forged-tpv
pub 'carol/phone' cp lienwatch/v1/fix/carol/phone forged-tpv2
pub bob b owntracks/carol/phone bob-fix
pub bob b lienwatch/v1/fix/bob bob-tpv
pub lienwatchd d owntracks/carol/phone/cmd locate-now
sleep 1
has() { grep -qx -- "$1" "$2"; }
has "owntracks/carol/phone own-fix" "$T/daemon.sub" || fail "carol's own fix did not arrive: $(cat "$T/daemon.sub")"
has "lienwatch/v1/fix/bob bob-tpv" "$T/daemon.sub" || fail "bob's own TPV did not arrive"
has "owntracks/carol/phone/cmd locate-now" "$T/carol.sub" || fail "carol did not get her cmd: $(cat "$T/carol.sub")"
# (a two-level user still reaches four-level topics such as
# owntracks/carol/phone/cmd: no pattern can tell it from carol's own
# sub-topics; the ACL file says never to create such users)
for forged in forged-fix forged-tpv forged-tpv2 bob-fix; do
    if grep -q -- " $forged\$" "$T/daemon.sub" "$T/carol.sub"; then
        fail "the broker let through '$forged': $(grep -h -- "$forged" "$T/daemon.sub" "$T/carol.sub")"
    fi
done
exit 0
