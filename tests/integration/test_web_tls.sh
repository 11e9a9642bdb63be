#!/bin/bash
# test_web_tls.sh - lienwatch-web's HTTPS and its refusal of plain HTTP off
# loopback: a self-signed certificate made here; curl verifies it (and the
# host name); the session cookie is Secure; a client that offers only TLS
# 1.1 is refused; a public address without TLS is refused at start with a
# message saying why, unless web.allow_plain_http = yes; a certificate
# without its key is a configuration error (exit 78).
. "$(dirname "$0")/../lib.sh"

W="$BIN/lienwatch-web"
L="$BIN/lienwatch"
[ -x "$W" ] || fail "$W not built"
command -v openssl >/dev/null || skip "openssl not installed"
command -v curl >/dev/null || skip "curl not installed"
lw_setup
DB="$T/lw.db"
"$L" init-db --db "$DB" >/dev/null
printf 'olga-secret-333\n' > "$T/pw"
"$L" --db "$DB" user add olga --role ops --password-file "$T/pw" >/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || fail "openssl req"
chmod 600 "$T/key.pem"

P=$(free_port)
"$W" --db "$DB" --listen "127.0.0.1:$P" --set web.certfile="$T/cert.pem" \
    --set web.keyfile="$T/key.pem" >"$T/web.log" 2>&1 &
lw_track $!
# (the socket listens before the server is ready: wait for its log line)
wait_for 10 grep -q "serving HTTPS" "$T/web.log" || fail "no HTTPS service: $(cat "$T/web.log")"

out=$(curl -sS --cacert "$T/cert.pem" "https://localhost:$P/config.json" \
    --resolve "localhost:$P:127.0.0.1") || fail "curl over HTTPS"
grep -q tile_url <<<"$out" || fail "config.json over HTTPS: $out"
hdr=$(curl -sS -D - -o /dev/null --cacert "$T/cert.pem" --resolve "localhost:$P:127.0.0.1" \
    -H 'Content-Type: application/json' \
    -d '{"username":"olga","password":"olga-secret-333"}' "https://localhost:$P/api/v1/session")
grep -qi '^set-cookie: lw_session=.*HttpOnly; SameSite=Strict; Secure' <<<"$hdr" ||
    fail "cookie not Secure under TLS: $hdr"
grep -qi '^strict-transport-security:' <<<"$hdr" || fail "no HSTS header under TLS"
# plain HTTP to the TLS port is no way in
curl -s -m 5 "http://127.0.0.1:$P/config.json" | grep -q tile_url &&
    fail "plain HTTP answered on the TLS port"
# an unverified certificate is refused by a verifying client (sanity)
curl -s -m 5 "https://localhost:$P/config.json" --resolve "localhost:$P:127.0.0.1" >/dev/null &&
    fail "curl accepted the self-signed certificate without --cacert"
# no TLS 1.1
curl -s -m 5 --cacert "$T/cert.pem" --tlsv1.1 --tls-max 1.1 --resolve "localhost:$P:127.0.0.1" \
    "https://localhost:$P/config.json" >/dev/null && fail "TLS 1.1 accepted"

# plain HTTP on a public address: refused at start, with the reason
P2=$(free_port)
rc=0
"$W" --db "$DB" --listen "0.0.0.0:$P2" >"$T/plain.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "plain HTTP on 0.0.0.0: exit $rc, wanted 1"
grep -q "refusing to serve plain HTTP on 0.0.0.0" "$T/plain.log" ||
    fail "no clear message: $(cat "$T/plain.log")"
grep -q "allow_plain_http" "$T/plain.log" || fail "the message does not name the way out"
# ... unless asked for explicitly
"$W" --db "$DB" --listen "0.0.0.0:$P2" --set web.allow_plain_http=yes >"$T/plain2.log" 2>&1 &
lw_track $!
wait_for 10 grep -q "serving HTTP " "$T/plain2.log" ||
    fail "allow_plain_http = yes did not start: $(cat "$T/plain2.log")"
# a certificate without its key is a configuration error
rc=0
"$W" --db "$DB" --set web.certfile="$T/cert.pem" >"$T/half.log" 2>&1 || rc=$?
[ "$rc" = 78 ] || fail "certfile without keyfile: exit $rc, wanted 78"
grep -q "web.certfile and web.keyfile go together" "$T/half.log" || fail "message: $(cat "$T/half.log")"
# --help and a bad option, as an operator types them
"$W" --help | grep -q -- "--listen HOST:PORT" || fail "--help"
rc=0; "$W" --bogus 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "bad option: exit $rc, wanted 2"
say "ok"
