#!/usr/bin/python3
"""Runs one test and accounts for everything it started.

  run_one.py REPORT CMD [ARGS...]

Runs CMD (stdout and stderr inherited) as a child subreaper
(PR_SET_CHILD_SUBREAPER), so that every process the test started and did not
wait for is re-parented here instead of to init. When CMD has exited, such
leftovers get 5 s to finish by themselves, then SIGTERM, then SIGKILL, and
the ones still running then are named in the report: a test must stop what
it starts, and one left running would hold a port or a file of the next
test. Every process is
reaped here, so the CPU time reported is the whole test's.

REPORT gets one line: "cpu_s=12.3 leftover=NAME,NAME" (leftover empty when
none). Exits with CMD's status (128 + N for a signal).
"""
import ctypes
import os
import resource
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 5.0
POLL_S = 0.05


def children(pid):
    """PIDs whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # the name is in parentheses and may hold blanks
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == pid:
            out.append(int(d))
    return out


def name_of(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def reap_all():
    """Reaps every child that has exited; never blocks."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: run_one.py REPORT CMD [ARGS...]\n")
        return 2
    report, cmd = argv[1], argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # the test's own shell handles SIGTERM; pass ours on to it
    proc = subprocess.Popen(cmd)
    signal.signal(signal.SIGTERM, lambda s, f: proc.send_signal(s))
    signal.signal(signal.SIGINT, lambda s, f: proc.send_signal(signal.SIGTERM))
    while True:
        try:
            rc = proc.wait()
            break
        except InterruptedError:
            continue
    rc = 128 - rc if rc < 0 else rc

    me = os.getpid()
    left = {}
    deadline = time.monotonic() + GRACE_S
    sent = None
    while True:
        reap_all()
        kids = children(me)
        if not kids:
            break
        now = time.monotonic()
        if now >= deadline:
            for k in kids:
                left.setdefault(k, name_of(k))
            sent = signal.SIGKILL if sent == signal.SIGTERM else signal.SIGTERM
            for k in kids:
                try:
                    os.kill(k, sent)
                except ProcessLookupError:
                    pass
            deadline = now + GRACE_S
        time.sleep(POLL_S)

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(report, "w") as f:
        f.write("cpu_s=%.1f leftover=%s\n" % (
            ru.ru_utime + ru.ru_stime, ",".join(sorted(set(left.values())))))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
