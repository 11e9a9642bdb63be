#!/usr/bin/python3
"""tools/bench.py [BUILD] - the lienwatch ingest benchmark (`make bench`).

Not a test: it prints a table from one run on a private broker.
  1. the limit: lw-baresub, a bare QoS 1 subscriber that only counts, fed
     by lw-sim (flat out);
  2. lienwatchd with its default configuration (batched commits);
  3. lienwatchd committing every fix (store.commit_interval_ms=0);
  4. for each: ratio to the limit, the consumer's CPU seconds and peak RSS;
  5. RSS per vehicle with 100,000 vehicles reporting once each;
  6. lienwatchd batched again, with the alert engine at work: the
     simulated vehicles registered on overdue accounts (watched) and
     BENCH_FENCES (10,000) geofences in the database, generated here by
     tools/gen_fences.py (a 256-vertex keep_in region around the fleet
     for every vehicle, keep_out fences of other accounts where the fleet
     drives, keep_out fences for everyone over Portugal, Spain, Europe);
     compared with row 2 (no registry, no fences);
  7. backlog drain, each consumer's own ceiling: BENCH_DRAIN_RUNS (3) times
     each, M messages queued by the broker for the consumer's persistent
     session while it is away, then the consumer started and timed until
     it has received (lw-baresub) or durably stored (lienwatchd) them all,
     with only the broker beside it (no publisher competing for the CPU);
  8. alert latency: on the same database, with lw-sim as background load,
     tools/bench_latency.py takes BENCH_LAT_VEHICLES watched vehicles out
     of their keep_in region (two far fixes each: confirm_fixes = 2) and
     times each geofence_exit from the publish of its confirming fix to
     its arrival at a subscriber on lienwatch/v1/alert/# (p50/p90/p99/max).
  9. lienwatchd batched while thinning and purging: the same run on a
     database that also holds old history to thin (store.thin_after) and
     the history of paid-off accounts to purge (purge_after_payoff 0), both
     started with the run (store.retention_delay=0s), BENCH_RUNS times
     alternating with row 2; target: within 10 % of row 2's rate.
 10. lienwatch-web's read API on a large registry and ingest beside it
     (tools/bench_web.py: its own tables and targets).
 11. places for one vehicle's month (lw-placesbench: 30 days of a fix
     every 30 s, 11 runs, CPU and wall time); target: under 50 ms.

Rates are end to end: from the moment lw-sim starts publishing to the
moment the last message is received (limit) or the last fix is durably
committed, read from the database itself (the "stored" counter, which the
daemon commits in the same transaction as the fixes; checked against
count(*) of fixes at the end). Rows 1, 2 and 6 run BENCH_RUNS times,
alternating, and the table shows the median run. The three processes
(simulator, broker, consumer) saturate a 2-core machine, so single runs
vary by +-20 % with scheduling; besides the ratio of the medians, each
round's own ratio (the daemon's run against the limit measured just
before it) is printed, and a target counts as met only when both the
ratio of the medians and the median of the rounds' ratios reach it.

The broker is configured like docs/mosquitto/mosquitto.conf (queues sized
so nothing is dropped, persistence on, 500 in flight), without TLS/auth.
Everything - simulator, broker, consumer - shares this machine's cores, as
it would in a one-box deployment.

Environment: BENCH_MESSAGES (default 200000), BENCH_RUNS (default 5),
BENCH_VEHICLES (fleet for rows 1-3 and 6, default 1000), BENCH_CPF_MESSAGES
(commit-per-fix run, default BENCH_MESSAGES / 2), BENCH_BIG_FLEET (default
100000), BENCH_FENCES (default 10000), BENCH_DRAIN_RUNS (default 3),
BENCH_LAT_VEHICLES (vehicles taken out in the latency run, default 1000),
BENCH_LAT_RATE (of them per second, default 50), BENCH_LOAD_RATE
(background fixes/s during the latency run, default 1000),
BENCH_MAINT_DEVICES and BENCH_MAINT_FIXES (row 9: devices with old history
and devices paid off, default 100 each, with 5000 fixes each), KEEP=1 keeps
the temporary directory.

Progress goes to stderr, the table to stdout; the exit status is 1 when a
scenario did not finish or failed.
"""
import datetime
import getpass
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Optional

TOOLS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TOOLS)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import portclaim  # noqa: E402  (tests/portclaim.py: ports claimed machine-wide)

# Debian's Python, which has paho-mqtt for bench_latency.py (python3 on PATH
# may be another one)
PY = "/usr/bin/python3"

# lw-sim's default fleet centre (Porto); the latency run takes vehicles to
# Salamanca, Spain (about 250 km east, outside every generated fence)
CENTRE = "41.15,-8.61"
AWAY = "40.96,-5.66"
# Give up on one scenario after this long (a broken daemon must not hang
# `make bench`).
SCENARIO_TIMEOUT_S = 120
TARGET_RATIO = 0.9
# Ingest while thinning and purging, against the batched rate without them.
MAINT_RATIO = 0.9
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.1        # wait_for's period
STORED_POLL_S = 0.01  # the stored counter's
STOP_WAIT_S = 10    # SIGTERM, then SIGKILL after this long
BROKER_START_S = 10
DAEMON_SUBSCRIBE_S = 20
# The broker as docs/mosquitto/mosquitto.conf sets it up (queues that drop
# nothing, 500 in flight), after the test broker's own settings
# lw-baresub reports its peak RSS from getrusage(), which Linux carries
# over from the process that forked it (the old mm's high-water mark at
# exec): forked from this Python process it reported 70 MiB instead of 3.5.
# A small shell in between forks it afresh; the shell's own mark (about
# 1 MiB) is below the subscriber's.
OWN_RSS = ["/bin/sh", "-c", '"$@" & wait $!', "sh"]
BROKER_EXTRA = ["autosave_interval 300", "max_queued_messages 15300000",
                "max_queued_bytes 0", "max_inflight_messages 500"]


class Fail(Exception):
    """The benchmark cannot go on (message for the user)."""


@dataclass
class Config:
    """The run's sizes, from the environment (see the module comment)."""
    m: int
    runs: int
    vehicles: int
    cpf_m: int
    big: int
    fences: int
    drain_runs: int
    lat_k: int
    lat_rate: int
    load_rate: int
    maint_devices: int = 100  # row 7: devices with old history, and paid off
    maint_fixes: int = 5000   # ... fixes each

    @classmethod
    def from_env(cls):
        def num(name, default):
            v = os.environ.get(name, "")
            try:
                return int(v) if v != "" else default
            except ValueError:
                raise Fail("%s must be a whole number, not '%s'" % (name, v))
        m = num("BENCH_MESSAGES", 200000)
        return cls(m=m, runs=num("BENCH_RUNS", 5),
                   vehicles=num("BENCH_VEHICLES", 1000),
                   cpf_m=num("BENCH_CPF_MESSAGES", m // 2),
                   big=num("BENCH_BIG_FLEET", 100000),
                   fences=num("BENCH_FENCES", 10000),
                   drain_runs=num("BENCH_DRAIN_RUNS", 3),
                   lat_k=num("BENCH_LAT_VEHICLES", 1000),
                   lat_rate=num("BENCH_LAT_RATE", 50),
                   load_rate=num("BENCH_LOAD_RATE", 1000),
                   maint_devices=num("BENCH_MAINT_DEVICES", 100),
                   maint_fixes=num("BENCH_MAINT_FIXES", 5000))


@dataclass
class Run:
    """One measured run of a consumer: secs None when it did not finish."""
    secs: Optional[float]  # first publish to last received/committed
    cpu: str               # the consumer's CPU seconds
    kib: int               # its peak RSS (KiB)
    broker_cpu: str        # the broker's CPU seconds meanwhile
    sim_cpu: str           # lw-sim's CPU seconds
    got: int = 0           # fixes stored (daemon runs)
    thinned: int = 0       # old fixes thinning deleted meanwhile (row 7)
    purged: int = 0        # fixes of paid-off accounts purged meanwhile


# ---- numbers as the table prints them

def fmt_secs(secs):
    return "inf" if secs is None else "%.3f" % secs


def rate(m, secs):
    """Messages per second, rounded; 0 for a run that did not finish."""
    if secs is None:
        return 0
    return int("%.0f" % (m / secs if secs > 0 else 0))


def ratio(a, b):
    return "%.2f" % (a / b if b > 0 else 0)


def mib(kib):
    return "%.1f" % (kib / 1024)


def ticks_to_s(ticks):
    return "%.2f" % (ticks / CLK_TCK)


def median_str(values):
    """The lower median of decimal strings (the middle one when odd)."""
    s = sorted(values, key=float)
    return s[(len(s) + 1) // 2 - 1]


def pick_median(runs):
    """The median run by duration (a run that did not finish is longest)."""
    s = sorted(runs, key=lambda r: (float("inf") if r.secs is None
                                    else r.secs))
    return s[(len(s) + 1) // 2 - 1]


def round_ratios(limits, runs):
    """Each round's ratio to the limit run of the same round (durations:
    limit seconds / daemon seconds); "0.00" for a run that did not finish."""
    out = []
    for lim, run in zip(limits, runs):
        if run.secs is None or run.secs <= 0:
            out.append("0.00")
        else:
            out.append("%.2f" % (lim.secs / run.secs))
    return out


def kv(key, line):
    """The value of KEY=value in a key=value line ("" when absent)."""
    for word in (line or "").split():
        if word.startswith(key + "="):
            return word[len(key) + 1:]
    return ""


def now_ms():
    return int(time.time() * 1000)


def cpu_ticks(pid):
    """utime + stime of a live process in clock ticks (0 when it is gone:
    a crashed daemon still gets its table row)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def vm(key, pid):
    """A /proc/PID/status size (VmRSS, VmHWM) in KiB; 0 when gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def last_line(path):
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def note(msg):
    print(msg, file=sys.stderr, flush=True)


class Bench:
    """One benchmark run: its temporary directory, broker and processes."""

    def __init__(self, build, cfg):
        self.cfg = cfg
        self.bin = os.path.join(ROOT, build, "bin")
        self.tmp = tempfile.mkdtemp(prefix="lw-test.",
                                    dir=os.environ.get("TMPDIR", "/tmp"))
        self.procs = []      # started and not yet stopped
        self.dnf = 0         # scenarios that did not finish or failed
        self.port = None
        self.mosq = None
        self.fdb = self.t("registry.db")
        self.n_veh = None

    def t(self, name):
        return os.path.join(self.tmp, name)

    def exe(self, name):
        return os.path.join(self.bin, name)

    # ---- processes

    def start(self, argv, out, err=None, mode="wb"):
        """Starts argv in a process group of its own with stdout to file
        out (stderr to err, or out too; mode "ab" appends); the group is
        stopped at the end if still running."""
        o = open(out, mode)
        e = open(err, mode) if err else subprocess.STDOUT
        try:
            p = subprocess.Popen(argv, stdout=o, stderr=e,
                                 stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        finally:
            o.close()
            if err:
                e.close()
        self.procs.append(p)
        return p

    @staticmethod
    def signal_group(p, sig):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, p, sig=signal.SIGTERM):
        """Signals p's group, waits up to STOP_WAIT_S for p, then SIGKILL."""
        if p.poll() is None:
            self.signal_group(p, sig)
            try:
                p.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.signal_group(p, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def wait_done(self, p):
        """Waits for p to exit by itself; returns its exit status."""
        rc = p.wait()
        if p in self.procs:
            self.procs.remove(p)
        return rc

    def cleanup(self):
        for p in self.procs:
            self.signal_group(p, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                self.signal_group(p, signal.SIGKILL)
                p.wait()
        self.procs = []
        portclaim.release(os.getpid())
        if os.environ.get("KEEP", "0") == "1":
            note("bench: kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def wait_for(seconds, pred):
        """Polls pred every POLL_S until it is true; False after seconds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(POLL_S)
        return False

    @staticmethod
    def file_has(path, text, start=False):
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    if (line.rstrip("\n") == text) if start else (text in line):
                        return True
        except OSError:
            pass
        return False

    # ---- the broker

    def port_open(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 1).close()
            return True
        except OSError:
            return False

    def start_broker(self):
        """A private mosquitto with persistence, configured as tests/lib.sh's
        start_mosquitto plus BROKER_EXTRA."""
        self.port = portclaim.claim(os.getpid())
        d = self.t("mosq-%d" % self.port)
        os.makedirs(d)
        conf = os.path.join(d, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "listener %d 127.0.0.1" % self.port,
                "allow_anonymous true",
                "persistence true",
                "persistence_location %s/" % d,
                "autosave_interval 1",
                "max_queued_messages 1000000",
                "max_inflight_messages 0",
                "user %s" % getpass.getuser(),
                "log_dest file %s/mosquitto.log" % d,
                "log_type error",
                "log_type warning",
                "log_type notice",
            ] + BROKER_EXTRA) + "\n")
        self.mosq = self.start(["mosquitto", "-c", conf],
                               os.path.join(d, "stdout.log"), mode="ab")
        if not self.wait_for(BROKER_START_S, self.port_open):
            raise Fail("mosquitto did not start on %d (see %s/mosquitto.log)"
                       % (self.port, d))

    def broker_since(self, ticks):
        return ticks_to_s(cpu_ticks(self.mosq.pid) - ticks)

    def end_session(self, client_id):
        """A session with clean session off outlives its client and would
        keep queueing copies of later scenarios' messages: connect once with
        the same id and a clean session to end it."""
        subprocess.run(["mosquitto_sub", "-p", str(self.port), "-i", client_id,
                        "-t", "lienwatch-bench/none", "-E"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def make_session(self, client_id, what):
        """Creates client_id's persistent QoS 1 session on owntracks/+/+."""
        r = subprocess.run(["mosquitto_sub", "-p", str(self.port), "-i",
                            client_id, "-c", "-q", "1", "-t", "owntracks/+/+",
                            "-E"])
        if r.returncode != 0:
            raise Fail(what)

    # ---- the load and the limit

    def sim_argv(self, n, m, prefix):
        return [self.exe("lw-sim"), "--port", str(self.port), "-n", str(n),
                "-c", str(m), "--rate", "0", "--seed", "1", "--topic-prefix",
                prefix, "--timeout", "120", "-q"]

    def sim_start(self, n, m, prefix):
        """lw-sim flat out, in the background; finish with sim_end."""
        p = subprocess.Popen(self.sim_argv(n, m, prefix),
                             stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def sim_end(self, p):
        """Waits for lw-sim; returns its summary line."""
        out, _ = p.communicate()
        self.procs.remove(p)
        if p.returncode != 0:
            raise Fail("lw-sim did not get every PUBACK")
        lines = [l for l in out.splitlines() if l.strip()]
        return lines[-1] if lines else ""

    def sim(self, n, m, prefix):
        return self.sim_end(self.sim_start(n, m, prefix))

    def run_limit(self, r):
        """The bare subscriber fed by lw-sim: one Run."""
        out, err = self.t("limit%d.out" % r), self.t("limit%d.err" % r)
        p = self.start(OWN_RSS + [
            self.exe("lw-baresub"), "--port", str(self.port), "--topic",
            "owntracks/+/+", "--client-id", "lw-bench-sub", "--count",
            str(self.cfg.m), "--timeout", str(SCENARIO_TIMEOUT_S), "-q"],
            out, err)
        if not self.wait_for(10, lambda: self.file_has(out, "ready", True)):
            raise Fail("lw-baresub did not subscribe: %s" % open(err).read())
        b0 = cpu_ticks(self.mosq.pid)
        t0 = now_ms()
        line = self.sim(self.cfg.vehicles, self.cfg.m, "owntracks/bench")
        sim_cpu = kv("cpu_s", line)
        if self.wait_done(p) != 0:
            raise Fail("lw-baresub got %s" % last_line(out))
        broker_cpu = self.broker_since(b0)
        self.end_session("lw-bench-sub")
        line = last_line(out)
        return Run(secs=(int(kv("last_ms", line)) - t0) / 1000,
                   cpu=kv("cpu_s", line), kib=int(kv("maxrss_kib", line)),
                   broker_cpu=broker_cpu, sim_cpu=sim_cpu)

    # ---- lienwatchd

    def stored(self, db, want, limit_s=SCENARIO_TIMEOUT_S):
        """Polls the committed "stored" counter every STORED_POLL_S until it
        reaches want; returns (wall-clock ms when it did or None, count).
        One open connection, so polling costs next to nothing."""
        end = time.time() + limit_s
        got = 0
        con = None
        try:
            while time.time() < end:
                try:
                    if con is None:
                        con = sqlite3.connect("file:%s?mode=ro" % db,
                                              uri=True, timeout=5)
                    row = con.execute("SELECT value FROM counters "
                                      "WHERE name = 'stored'").fetchone()
                    got = row[0] if row else 0
                except sqlite3.OperationalError:
                    pass  # not created yet, schema not there yet, or busy
                if got >= want:
                    return now_ms(), got
                time.sleep(STORED_POLL_S)
            return None, got
        finally:
            if con is not None:
                con.close()

    def start_daemon(self, name, *args):
        """lienwatchd on a fresh database (unless the caller put one there)
        T/NAME.db. The daemon's persistent session (client id lienwatchd,
        clean session off, owntracks/+/+ at QoS 1) is created first, as it
        exists in a deployment: the broker queues from that moment, so no
        message can slip past before the daemon's own SUBACK (it logs
        "subscribed to" when it sends SUBSCRIBE)."""
        self.make_session("lienwatchd", "could not create the daemon's session")
        log = self.t(name + ".log")
        p = self.start([self.exe("lienwatchd"), "--db", self.t(name + ".db"),
                        "--mqtt-host", "127.0.0.1", "--mqtt-port",
                        str(self.port)] + list(args), log)
        if not self.wait_for(DAEMON_SUBSCRIBE_S, lambda: self.file_has(
                log, "subscribed to owntracks")):
            raise Fail("lienwatchd did not subscribe: %s" % tail(log, 5))
        return p

    def check_db(self, db, n, like=None):
        """Every fix there exactly once (of the devices whose id is LIKE
        like, when given)."""
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            if like:
                got = con.execute("SELECT count(*) FROM fixes WHERE device "
                                  "LIKE ?", (like,)).fetchone()[0]
            else:
                got = con.execute("SELECT count(*) FROM fixes").fetchone()[0]
        finally:
            con.close()
        if got != n:
            raise Fail("%s: %d fixes in the table, expected %d" % (db, got, n))

    def run_daemon(self, name, m, n, *args, prefix=None, like=None):
        """One ingest run of lienwatchd on T/NAME.db; lw-sim publishes on
        owntracks/NAME unless prefix says otherwise. Returns (Run, RSS idle
        KiB, RSS after KiB)."""
        prefix = prefix or "owntracks/" + name
        d = self.start_daemon(name, *args)
        time.sleep(0.5)
        rss0 = vm("VmRSS", d.pid)
        c0 = cpu_ticks(d.pid)
        b0 = cpu_ticks(self.mosq.pid)
        t0 = now_ms()
        sim = self.sim_start(n, m, prefix)
        try:
            t1, got = self.stored(self.t(name + ".db"), m)
        finally:
            line = self.sim_end(sim)
        sim_cpu = kv("cpu_s", line)
        if t1 is None:
            self.dnf += 1
            note("  %s: only %d of %d fixes stored after %d s; lienwatchd used "
                 "%s s CPU" % (name, got, m, SCENARIO_TIMEOUT_S,
                               ticks_to_s(cpu_ticks(d.pid) - c0)))
        else:
            got = m
        c1 = cpu_ticks(d.pid)
        broker_cpu = self.broker_since(b0)
        hwm = vm("VmHWM", d.pid)
        rss1 = vm("VmRSS", d.pid)
        self.stop(d)
        log = self.t(name + ".log")
        if not self.file_has(log, "stopped: received"):
            note("  %s: lienwatchd did not stop cleanly on SIGTERM: %s"
                 % (name, tail(log, 2)))
        self.end_session("lienwatchd")
        secs = None
        if t1 is not None:
            self.check_db(self.t(name + ".db"), m, like)
            secs = (t1 - t0) / 1000
        return (Run(secs=secs, cpu=ticks_to_s(c1 - c0), kib=hwm,
                    broker_cpu=broker_cpu, sim_cpu=sim_cpu, got=got),
                rss0, rss1)

    # ---- the registry of rows 6 and 7, built once with the CLI as
    # operations staff would, then copied for each run

    def reg(self, *args):
        """The lienwatch CLI on the template database, quiet; False when it
        failed (its message in registry.err)."""
        with open(self.t("registry.err"), "ab") as err:
            return subprocess.run([self.exe("lienwatch"), "--db", self.fdb,
                                   "--as", "bench"] + list(args),
                                  stdout=subprocess.DEVNULL,
                                  stderr=err).returncode == 0

    def copy_registry(self, db):
        """A fresh copy of the template (VACUUM INTO: consistent even if a
        WAL were left behind)."""
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(db + suffix)
            except FileNotFoundError:
                pass
        con = sqlite3.connect(self.fdb)
        try:
            con.execute("VACUUM INTO ?", (db,))
        except sqlite3.Error as e:
            raise Fail("cannot copy %s to %s: %s" % (self.fdb, db, e))
        finally:
            con.close()

    @staticmethod
    def alert_counts(db):
        """"kind=n ..." of the alerts a run raised, or "none"."""
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            row = con.execute(
                "SELECT group_concat(kind || '=' || n, ' ') FROM "
                "(SELECT kind, count(*) AS n FROM alerts GROUP BY kind)"
            ).fetchone()
        finally:
            con.close()
        return row[0] if row and row[0] else "none"

    def build_registry(self):
        cfg = self.cfg
        t0 = now_ms()
        err = self.t("registry.err")
        if not self.reg("init-db"):
            raise Fail("init-db failed: %s" % open(err).read())
        # accounts: one per vehicle, 45 days past due (watched); the other
        # accounts that some fences belong to are current
        csv = self.t("accounts.csv")
        with open(csv, "w") as f:
            f.write("account,days_past_due,status\n")
            for i in range(1, cfg.vehicles + 1):
                f.write("ACC-F%05d,45,overdue\n" % i)
            for i in range(1, cfg.lat_k + 1):
                f.write("ACC-L%05d,45,overdue\n" % i)
            for i in range(1, 10):
                f.write("ACC-OTHER-%d,0,current\n" % i)
        if not self.reg("account", "import", csv):
            raise Fail("account import failed: %s" % open(err).read())
        manifest = self.t("fences.manifest")
        with open(manifest, "w") as out:
            r = subprocess.run([PY, os.path.join(TOOLS,
                                "gen_fences.py"), "--out", self.t("fences"),
                                "--total", str(cfg.fences), "--centre", CENTRE,
                                "--exclude", AWAY + ",30"], stdout=out)
        if r.returncode != 0:
            raise Fail("gen_fences.py failed")
        with open(manifest) as f:
            for line in f:
                path, kind, acct = line.rstrip("\n").split("\t")
                args = ["geofence", "import", path, "--kind", kind]
                if acct != "-":
                    args += ["--account", acct]
                if not self.reg(*args):
                    raise Fail("geofence import %s failed: %s"
                               % (path, tail(err, 3)))
        # the simulated fleet (lw-sim on owntracks/fx: devices fx/car00001...)
        # and the vehicles of the latency run (lat/v00001...)
        for i in range(1, cfg.vehicles + 1):
            i5 = "%05d" % i
            if not self.reg("vehicle", "set", "fx/car" + i5, "--account",
                            "ACC-F" + i5, "--plate", "BF-" + i5, "--vin",
                            "WBENCHF0000" + i5, "--description",
                            "bench fleet car %d" % i):
                raise Fail("vehicle set failed: %s" % tail(err, 3))
        for i in range(1, cfg.lat_k + 1):
            i5 = "%05d" % i
            if not self.reg("vehicle", "set", "lat/v" + i5, "--account",
                            "ACC-L" + i5, "--plate", "BL-" + i5, "--vin",
                            "WBENCHL0000" + i5):
                raise Fail("vehicle set failed: %s" % tail(err, 3))
        con = sqlite3.connect("file:%s?mode=ro" % self.fdb, uri=True)
        try:
            n_fences, self.n_veh, n_acc = con.execute(
                "SELECT (SELECT count(*) FROM geofences), "
                "(SELECT count(*) FROM vehicles), "
                "(SELECT count(*) FROM accounts)").fetchone()
        finally:
            con.close()
        if n_fences != cfg.fences:
            raise Fail("%d geofences stored, expected %d"
                       % (n_fences, cfg.fences))
        note("  registry: %d geofences, %d vehicles, %d accounts, built with "
             "the CLI in %.1f s" % (n_fences, self.n_veh, n_acc,
                                     (now_ms() - t0) / 1000))

    def registry_loaded(self, name):
        """The daemon of run NAME logged the whole registry."""
        return self.file_has(self.t(name + ".log"), "registry: %d geofences, "
                             "%d vehicles" % (self.cfg.fences, self.n_veh))

    # ---- backlog drain: M messages queued for an absent consumer, then
    # drained

    def drain_fill(self, client_id):
        """Creates client_id's persistent session and has lw-sim publish M
        messages to it (the broker queues them: nobody is connected)."""
        self.make_session(client_id, "could not create the session "
                          + client_id)
        self.sim(self.cfg.vehicles, self.cfg.m, "owntracks/drain")

    def run_drain_limit(self):
        """Returns (secs, consumer CPU, broker CPU) of lw-baresub."""
        out, err = self.t("drainl.out"), self.t("drainl.err")
        self.drain_fill("lw-bench-drain")
        b0 = cpu_ticks(self.mosq.pid)
        t0 = now_ms()
        with open(out, "w") as o, open(err, "w") as e:
            r = subprocess.run(OWN_RSS + [self.exe("lw-baresub"), "--port",
                                str(self.port), "--topic", "owntracks/+/+",
                                "--client-id", "lw-bench-drain", "--count",
                                str(self.cfg.m), "--timeout",
                                str(SCENARIO_TIMEOUT_S), "-q"],
                               stdout=o, stderr=e)
        if r.returncode != 0:
            raise Fail("lw-baresub drained only: %s" % last_line(out))
        broker_cpu = self.broker_since(b0)
        self.end_session("lw-bench-drain")
        line = last_line(out)
        return ((int(kv("last_ms", line)) - t0) / 1000, kv("cpu_s", line),
                broker_cpu)

    def run_drain_daemon(self, r):
        """Returns (secs or None, consumer CPU, broker CPU) of lienwatchd."""
        name = "drain%d" % r
        m = self.cfg.m
        self.drain_fill("lienwatchd")
        b0 = cpu_ticks(self.mosq.pid)
        t0 = now_ms()
        d = self.start([self.exe("lienwatchd"), "--db", self.t(name + ".db"),
                        "--mqtt-host", "127.0.0.1", "--mqtt-port",
                        str(self.port)], self.t(name + ".log"))
        t1, got = self.stored(self.t(name + ".db"), m)
        if t1 is not None:
            secs = (t1 - t0) / 1000
        else:
            secs = None
            self.dnf += 1
            note("  %s: only %d of %d fixes stored after %d s"
                 % (name, got, m, SCENARIO_TIMEOUT_S))
        cpu = ticks_to_s(cpu_ticks(d.pid))
        broker_cpu = self.broker_since(b0)
        self.stop(d)
        self.end_session("lienwatchd")
        if secs is not None:
            self.check_db(self.t(name + ".db"), m)
        return secs, cpu, broker_cpu

    # ---- alert latency under background load, on the 10,000-fence registry

    def run_latency(self):
        cfg = self.cfg
        load_s = int(cfg.lat_k / cfg.lat_rate + 40)
        note("  alert latency: %d vehicles taken out of their region at "
             "~%d/s, background %d fixes/s from %d watched vehicles"
             % (cfg.lat_k, cfg.lat_rate, cfg.load_rate, cfg.vehicles))
        db = self.t("latency.db")
        self.copy_registry(db)
        d = self.start_daemon("latency")
        if not self.wait_for(10, lambda: self.registry_loaded("latency")):
            raise Fail("latency: lienwatchd did not load the registry: %s"
                       % grep_tail(self.t("latency.log"), "registry:", 2))
        c0 = cpu_ticks(d.pid)
        b0 = cpu_ticks(self.mosq.pid)
        load = self.start([self.exe("lw-sim"), "--port", str(self.port),
                           "-n", str(cfg.vehicles), "--rate",
                           str(cfg.load_rate), "-d", str(load_s), "--seed",
                           "2", "--topic-prefix", "owntracks/fx", "--timeout",
                           "30", "-q"], self.t("load.out"), self.t("load.err"))
        time.sleep(2)  # the load is running before the first measured fix
        with open(self.t("latency.out"), "w") as o, \
                open(self.t("latency.err"), "w") as e:
            lat_rc = subprocess.run(
                [PY, os.path.join(TOOLS, "bench_latency.py"),
                 "--port", str(self.port), "--vehicles", str(cfg.lat_k),
                 "--rate", str(cfg.lat_rate), "--prefix", "lat", "--home",
                 CENTRE, "--away", AWAY, "--timeout", "30"],
                stdout=o, stderr=e).returncode
        # the load has run through the whole measurement: stop it, let the
        # daemon store what it got, and check that it kept up
        self.stop(load)
        load_line = last_line(self.t("load.out"))
        load_sent = kv("acked", load_line)
        load_secs = kv("seconds", load_line)
        d_cpu = ticks_to_s(cpu_ticks(d.pid) - c0)
        b_cpu = self.broker_since(b0)
        want = int(load_sent or 0) + 3 * cfg.lat_k
        t1, _ = self.stored(db, want)
        if t1 is not None:
            kept_up = "yes, all %d fixes stored" % want
        else:
            kept_up = "NO: fewer than %d fixes stored" % want
            self.dnf += 1
        self.stop(d)
        self.end_session("lienwatchd")
        lat_line = last_line(self.t("latency.out"))
        if not lat_line:
            raise Fail("bench_latency.py printed nothing: %s"
                       % tail(self.t("latency.err"), 5))
        note("  alert latency: " + lat_line)
        return dict(rc=lat_rc, line=lat_line, load_sent=load_sent,
                    load_secs=load_secs, d_cpu=d_cpu, b_cpu=b_cpu,
                    kept_up=kept_up, alerts=self.alert_counts(db))

    # ---- the whole benchmark

    def check_setup(self):
        for b in ("lienwatchd", "lienwatch", "lw-sim", "lw-baresub"):
            if not os.access(self.exe(b), os.X_OK):
                raise Fail("missing %s: build first (make)" % self.exe(b))
        if shutil.which("mosquitto") is None:
            raise Fail("mosquitto not installed (make deps)")
        if subprocess.run([PY, "-c", "import paho.mqtt.client"],
                          stderr=subprocess.DEVNULL).returncode != 0:
            raise Fail("python3-paho-mqtt not installed (make deps)")

    # ---- row 7: ingest while thinning and purging run

    def build_maint(self):
        """The template of the maintenance rows: BENCH_MAINT_DEVICES
        devices with BENCH_MAINT_FIXES old fixes each (120 days ago, one a
        minute, 30 min driving then 2 h parked, again and again), for
        thinning; as many again whose accounts were paid off long ago, for
        the purge. Written with sqlite3 directly (the schema is the
        daemon's, from 'lienwatch init-db')."""
        cfg = self.cfg
        self.mdb = self.t("maint-template.db")
        subprocess.run([self.exe("lienwatch"), "init-db", "--db", self.mdb],
                       check=True, stdout=subprocess.DEVNULL)
        now = now_ms()
        start = now - 120 * 86400 * 1000
        con = sqlite3.connect(self.mdb)
        try:
            for kind in ("old", "paid"):
                for d in range(cfg.maint_devices):
                    dev = "%s/%05d" % (kind, d)
                    lat, rows = 41.0 + d * 1e-3, []
                    for i in range(cfg.maint_fixes):
                        if i % 150 < 30:  # driving
                            lat += 5e-4
                        rows.append((dev, start + i * 60000,
                                     start + i * 60000 + 1000, lat, -8.6))
                    con.executemany(
                        "INSERT INTO fix_history (device, fix_time_ms, "
                        "recv_time_ms, lat_deg, lon_deg) VALUES "
                        "(?, ?, ?, ?, ?)", rows)
                    last = rows[-1]
                    con.execute(
                        "INSERT INTO devices (id, first_heard_ms, "
                        "last_heard_ms, fix_count, last_fix_time_ms, "
                        "last_recv_time_ms, last_lat_deg, last_lon_deg) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (dev, start, last[2], len(rows), last[1], last[2],
                         last[3], last[4]))
                    if kind == "paid":
                        con.execute(
                            "INSERT INTO purges (device, account, reason, "
                            "requested_ms) VALUES (?, ?, 'paid_off', ?)",
                            (dev, "ACC-%05d" % d, now - 86400 * 1000))
            con.commit()
        finally:
            con.close()
        self.maint_rows = self.history_counts(self.mdb)

    @staticmethod
    def history_counts(db):
        """(fixes of old/..., fixes of paid/...) in history."""
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        try:
            return tuple(con.execute(
                "SELECT count(*) FROM fix_history WHERE device >= ? AND "
                "device < ?", (lo, hi)).fetchone()[0]
                for lo, hi in (("old/", "old0"), ("paid/", "paid0")))
        finally:
            con.close()

    def run_maint(self, r):
        """lienwatchd batched on a copy of the maintenance template with
        thinning and the purge starting at once: one Run, and the fixes
        thinning and the purge deleted while it ran."""
        cfg = self.cfg
        name = "maint%d" % r
        db = self.t(name + ".db")
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(db + suffix)
            except FileNotFoundError:
                pass
        shutil.copyfile(self.mdb, db)
        run, _, _ = self.run_daemon(
            name, cfg.m, cfg.vehicles, "--set", "store.retention_delay=0s",
            "--set", "store.thin_after=90d", "--set",
            "privacy.purge_after_payoff=0", prefix="owntracks/mt",
            like="mt/%")
        old, paid = self.history_counts(db)
        run.thinned = self.maint_rows[0] - old
        run.purged = self.maint_rows[1] - paid
        return run

    def rounds(self, res):
        """Rows 1, 2 and 6: RUNS rounds of the limit, the batched daemon and
        the batched daemon with the registry, alternating."""
        cfg = self.cfg
        for r in range(1, cfg.runs + 1):
            lim = self.run_limit(r)
            note("  run %d: bare subscriber %d msgs/s (%s s; lw-sim used %s s "
                 "CPU)" % (r, rate(cfg.m, lim.secs), fmt_secs(lim.secs),
                           lim.sim_cpu))
            res.limits.append(lim)
            b, _, _ = self.run_daemon("batch%d" % r, cfg.m, cfg.vehicles)
            note("  run %d: lienwatchd batched %d fixes/s stored (%s s)"
                 % (r, rate(cfg.m, b.secs), fmt_secs(b.secs)))
            res.batches.append(b)
            mt = self.run_maint(r)
            note("  run %d: lienwatchd batched while thinning and purging: "
                 "%d fixes/s stored (%s s; %d old fixes thinned, %d purged "
                 "meanwhile)" % (r, rate(cfg.m, mt.secs), fmt_secs(mt.secs),
                                 mt.thinned, mt.purged))
            res.maint.append(mt)
            name = "fence%d" % r
            self.copy_registry(self.t(name + ".db"))
            f, _, _ = self.run_daemon(name, cfg.m, cfg.vehicles,
                                      prefix="owntracks/fx")
            if not self.registry_loaded(name):
                raise Fail("%s: lienwatchd did not load the registry: %s"
                           % (name, grep_tail(self.t(name + ".log"),
                                              "registry:", 2)))
            counts = self.alert_counts(self.t(name + ".db"))
            if r == 1:
                res.alerts_run1 = counts
            note("  run %d: lienwatchd batched, %d watched vehicles, %d "
                 "fences: %d fixes/s stored (%s s; alerts raised: %s)"
                 % (r, cfg.vehicles, cfg.fences, rate(cfg.m, f.secs),
                    fmt_secs(f.secs), counts))
            res.fenced.append(f)

    def drains(self, res):
        cfg = self.cfg
        note("  backlog drain: %d queued messages, %d runs each"
             % (cfg.m, cfg.drain_runs))
        for r in range(1, cfg.drain_runs + 1):
            secs, cpu, bcpu = self.run_drain_limit()
            note("  drain %d: bare subscriber %d msgs/s (%s s, %s s CPU)"
                 % (r, rate(cfg.m, secs), fmt_secs(secs), cpu))
            res.drain_l.append(Run(secs, cpu, 0, bcpu, ""))
            secs, cpu, bcpu = self.run_drain_daemon(r)
            note("  drain %d: lienwatchd %d fixes/s stored (%s s, %s s CPU)"
                 % (r, rate(cfg.m, secs), fmt_secs(secs), cpu))
            res.drain_d.append(Run(secs, cpu, 0, bcpu, ""))

    # ---- places: one vehicle's month (lw-placesbench), CPU and wall time
    def run_places(self):
        """Prints the places table; False when the tool failed."""
        r = subprocess.run([self.exe("lw-placesbench"), "--runs", "11"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=SCENARIO_TIMEOUT_S)
        lines = r.stdout.splitlines()
        m = [re.search(r"CPU median ([0-9.]+) ms, max ([0-9.]+) ms; wall "
                       r"median ([0-9.]+) ms, max ([0-9.]+) ms", l)
             for l in lines]
        m = [x for x in m if x]
        if r.returncode != 0 or not m:
            print("places benchmark FAILED: %s" % (lines[-1:] or ["no output"]))
            return False
        cpu50, cpumax, wall50, wallmax = (float(x) for x in m[0].groups())
        print("\n### places (lw_places over one vehicle's history)\n\n"
              "| what | median ms | worst ms |\n|---|---:|---:|\n"
              "| %s: stops, places, ranking (CPU) | %.2f | %.2f |\n"
              "| the same, wall time | %.2f | %.2f |\n"
              % (lines[0].split(": ", 1)[-1], cpu50, cpumax, wall50, wallmax))
        print("target: places for one vehicle's 30 days of 30 s fixes "
              "< 50 ms: %s (worst %.2f ms CPU)"
              % ("MET" if cpumax < 50 else "NOT MET", cpumax))
        return True

    def run(self):
        """The whole benchmark; prints the table, returns the exit status."""
        cfg = self.cfg
        self.check_setup()
        self.start_broker()
        note("bench: %d messages from %d simulated vehicles, %d runs of the "
             "limit, the batched daemon and the batched daemon with %d "
             "fences; broker on 127.0.0.1:%d"
             % (cfg.m, cfg.vehicles, cfg.runs, cfg.fences, self.port))
        self.build_registry()
        self.build_maint()
        res = Results()
        self.rounds(res)
        note("  commit per fix: %d messages" % cfg.cpf_m)
        res.cpf, _, _ = self.run_daemon("cpf", cfg.cpf_m, cfg.vehicles,
                                        "--set", "store.commit_interval_ms=0")
        note("  %d vehicles, one message each" % cfg.big)
        res.big, res.rss0, res.rss1 = self.run_daemon("big", cfg.big, cfg.big)
        self.drains(res)
        res.lat = self.run_latency()
        print("\n".join(ingest_table(cfg, res) + latency_table(cfg, res)
                        + drain_table(cfg, res) + verdicts(cfg, res)),
              flush=True)
        if res.lat["rc"] != 0:
            print("alert latency run FAILED: %s" % res.lat["line"])
            self.dnf += 1
        # the web service's read API on a large registry (its own table)
        if os.access(os.path.join(self.bin, "lienwatch-web"), os.X_OK):
            web = subprocess.run(["/usr/bin/python3",
                                  os.path.join(ROOT, "tools", "bench_web.py"),
                                  os.path.dirname(self.bin)])
            if web.returncode != 0:
                print("web benchmark FAILED")
                self.dnf += 1
        if not self.run_places():
            self.dnf += 1
        if self.dnf > 0:
            print("%d scenario(s) did not finish within %d s or failed (see "
                  "above)" % (self.dnf, SCENARIO_TIMEOUT_S))
            return 1
        return 0


@dataclass
class Results:
    """What the table is made of."""
    limits: list = field(default_factory=list)   # Run per round: the limit
    batches: list = field(default_factory=list)  # ... the batched daemon
    fenced: list = field(default_factory=list)   # ... with the registry
    maint: list = field(default_factory=list)    # ... thinning and purging
    alerts_run1: str = ""  # alerts the first run with the registry raised
    cpf: Optional[Run] = None   # commit per fix
    big: Optional[Run] = None   # BIG vehicles x 1 fix
    rss0: int = 0          # the big run's daemon RSS (KiB) idle ...
    rss1: int = 0          # ... and after one fix from each vehicle
    drain_l: list = field(default_factory=list)  # Run per drain: limit
    drain_d: list = field(default_factory=list)  # ... and lienwatchd
    lat: dict = field(default_factory=dict)      # run_latency's result


def ingest_table(cfg, res):
    """Rows 1 to 6 and the notes under them."""
    m = cfg.m
    lim, bat, fen = (pick_median(res.limits), pick_median(res.batches),
                     pick_median(res.fenced))
    mnt = pick_median(res.maint)
    l_rate = rate(m, lim.secs)

    def row(label, msgs, run):
        if run.secs is None:
            return ("| %s | %d | >%d | DNF: %d stored | - | %s | %s | %s | %s |"
                    % (label, msgs, SCENARIO_TIMEOUT_S, run.got, run.cpu,
                       mib(run.kib), run.broker_cpu, run.sim_cpu))
        r = rate(msgs, run.secs)
        return "| %s | %d | %s | %d | %s | %s | %s | %s | %s |" % (
            label, msgs, fmt_secs(run.secs), r, ratio(r, l_rate), run.cpu,
            mib(run.kib), run.broker_cpu, run.sim_cpu)

    b_rounds = round_ratios(res.limits, res.batches)
    f_rounds = round_ratios(res.limits, res.fenced)
    # per vehicle that got a fix in: all of them unless the run did not
    # finish
    big = res.big
    per_vehicle = "%.0f" % ((res.rss1 - res.rss0) * 1024 / big.got
                            if big.got > 0 else 0)
    now = datetime.datetime.now(datetime.timezone.utc)
    return [
        "",
        "lienwatch ingest benchmark - " + now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine: %d CPUs, %s; %s" % (len(os.sched_getaffinity(0)),
                                      cpu_model(), mosquitto_version()),
        "QoS 1, %d vehicles, median of %d runs for the first three rows; "
        "rates from first publish to last received / last committed fix"
        % (cfg.vehicles, cfg.runs),
        "",
        "| scenario | messages | seconds | msgs/s | x limit | daemon CPU s "
        "| peak RSS MiB | broker CPU s | lw-sim CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| bare QoS 1 subscriber (limit) | %d | %s | %d | 1.00 | (%s) | (%s) "
        "| %s | %s |" % (m, fmt_secs(lim.secs), l_rate, lim.cpu, mib(lim.kib),
                         lim.broker_cpu, lim.sim_cpu),
        row("lienwatchd, batched commits (default)", m, bat),
        row("lienwatchd, batched, with %d watched vehicles + %d fences"
            % (cfg.vehicles, cfg.fences), m, fen),
        row("lienwatchd, batched, while thinning and purging", m, mnt),
        row("lienwatchd, commit per fix", cfg.cpf_m, res.cpf),
        row("lienwatchd, %d vehicles x 1 fix" % cfg.big, cfg.big, big),
        "(in brackets: the bare subscriber's own CPU and peak RSS)",
        "",
        "runs (msgs/s): limit %s| batched %s| with fences %s"
        % (run_rates(m, res.limits), run_rates(m, res.batches),
           run_rates(m, res.fenced)),
        "each round's ratio to its own limit run: batched %s(median %s) | "
        "with fences %s(median %s)"
        % ("".join(x + " " for x in b_rounds), median_str(b_rounds),
           "".join(x + " " for x in f_rounds), median_str(f_rounds)),
        "RSS per vehicle at %d vehicles: %s bytes (daemon RSS %s MiB idle "
        "-> %s MiB after one fix from each of %d)"
        % (cfg.big, per_vehicle, mib(res.rss0), mib(res.rss1), big.got),
        "reference: OwnTracks Recorder stores 18 fixes/s in its default "
        "configuration, ~440/s tuned",
        "with fences: every fix of the %d vehicles (all watched: accounts 45 "
        "days past due) goes through the" % cfg.vehicles,
        "  alert engine against %d fences: a 256-vertex keep_in region for "
        "every vehicle," % cfg.fences,
        "  %d keep_out fences of other accounts where the fleet drives "
        "(found by the index, tested, not" % (cfg.fences // 10 - 1),
        "  applicable) and %d keep_out fences for every vehicle over "
        "Portugal, Spain and Europe;" % (cfg.fences - cfg.fences // 10),
        "  fences generated by tools/gen_fences.py. Alerts raised: %s "
        "(run 1)" % res.alerts_run1,
        "while thinning and purging: the database also holds %d devices x "
        "%d fixes 120 days old (thinned:" % (cfg.maint_devices,
                                             cfg.maint_fixes),
        "  store.thin_after 90d, one fix an hour kept, each stop's ends) and "
        "%d x %d of accounts paid off" % (cfg.maint_devices, cfg.maint_fixes),
        "  (purged at once), both starting with the run; deleted during each "
        "run, thinned/purged: %s"
        % " ".join("%d/%d" % (x.thinned, x.purged) for x in res.maint),
        "  runs (msgs/s): %s| each round's ratio to its batched run: %s"
        % (run_rates(m, res.maint),
           " ".join(ratio(rate(m, x.secs), rate(m, b.secs))
                    for x, b in zip(res.maint, res.batches)
                    if x.secs and b.secs)),
        "",
    ]


def latency_table(cfg, res):
    """Row 8: alert latency under background load."""
    lat = res.lat
    line = lat["line"]
    n, s = float(lat["load_sent"] or 0), float(lat["load_secs"] or 0)
    return [
        "alert latency: geofence_exit, from the publish of the confirming "
        "fix (the 2nd far fix: confirm_fixes = 2)",
        "to the alert's arrival at a QoS 1 subscriber on lienwatch/v1/"
        "alert/#, same clock; %d watched vehicles taken" % cfg.lat_k,
        "from Porto to Salamanca at ~%d/s, with %d fences loaded and "
        "background load from lw-sim" % (cfg.lat_rate, cfg.fences),
        "(%s fixes in %s s from %d watched vehicles). Includes both broker "
        "hops, the" % (lat["load_sent"] or "?", lat["load_secs"] or "?",
                       cfg.vehicles),
        "daemon's commit batching (commit_interval_ms = 50: the engine sees "
        "a fix once its batch is committed),",
        "the alert's own transaction and its QoS 1 publish.",
        "",
        "| alerts | p50 ms | p90 ms | p99 ms | max ms | mean ms | missing "
        "| daemon CPU s | broker CPU s | background fixes/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| %s/%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            kv("alerts", line), kv("expected", line), kv("p50_ms", line),
            kv("p90_ms", line), kv("p99_ms", line), kv("max_ms", line),
            kv("mean_ms", line), kv("missing", line), lat["d_cpu"],
            lat["b_cpu"], "%.0f" % (n / s if s > 0 else 0)),
        "daemon kept up with the load: %s; alerts stored: %s;"
        % (lat["kept_up"], lat["alerts"]),
        "early/duplicate/other alert messages: %s/%s/%s"
        % (kv("early", line), kv("duplicates", line), kv("other", line)),
        "",
    ]


def drain_table(cfg, res):
    """Row 7: backlog drain."""
    m = cfg.m
    dl, dd = pick_median(res.drain_l), pick_median(res.drain_d)
    dl_rate, dd_rate = rate(m, dl.secs), rate(m, dd.secs)

    def us_per(cpu_s):
        """Microseconds of CPU per message."""
        return "%.1f" % (float(cpu_s or 0) * 1e6 / m)
    return [
        "backlog drain: %d messages queued while the consumer was away, "
        "then drained with only the broker" % m,
        "beside it (no publisher); from the consumer's start to the last "
        "message received / fix committed;",
        "median of %d runs. This is each consumer's own ceiling on this "
        "machine." % cfg.drain_runs,
        "",
        "| consumer | msgs/s | x bare subscriber | consumer CPU s | CPU "
        "us/msg | broker CPU s |",
        "|---|---:|---:|---:|---:|---:|",
        "| bare QoS 1 subscriber | %d | 1.00 | %s | %s | %s |"
        % (dl_rate, dl.cpu, us_per(dl.cpu), dl.broker_cpu),
        "| lienwatchd, batched commits | %d | %s | %s | %s | %s |"
        % (dd_rate, ratio(dd_rate, dl_rate), dd.cpu, us_per(dd.cpu),
           dd.broker_cpu),
        "runs (msgs/s): bare subscriber %s| lienwatchd %s"
        % (run_rates(m, res.drain_l), run_rates(m, res.drain_d)),
        "",
    ]


def verdicts(cfg, res):
    """The targets, each met only when both estimates reach it."""
    m = cfg.m
    l_rate = rate(m, pick_median(res.limits).secs)
    b_rate = rate(m, pick_median(res.batches).secs)
    f_rate = rate(m, pick_median(res.fenced).secs)
    line = res.lat["line"]
    return [
        verdict("ingest >= %sx bare subscriber with batching" % TARGET_RATIO,
                ratio(b_rate, l_rate),
                median_str(round_ratios(res.limits, res.batches))),
        verdict("the same with %d fences and watched vehicles" % cfg.fences,
                ratio(f_rate, l_rate),
                median_str(round_ratios(res.limits, res.fenced)),
                "%sx the rate without them" % ratio(f_rate, b_rate)),
        verdict_maint(m, res),
        "alert latency: no number is set in issue 3 (\"at once\"); measured "
        "p50 %s ms, p99 %s ms" % (kv("p50_ms", line), kv("p99_ms", line)),
    ]


def verdict_maint(m, res):
    """Ingest while thinning and purging within 10 % of the rate without
    them, from the medians and from the median of the rounds' ratios."""
    b_rate = rate(m, pick_median(res.batches).secs)
    t_rate = rate(m, pick_median(res.maint).secs)
    rounds = sorted(float(ratio(rate(m, x.secs), rate(m, b.secs)))
                    for x, b in zip(res.maint, res.batches)
                    if x.secs and b.secs)
    of_rounds = rounds[len(rounds) // 2] if rounds else 0.0
    of_medians = float(ratio(t_rate, b_rate))
    low = min(of_medians, of_rounds)
    return ("target: ingest while thinning and purging >= 0.90x the batched "
            "rate: %s (%.2fx from the medians, %.2fx the median round)"
            % ("MET" if low >= MAINT_RATIO else "NOT MET", of_medians,
               of_rounds))


def run_rates(m, runs):
    """The msgs/s of each run, each followed by a blank."""
    return "".join("%d " % rate(m, r.secs) for r in runs)


def verdict(label, of_medians, of_rounds, extra=""):
    """Met only when the lower of the two estimates reaches the target."""
    low = min(float(of_medians), float(of_rounds))
    return "target: %s: %s (%sx from the medians, %sx the median round%s)" % (
        label, "MET" if low >= TARGET_RATIO else "NOT MET", of_medians,
        of_rounds, "; " + extra if extra else "")


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).rstrip("\n")
    except OSError:
        return ""


def grep_tail(path, text, n):
    try:
        with open(path, errors="replace") as f:
            return "".join([l for l in f if text in l][-n:]).rstrip("\n")
    except OSError:
        return ""


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def mosquitto_version():
    r = subprocess.run(["mosquitto", "-h"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    first = (r.stdout.splitlines() or [""])[0]
    i = first.find(" is an MQTT")
    return first[:i] if i >= 0 else first


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip(), file=sys.stderr if len(argv) > 2 else sys.stdout)
        return 2 if len(argv) > 2 else 0
    build = argv[1] if len(argv) == 2 else "build"
    # SIGTERM stops the benchmark like Ctrl-C: processes stopped, files gone
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(128 + s))
    try:
        bench = Bench(build, Config.from_env())
    except Fail as e:
        print("bench: FAIL: %s" % e, file=sys.stderr)
        return 1
    try:
        return bench.run()
    except Fail as e:
        print("bench: FAIL: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
