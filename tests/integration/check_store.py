#!/usr/bin/python3
"""Check what lienwatchd stored against what make_plan.py expects.

Usage: check_store.py LIENWATCH_CLI DB EXPECT [--no-rejects]
Through the agent CLI (as an agent would see it):
  - `history DEVICE --format json` of every device equals the expected fixes:
    same fix times, in order, same lat/lon (1e-7 degrees);
  - `locate DEVICE --json` is the newest fix by fix time that history does
    not flag suspect (a jump: it is not the last-known fix);
  - `stats --json`: stored equals the distinct fixes, rejected counts equal
    the expected reasons exactly (unless --no-rejects).
Prints one line per problem and exits 1 if there is any.
"""
import datetime
import json
import subprocess
import sys


def ms(iso):
    return int(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)


def cli(cli_path, db, *args):
    r = subprocess.run([cli_path, "--db", db, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return json.loads(r.stdout)


def main():
    cli_path, db, expect_path = sys.argv[1:4]
    no_rejects = "--no-rejects" in sys.argv
    exp = json.load(open(expect_path))
    problems = []
    total = 0
    for dev, fixes in exp["devices"].items():
        total += len(fixes)
        try:
            hist = cli(cli_path, db, "history", dev, "--format", "json",
                       "--reason", "ingest check")
        except RuntimeError as e:
            problems.append("%s: %s" % (dev, e))
            continue
        got = [(ms(h["fix_time"]), h["lat"], h["lon"]) for h in hist]
        if len(got) != len(fixes):
            problems.append("%s: %d fixes stored, %d expected" % (dev, len(got), len(fixes)))
        for g, (t, la, lo) in zip(got, fixes):
            if g[0] != t or abs(g[1] - la) > 1e-7 or abs(g[2] - lo) > 1e-7:
                problems.append("%s: got %s, expected %s" % (dev, g, (t, la, lo)))
                break
        loc = cli(cli_path, db, "locate", dev, "--json", "--reason",
                  "ingest check")
        sus = {ms(h["fix_time"]) for h in hist if h.get("suspect")}
        kept = [f for f in fixes if f[0] not in sus]
        t, la, lo = kept[-1] if kept else fixes[-1]
        if ms(loc["fix_time"]) != t or abs(loc["lat"] - la) > 1e-7 or abs(loc["lon"] - lo) > 1e-7:
            problems.append("%s: locate gives %s %s,%s; newest is %d %s,%s" % (
                dev, loc["fix_time"], loc["lat"], loc["lon"], t, la, lo))
    st = cli(cli_path, db, "stats", "--json")
    if st.get("stored") != total:
        problems.append("stats: stored=%s, expected %d distinct fixes" % (st.get("stored"), total))
    if not no_rejects and st.get("rejected", {}) != exp["rejected"]:
        problems.append("stats: rejected=%s, expected %s" % (st.get("rejected"), exp["rejected"]))
    for p in problems[:40]:
        print("PROBLEM:", p)
    print("checked %d devices, %d fixes; stats %s; %d problems" % (
        len(exp["devices"]), total, json.dumps(st, sort_keys=True), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
