#!/bin/bash
# tests/fresh-machine.sh - does the README hold on a fresh Debian 12?
#
# Builds a minimal Debian 12 (bookworm) root with mmdebstrap from this
# machine's own apt configuration, holding only make, git and
# ca-certificates and no package lists, gives it a standard Debian
# /etc/hosts (localhost is ::1 first, then 127.0.0.1), clones this
# repository into it with ../shared beside it, mounts /proc, /sys and /dev,
# and runs the README's two commands there, each on its first run:
#
#     make demo      then      make check
#
# Exit status 0 when both pass. It takes longer than the rest of the suite
# (the packages are installed first, then the whole of `make check`), so it
# is not part of `make check`: run it after any change to the Makefile, the
# dependency list, the install, or when a new dependency comes in.
#
# Usage (as root):
#   tests/fresh-machine.sh [--demo-only] [--keep] [--rev REV]
#     --demo-only  stop after `make demo`
#     --keep       keep the root folder (its path is printed)
#     --rev REV    clone this commit (default HEAD; uncommitted changes are
#                  never tested: the point is a clean clone)
# Environment:
#   LW_FRESH_CACHE  where the base tarball is cached
#                   (default /var/cache/lienwatch-fresh); delete it to
#                   start from a newly made one
#   LW_FRESH_DIR    where the root is unpacked (default /var/tmp; needs
#                   about 3 GB)
#   LW_DATA_DIR     the shared test data (default ../shared/data)
# Logs: BUILD-independent, in the root's folder and copied to
#   build/fresh-machine/{demo,check}.log of this checkout.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO_ONLY=0 KEEP=0 REV=HEAD
while [ $# -gt 0 ]; do
    case $1 in
    --demo-only) DEMO_ONLY=1 ;;
    --keep) KEEP=1 ;;
    --rev) REV=$2; shift ;;
    -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-machine: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { printf 'fresh-machine: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it builds a chroot and mounts into it)"
SHARED=$(cd "${LW_DATA_DIR:-$ROOT/../shared/data}/.." 2>/dev/null && pwd) ||
    die "shared data not found (set LW_DATA_DIR)"
if ! command -v mmdebstrap >/dev/null; then
    say "installing mmdebstrap (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null ||
        die "cannot install mmdebstrap"
fi
COMMIT=$(git -C "$ROOT" rev-parse --verify "$REV^{commit}") || die "no such revision: $REV"

CACHE=${LW_FRESH_CACHE:-/var/cache/lienwatch-fresh}
BASE=$CACHE/bookworm-make-git-ca.tar
mkdir -p "$CACHE"
if [ ! -s "$BASE" ]; then
    # this machine's apt sources and the options that make them work
    # (e.g. a snapshot mirror's Valid-Until), nothing else of its setup
    src=()
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources; do
        [ -s "$f" ] && grep -q '^[^#]' "$f" && src+=("$f")
    done
    [ ${#src[@]} -gt 0 ] || die "no apt sources found in /etc/apt"
    opts=()
    for f in /etc/apt/apt.conf.d/*; do
        grep -q '^[[:space:]]*Acquire::' "$f" 2>/dev/null && opts+=("--aptopt=$f")
    done
    say "making the base system (once; cached in $BASE)"
    mmdebstrap --quiet --variant=minbase --include=make,git,ca-certificates \
        "${opts[@]}" \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        bookworm "$CACHE/new.tar" "${src[@]}" || die "mmdebstrap failed"
    mv "$CACHE/new.tar" "$BASE"
fi

WORK=$(mktemp -d "${LW_FRESH_DIR:-/var/tmp}/lw-fresh.XXXXXX")
R=$WORK/root
MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -R "${MOUNTS[$i]}" 2>/dev/null || umount -lR "${MOUNTS[$i]}" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then say "kept $R"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$R"
tar -C "$R" -xf "$BASE"
[ -z "$(ls "$R/var/lib/apt/lists" 2>/dev/null | grep -v '^lock$\|^partial$')" ] ||
    die "the base system has package lists"
# a standard Debian /etc/hosts: localhost resolves to ::1 first
cat >"$R/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	fresh
# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
EOF
cp -L /etc/resolv.conf "$R/etc/resolv.conf"

mkdir -p "$R/work/shared"
git clone --quiet --no-local "$ROOT" "$R/work/lienwatch"
git -C "$R/work/lienwatch" checkout --quiet "$COMMIT"
cp -a "$SHARED/." "$R/work/shared/"

# the root is a mount point of its own, as on a real machine: tests that
# make a private mount namespace (unshare -m) need / to be one
mount --bind "$R" "$R"
mount --make-private "$R"
MOUNTS+=("$R")
for m in proc sys dev; do
    mkdir -p "$R/$m"
    case $m in
    proc) mount -t proc proc "$R/proc" ;;
    sys) mount --rbind /sys "$R/sys"; mount --make-rslave "$R/sys" ;;
    dev) mount --rbind /dev "$R/dev"; mount --make-rslave "$R/dev" ;;
    esac
    MOUNTS+=("$R/$m")
done

LOGS=$ROOT/build/fresh-machine
mkdir -p "$LOGS"
in_root() {
    chroot "$R" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 TERM=dumb /bin/sh -c "cd /work/lienwatch && $1"
}
say "commit $(git -C "$ROOT" log -1 --format='%h %s' "$COMMIT")"
say "getent ahosts localhost in the root: $(in_root 'getent ahosts localhost' | awk '{print $1}' | uniq | tr '\n' ' ')"

run() {
    local name=$1 cmd=$2 start rc
    start=$(date +%s)
    say "$cmd (log: $LOGS/$name.log)"
    set +e
    in_root "$cmd" >"$LOGS/$name.log" 2>&1
    rc=$?
    set -e
    say "$cmd: exit $rc after $(( $(date +%s) - start )) s"
    if [ $rc -ne 0 ]; then
        tail -n 40 "$LOGS/$name.log" | sed 's/^/    /' >&2
        die "$cmd failed on its first run on a fresh machine"
    fi
}
run demo "make demo"
[ "$DEMO_ONLY" = 1 ] && { say "demo passed (--demo-only)"; exit 0; }
run check "make check"
say "make demo and make check passed on a fresh Debian 12"
