#!/usr/bin/python3
"""Compare the daemon's alerts (`lienwatch alerts --json` on stdin) with a
golden .chk file (see make_golden.py). Alerts marked "borderline" in the .chk
may be present or absent; every other expected alert must be there with the
same kind, device, fence, fix time and position (1e-6 degrees), and no
other alert may appear. Prints the differences; exits 1 on any.
"""
import json
import sys


def main():
    chk = sys.argv[1]
    want, optional = {}, set()
    for line in open(chk):
        if line.startswith("#") or not line.strip():
            continue
        f = line.rstrip("\n").split("\t")
        key = (f[0], f[1], f[2], f[3])
        want[key] = (float(f[4]), float(f[5]))
        if len(f) > 6 and f[6] == "borderline":
            optional.add(key)
    got = {}
    for a in json.load(sys.stdin):
        fix = a.get("fix") or {}
        key = (a["kind"], a["device"], a.get("geofence") or "", fix.get("fix_time", ""))
        got[key] = (fix.get("lat"), fix.get("lon"), a.get("late"))
    problems = []
    for key, (lat, lon) in sorted(want.items()):
        if key not in got:
            if key not in optional:
                problems.append("missing: %s" % "\t".join(key))
            continue
        glat, glon, late = got[key]
        if abs(glat - lat) > 1e-6 or abs(glon - lon) > 1e-6:
            problems.append("position differs: %s got %s,%s want %s,%s" % ("\t".join(key), glat, glon, lat, lon))
        if late:
            problems.append("late alert from an in-order replay: %s" % "\t".join(key))
    for key in sorted(set(got) - set(want)):
        problems.append("unexpected: %s" % "\t".join(key))
    for p in problems:
        print(p)
    print("%s: %d expected (%d borderline), %d raised, %d problems" % (
        chk, len(want), len(optional), len(got), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
