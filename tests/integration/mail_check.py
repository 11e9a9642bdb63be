#!/usr/bin/python3
"""mail_check.py - reads what smtp_server.py stored and checks it with
Python's email package (an independent parser of RFC 5322, RFC 2047 and
quoted-printable).

  mail_check.py count DIR
      number of messages received (one per SMTP transaction)
  mail_check.py once DIR [--allow MSGID]...
      fails if a (Message-ID, recipient) pair arrived twice, except for the
      Message-IDs allowed (a send abandoned by a stop may repeat)
  mail_check.py msgids DIR
      every Message-ID received, one per line, with its recipients
  mail_check.py alert DIR MSGID [--rcpt ADDR]... [--from TEXT]
                [--subject-has TEXT]... [--has TEXT]...
      checks the mail(s) with this Message-ID: received once per listed
      recipient and by no one else, headers (Date within 10 minutes of now,
      From, To naming every recipient, Subject, MIME UTF-8 text/plain) and
      that the decoded text/plain part contains each TEXT
  mail_check.py devices DIR FILE
      every device id listed in FILE (one per line) is named as
      "device ID" in the text/plain part of some mail; prints how many
      mails were single alerts and how many digests
"""
import argparse
import email
import email.policy
import email.utils
import glob
import json
import os
import sys
import time


def fail(msg):
    print("mail_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def load(d):
    """[(envelope dict, parsed message, text/plain str)] in arrival order."""
    out = []
    for meta_path in sorted(glob.glob(os.path.join(d, "*.json"))):
        base = meta_path[:-len(".json")]
        with open(meta_path) as f:
            meta = json.load(f)
        with open(base + ".eml", "rb") as f:
            raw = f.read()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        text = text.replace("\r\n", "\n")
        meta["raw"] = raw
        out.append((meta, msg, text))
    return out


def cmd_count(a):
    print(len(load(a.dir)) if os.path.isdir(a.dir) else 0)


def cmd_once(a):
    seen = {}
    for meta, msg, _ in load(a.dir):
        for r in meta["rcpt_tos"]:
            key = (msg["Message-ID"], r.lower())
            seen[key] = seen.get(key, 0) + 1
    dups = {k: n for k, n in seen.items() if n > 1 and k[0] not in a.allow}
    if dups:
        fail("delivered more than once: %s" % dups)
    print("%d deliveries, each once" % len(seen))


def cmd_msgids(a):
    for meta, msg, _ in load(a.dir):
        print(msg["Message-ID"], ",".join(meta["rcpt_tos"]))


def cmd_alert(a):
    mails = [(m, msg, t) for m, msg, t in load(a.dir)
             if msg["Message-ID"] == a.msgid]
    if not mails:
        fail("no mail with Message-ID %s" % a.msgid)
    got = sorted(r.lower() for m, _, _ in mails for r in m["rcpt_tos"])
    want = sorted(r.lower() for r in a.rcpt)
    if a.rcpt and got != want:
        fail("%s went to %s, expected %s" % (a.msgid, got, want))
    for meta, msg, text in mails:
        raw = meta["raw"]
        if b"\n" in raw.replace(b"\r\n", b""):
            fail("bare LF in the message")
        for h in ("Date", "From", "To", "Subject", "Message-ID",
                  "MIME-Version", "Content-Type"):
            if msg[h] is None:
                fail("no %s header" % h)
        when = email.utils.parsedate_to_datetime(str(msg["Date"])).timestamp()
        if abs(when - time.time()) > 600:
            fail("Date %s is not now" % msg["Date"])
        if msg.get_content_type() != "text/plain" or \
                msg.get_content_charset() != "utf-8":
            fail("not text/plain UTF-8: %s" % msg["Content-Type"])
        if a.sender and a.sender not in str(msg["From"]):
            fail("From %r lacks %r" % (str(msg["From"]), a.sender))
        to = str(msg["To"]).lower()
        for r in a.rcpt:
            if r.lower() not in to:
                fail("To %r lacks %s" % (to, r))
        subject = str(msg["Subject"])
        for s in a.subject_has:
            if s not in subject:
                fail("Subject %r lacks %r" % (subject, s))
        for s in a.has:
            if s not in text:
                fail("text of %s lacks %r:\n%s" % (a.msgid, s, text))
    print("%s: %d deliveries ok, subject %r" % (a.msgid, len(got),
                                                str(mails[0][1]["Subject"])))


def cmd_devices(a):
    with open(a.file) as f:
        devices = [l.strip() for l in f if l.strip()]
    mails = load(a.dir)
    texts = [t for _, _, t in mails]
    missing = [d for d in devices
               if not any(("device %s\n" % d) in t or ("device %s " % d) in t
                          or ("device %s)" % d) in t for t in texts)]
    if missing:
        fail("%d devices named in no mail, e.g. %s" % (len(missing),
                                                       missing[:5]))
    digests = sum(1 for _, m, _ in mails if m["X-Lienwatch-Digest"])
    print("%d devices named in %d mails (%d single, %d digests)" % (
        len(devices), len(mails), len(mails) - digests, digests))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("count")
    p.add_argument("dir")
    p = sub.add_parser("once")
    p.add_argument("dir")
    p.add_argument("--allow", action="append", default=[])
    p = sub.add_parser("msgids")
    p.add_argument("dir")
    p = sub.add_parser("alert")
    p.add_argument("dir")
    p.add_argument("msgid")
    p.add_argument("--rcpt", action="append", default=[])
    p.add_argument("--from", dest="sender")
    p.add_argument("--subject-has", action="append", default=[])
    p.add_argument("--has", action="append", default=[])
    p = sub.add_parser("devices")
    p.add_argument("dir")
    p.add_argument("file")
    a = ap.parse_args()
    {"count": cmd_count, "once": cmd_once, "msgids": cmd_msgids,
     "alert": cmd_alert, "devices": cmd_devices}[a.cmd](a)


if __name__ == "__main__":
    main()
