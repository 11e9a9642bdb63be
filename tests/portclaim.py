#!/usr/bin/python3
"""Loopback TCP ports for tests, claimed so that parallel runs never share one.

Binding port 0 and closing the socket, then handing the number to a server
that binds it later, is a race once tests run in parallel: between the two
another test can be handed the same number, and a test that stops its broker
on purpose and starts it again on the same port leaves that port free for
anybody meanwhile. So a port is claimed here for the life of the claiming
process (the test's shell):

  - every claim is a file named after the port in DIR (default
    /tmp/lienwatch-ports, shared by every checkout on the machine; LW_PORT_DIR
    overrides it) holding the owner's PID; claims are made under an exclusive
    flock on DIR/.lock, so two claimants never take the same port;
  - a claim whose owner is no longer running (a test killed with SIGKILL) is
    taken over;
  - ports are drawn at random from below the kernel's ephemeral range
    (net.ipv4.ip_local_port_range), where the kernel never puts the local end
    of an outgoing connection or a bind to port 0, and a port is only handed
    out when it can be bound on 127.0.0.1 right now (nothing else listens,
    nothing in TIME_WAIT).

  portclaim.py claim OWNER_PID    prints one claimed port
  portclaim.py release OWNER_PID  drops every claim of OWNER_PID
"""
import errno
import fcntl
import os
import random
import socket
import sys

DEFAULT_DIR = "/tmp/lienwatch-ports"
LOW = 20000          # first port handed out
HIGH = 32767         # last one, unless the ephemeral range starts lower
MIN_SPAN = 1000      # fewer candidate ports than this: use the default range
TRIES = 2000


def port_dir():
    return os.environ.get("LW_PORT_DIR") or DEFAULT_DIR


def port_range():
    """(low, high): the candidates, below the ephemeral range."""
    high = HIGH
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            first = int(f.read().split()[0])
        if first - 1 - LOW >= MIN_SPAN:
            high = min(HIGH, first - 1)
    except (OSError, ValueError, IndexError):
        pass
    return LOW, high


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def owner_of(path):
    """The PID in a claim file, or None when it is unreadable or garbage."""
    try:
        with open(path) as f:
            return int(f.read().strip() or "x")
    except (OSError, ValueError):
        return None


def bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def claim(owner, directory=None):
    """Claims a free loopback port for process owner; returns its number."""
    d = directory or port_dir()
    try:
        os.mkdir(d)
        os.chmod(d, 0o1777)  # shared by every user's tests, like /tmp
    except FileExistsError:
        pass
    low, high = port_range()
    rng = random.SystemRandom()
    with open(os.path.join(d, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for _ in range(TRIES):
            port = rng.randint(low, high)
            path = os.path.join(d, str(port))
            if os.path.exists(path):
                pid = owner_of(path)
                if pid is None or alive(pid):
                    continue
            if not bindable(port):
                continue
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o644)
            except OSError:
                continue  # another user's stale claim in a sticky dir
            with os.fdopen(fd, "w") as f:
                f.write("%d\n" % owner)
            return port
    raise RuntimeError("no free port in %d..%d after %d tries (claims in %s)"
                       % (low, high, TRIES, d))


def release(owner, directory=None):
    """Drops every claim of process owner."""
    d = directory or port_dir()
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return
    for name in names:
        if not name.isdigit():
            continue
        path = os.path.join(d, name)
        if owner_of(path) == owner:
            try:
                os.unlink(path)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise


def main(argv):
    if len(argv) != 3 or argv[1] not in ("claim", "release"):
        sys.stderr.write("usage: portclaim.py claim|release OWNER_PID\n")
        return 2
    owner = int(argv[2])
    if argv[1] == "claim":
        print(claim(owner))
    else:
        release(owner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
