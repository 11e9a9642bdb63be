#!/usr/bin/python3
"""audit_chain.py - the audit chain re-implemented from its documentation
(include/lienwatch/audit.h, ARCHITECTURE.md "The audit trail"), as an auditor
without lienwatch would, with Python's hashlib and sqlite3.

    audit_chain.py verify DB            prints "intact N ID:HASH" and exits 0,
                                        or "bad ID" and exits 1
    audit_chain.py forge DB FROM_ID     recomputes every hash from record
                                        FROM_ID on (what a forger who changed
                                        a record would do); triggers must be
                                        dropped first

The encoding: SHA-256 over b"LWAUDIT1", the previous record's 32-byte hash
(zeros before the first), id and at_ms as 8-byte big-endian two's
complement, then twelve texts (who, action, device, reason, role, via,
as_name, os_detail, client, case_id, basis, detail), each a 4-byte
big-endian byte length and the UTF-8 bytes, NULL as FF FF FF FF alone.
"""
import hashlib
import sqlite3
import struct
import sys

TEXTS = ['who', 'action', 'device', 'reason', 'role', 'via', 'as_name',
         'os_detail', 'client', 'case_id', 'basis', 'detail']
SQL = 'SELECT id, at_ms, %s, hash FROM audit ORDER BY id' % ', '.join(TEXTS)


def text(v):
    if v is None:
        return b'\xff\xff\xff\xff'
    b = v.encode('utf-8') if isinstance(v, str) else bytes(v)
    return struct.pack('>I', len(b)) + b


def record_hash(prev, row):
    h = hashlib.sha256(b'LWAUDIT1' + prev)
    h.update(struct.pack('>q', row[0]) + struct.pack('>q', row[1]))
    for v in row[2:14]:
        h.update(text(v))
    return h.digest()


def verify(db):
    prev = bytes(32)
    n = 0
    last = (0, prev.hex())
    for row in db.execute(SQL):
        if record_hash(prev, row).hex() != row[14]:
            print('bad %d' % row[0])
            return 1
        prev = bytes.fromhex(row[14])
        last = (row[0], row[14])
        n += 1
    print('intact %d %d:%s' % (n, last[0], last[1]))
    return 0


def forge(db, first):
    prev = bytes(32)
    rows = db.execute(SQL).fetchall()
    for row in rows:
        if row[0] >= first:
            h = record_hash(prev, row).hex()
            db.execute('UPDATE audit SET hash = ? WHERE id = ?', (h, row[0]))
            prev = bytes.fromhex(h)
        else:
            prev = bytes.fromhex(row[14])
    db.commit()
    return 0


def main():
    db = sqlite3.connect(sys.argv[2])
    if sys.argv[1] == 'verify':
        return verify(db)
    if sys.argv[1] == 'forge':
        return forge(db, int(sys.argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main())
