#!/usr/bin/python3
"""smtp_server.py - a real SMTP server for lienwatch's mail tests (aiosmtpd).

Listens on 127.0.0.1:PORT and writes every accepted message to DIR as
NNNNNN.eml (the bytes received) with NNNNNN.json beside it (envelope: MAIL
FROM, RCPT TO, time). Files appear atomically (written, then renamed), the
.json last, so a reader that sees the .json sees the whole message.

It can be told to misbehave, per recipient:
  --reject5 ADDR      RCPT TO:<ADDR> gets "550 5.1.1 ... User unknown"
  --reject4 ADDR[:N]  RCPT TO:<ADDR> gets "451 4.3.0 ..." the first N times
                      (always when N is not given)
  --delay-data S      store the message, then wait S seconds before the
                      "250" to DATA (a client stopped meanwhile never hears
                      it was accepted: a repeat after its restart is right)
and secured:
  --tls CERT KEY      offer STARTTLS (and require it before MAIL)
  --auth USER:PASS    require AUTH PLAIN/LOGIN with these credentials

Runs until SIGTERM or SIGINT, then exits 0. Usage:
  smtp_server.py --port PORT --dir DIR [options]
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def log(msg):
    print("smtp_server: " + msg, file=sys.stderr, flush=True)


class Handler:
    def __init__(self, args):
        self.dir = args.dir
        self.reject5 = {a.lower() for a in args.reject5}
        self.reject4 = {}
        for spec in args.reject4:
            addr, _, n = spec.partition(":")
            self.reject4[addr.lower()] = int(n) if n else -1
        self.delay = args.delay_data
        # a restarted server goes on numbering in the same directory
        self.count = len([f for f in os.listdir(self.dir)
                          if f.endswith(".json")])

    async def handle_RCPT(self, server, session, envelope, address, options):
        a = address.lower()
        if a in self.reject5:
            log("RCPT %s: 550" % address)
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        left = self.reject4.get(a)
        if left is not None and left != 0:
            if left > 0:
                self.reject4[a] = left - 1
            log("RCPT %s: 451" % address)
            return "451 4.3.0 <%s>: Temporary failure, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.dir, "%06d" % self.count)
        data = envelope.original_content or envelope.content
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".eml.tmp", base + ".eml")
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                "time": time.time(), "peer": str(session.peer)}
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        log("stored %s.eml from %s to %s" % (base, envelope.mail_from,
                                             ",".join(envelope.rcpt_tos)))
        if self.delay:
            log("waiting %.1f s before answering DATA" % self.delay)
            await asyncio.sleep(self.delay)
        return "250 2.0.0 Ok: queued as %06d" % self.count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--reject5", action="append", default=[])
    ap.add_argument("--reject4", action="append", default=[])
    ap.add_argument("--delay-data", type=float, default=0.0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--auth", metavar="USER:PASS")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    kw = {}
    if args.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        kw.update(tls_context=ctx, require_starttls=True)
    if args.auth:
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == user
                  and auth_data.password.decode() == password)
            log("AUTH %s as %r: %s" % (mechanism, getattr(auth_data, "login", b""),
                                      "ok" if ok else "refused"))
            return AuthResult(success=ok, handled=False)

        kw.update(authenticator=authenticator, auth_required=True,
                  auth_require_tls=bool(args.tls))
    ctl = Controller(Handler(args), hostname="127.0.0.1", port=args.port,
                     decode_data=False, **kw)
    ctl.start()
    log("listening on 127.0.0.1:%d, writing to %s" % (args.port, args.dir))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    ctl.stop()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
