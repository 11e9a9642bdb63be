#!/usr/bin/python3
"""make_places_db.py - a database of watched vehicles with a long history,
for measuring what the daemon's places checks cost (tools/lw-watchbench).

    make_places_db.py DB [--vehicles 200] [--days 60] [--step-s 30]

DB must have been created by `lienwatch --db DB init-db`. Each vehicle
b/vNNN (account B-NNN, 45 days past due) sleeps at home (19:00-08:00 UTC)
and spends the day at work 10 km north, a fix every step-s seconds with
a few metres of jitter, for days days ending at 2026-11-30T02:59:30Z
(the bench feeds the fix of 03:00:30 that makes each vehicle's places be
computed again). Prints the rows written.
"""
import argparse
import sqlite3

START_END_MS = 1796007600000  # 2026-11-30T03:00:00Z
DAY_MS = 86400 * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--vehicles", type=int, default=200)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--step-s", type=int, default=30)
    a = ap.parse_args()
    end = START_END_MS - a.step_s * 1000
    start = START_END_MS - a.days * DAY_MS
    db = sqlite3.connect(a.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    total = 0
    for i in range(a.vehicles):
        dev = "b/v%03d" % i
        lat, lon = 40.0 + 0.05 * i, -8.0
        # home from 19:00 to 08:00 UTC, work 0.09 deg (10 km) north
        db.execute(
            "WITH RECURSIVE seq(t) AS (SELECT ?1 UNION ALL "
            "SELECT t + ?2 FROM seq WHERE t + ?2 <= ?3) "
            "INSERT INTO fix_history (device, fix_time_ms, recv_time_ms, "
            "lat_deg, lon_deg, speed_mps, accuracy_m) SELECT ?4, t, t + 1000, "
            "?5 + (CASE WHEN (t / 3600000) % 24 BETWEEN 8 AND 18 THEN 0.09 "
            "ELSE 0 END) + ((abs(random()) % 1000) - 500) * 1e-7, "
            "?6 + ((abs(random()) % 1000) - 500) * 1e-7, 0, 10 FROM seq",
            (start, a.step_s * 1000, end, dev, lat, lon))
        n = db.execute("SELECT changes()").fetchone()[0]
        total += n
        db.execute(
            "INSERT INTO devices (id, first_heard_ms, last_heard_ms, "
            "fix_count, last_fix_time_ms, last_recv_time_ms, last_lat_deg, "
            "last_lon_deg, last_speed_mps, last_accuracy_m) SELECT device, "
            "?2, fix_time_ms + 1000, ?3, fix_time_ms, recv_time_ms, lat_deg, "
            "lon_deg, speed_mps, accuracy_m FROM fix_history WHERE device = ?1 "
            "AND fix_time_ms = ?4", (dev, start, n, end))
        db.execute(
            "INSERT INTO accounts (id, days_past_due, status, updated_ms, "
            "source) VALUES (?1, 45, 'overdue', ?2, 'bench')",
            ("B-%03d" % i, start))
        db.execute(
            "INSERT INTO vehicles (device, account, registered_ms, "
            "updated_ms) VALUES (?1, ?2, ?3, ?3)", (dev, "B-%03d" % i, start))
        db.commit()
    print("%d fixes of %d vehicles" % (total, a.vehicles))


main()
