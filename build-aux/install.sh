#!/bin/sh
# build-aux/install.sh - install or uninstall lienwatch (called by make).
#
#   build-aux/install.sh install|uninstall DESTDIR PREFIX SYSCONFDIR BUILD
#
# SBINDIR, BINDIR, MANDIR and UNITDIR may come from the environment (make
# passes its own); by default they are below PREFIX as shown.
#
# Installs, below DESTDIR (empty for a real install):
#   BUILD/bin/lienwatchd, lw-gpsbridge (when built)  PREFIX/sbin/
#   BUILD/bin/lienwatch-web (when built)             PREFIX/sbin/
#   web/static/* (the page of lienwatch-web)         DATADIR/lienwatch/web/
#   BUILD/bin/lienwatch                              PREFIX/bin/
#   BUILD/systemd/*.service (made by make from       PREFIX/lib/systemd/system/
#     systemd/*.service.in for SBINDIR and
#     SYSCONFDIR; the bridge's unit only when built)
#   systemd/<name>.sysusers.conf                     PREFIX/lib/sysusers.d/<name>.conf
#   docs/man/*.[158]                                 PREFIX/share/man/man[158]/
#   docs/deploy.md, docs/mosquitto/*,                PREFIX/share/doc/lienwatch/
#     docs/*.example and the example config            (mosquitto/ kept as a
#     (lienwatchd.conf.example)                        subdirectory)
#   the example config, `lienwatchd --dump-config`   SYSCONFDIR/lienwatch/lienwatchd.conf
#     (mode 0640; group lienwatch on a real install as root; an existing file
#     is never overwritten)
#
# On a real install as root it also creates the system user (systemd-sysusers)
# and runs "systemctl daemon-reload" when systemd is running.
#
# Uninstall removes exactly those files. It keeps the configuration when it
# differs from the example (it was edited), the password files next to it,
# the database in /var/lib/lienwatch and the system user: they are the
# operator's, not the package's. With DESTDIR it also removes the
# directories it leaves empty inside DESTDIR.
set -eu

usage() {
    echo "usage: $0 install|uninstall DESTDIR PREFIX SYSCONFDIR BUILD" >&2
    exit 2
}
[ $# -eq 5 ] || usage
ACTION=$1 D=$2 PREFIX=$3 SYSCONFDIR=$4 BUILD=$5
case $ACTION in install | uninstall) ;; *) usage ;; esac
case $PREFIX in /*) ;; *) echo "install.sh: PREFIX must be absolute: $PREFIX" >&2; exit 2 ;; esac
case $SYSCONFDIR in /*) ;; *) echo "install.sh: SYSCONFDIR must be absolute: $SYSCONFDIR" >&2; exit 2 ;; esac
# Trailing slashes would only make the messages ugly.
PREFIX=${PREFIX%/} SYSCONFDIR=${SYSCONFDIR%/} D=${D%/}
[ -n "$PREFIX" ] || PREFIX=/usr

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SBINDIR=${SBINDIR:-$PREFIX/sbin}
BINDIR=${BINDIR:-$PREFIX/bin}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
SYSUSERSDIR=$PREFIX/lib/sysusers.d
MANDIR=${MANDIR:-$PREFIX/share/man}
DATADIR=${DATADIR:-$PREFIX/share}
WEBDIR=$DATADIR/lienwatch/web
DOCDIR=$PREFIX/share/doc/lienwatch
CONFDIR=$SYSCONFDIR/lienwatch
CONF=$CONFDIR/lienwatchd.conf
# lw-gpsbridge's unit reads this (world-readable: the bridge runs as a
# dynamic user; its password comes through LoadCredential, not this file)
BRIDGE_CONF=$CONFDIR/lw-gpsbridge.conf
BRIDGE_EXAMPLE=gpsbridge/lw-gpsbridge.conf.example

say() { echo "  $*"; }

# Daemon-side binaries go to sbin, the CLI to bin. Prints "name dir" for
# each binary this tree installs (the bridge only when it was built).
binaries() {
    echo "lienwatchd $SBINDIR"
    echo "lienwatch $BINDIR"
    if [ "$ACTION" = uninstall ] || [ -x "$BUILD/bin/lw-gpsbridge" ]; then
        echo "lw-gpsbridge $SBINDIR"
    fi
    if [ "$ACTION" = uninstall ] || [ -x "$BUILD/bin/lienwatch-web" ]; then
        echo "lienwatch-web $SBINDIR"
    fi
}

# The web page's files (relative to web/static).
webfiles() {
    for f in web/static/*; do
        [ -f "$f" ] && echo "${f#web/static/}"
    done
    return 0
}

# The unit names (from systemd/NAME.service.in); on install a unit whose
# daemon is not built is skipped.
units() {
    for u in systemd/*.service.in; do
        [ -e "$u" ] || continue
        n=$(basename "$u" .service.in)
        if [ "$ACTION" = install ] && [ "$n" != lienwatchd ] &&
            [ ! -x "$BUILD/bin/$n" ]; then
            continue
        fi
        echo "$n.service"
    done
}

# A unit as make made it must name this install's paths: make writes them
# in from SBINDIR and SYSCONFDIR; this script only copies.
check_unit() {
    grep -q "^ExecStart=$SBINDIR/" "$1" && grep -q "$CONFDIR/" "$1" || {
        echo "install.sh: $1 was made for other directories than" \
            "SBINDIR=$SBINDIR SYSCONFDIR=$SYSCONFDIR; run make install" \
            "(or make units) with the same PREFIX/SYSCONFDIR" >&2
        exit 1
    }
}

manpages() {
    for m in docs/man/*.[158]; do
        [ -e "$m" ] && echo "$m"
    done
    return 0
}

docs() {
    for f in docs/deploy.md docs/mosquitto/* docs/*.example; do
        [ -f "$f" ] && echo "$f"
    done
    return 0
}

# The example configuration as the daemon prints it.
example_config() {
    for d in "$D$SBINDIR/lienwatchd" "$BUILD/bin/lienwatchd"; do
        if [ -x "$d" ] && "$d" --dump-config 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

# Removes DESTDIR-internal directories left empty, from $1 upwards.
prune_dirs() {
    [ -n "$D" ] || return 0
    dir=$1
    while [ "$dir" != "$D" ] && [ "${dir#"$D"/}" != "$dir" ]; do
        rmdir "$dir" 2>/dev/null || break
        dir=$(dirname "$dir")
    done
}

remove() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        rm -f "$1"
        say "removed $1"
        prune_dirs "$(dirname "$1")"
    fi
}

do_install() {
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT

    [ -x "$BUILD/bin/lienwatchd" ] ||
        { echo "install.sh: $BUILD/bin/lienwatchd not built (run make)" >&2; exit 1; }
    [ -x "$BUILD/bin/lienwatch" ] ||
        { echo "install.sh: $BUILD/bin/lienwatch not built (run make)" >&2; exit 1; }

    # the units first: nothing is installed when they do not fit
    for u in $(units); do
        [ -f "$BUILD/systemd/$u" ] ||
            { echo "install.sh: $BUILD/systemd/$u not made (run make)" >&2; exit 1; }
        check_unit "$BUILD/systemd/$u"
    done

    binaries | while read -r name dir; do
        install -d -m 0755 "$D$dir"
        install -m 0755 "$BUILD/bin/$name" "$D$dir/$name"
        say "$D$dir/$name"
    done

    install -d -m 0755 "$D$UNITDIR"
    for u in $(units); do
        install -m 0644 "$BUILD/systemd/$u" "$D$UNITDIR/$u"
        say "$D$UNITDIR/$u"
    done
    for s in systemd/*.sysusers.conf; do
        [ -e "$s" ] || continue
        install -d -m 0755 "$D$SYSUSERSDIR"
        install -m 0644 "$s" "$D$SYSUSERSDIR/$(basename "$s" .sysusers.conf).conf"
        say "$D$SYSUSERSDIR/$(basename "$s" .sysusers.conf).conf"
    done

    for m in $(manpages); do
        sec=${m##*.}
        install -d -m 0755 "$D$MANDIR/man$sec"
        install -m 0644 "$m" "$D$MANDIR/man$sec/$(basename "$m")"
        say "$D$MANDIR/man$sec/$(basename "$m")"
    done

    if [ -x "$BUILD/bin/lienwatch-web" ]; then
        install -d -m 0755 "$D$WEBDIR"
        for f in $(webfiles); do
            install -m 0644 "web/static/$f" "$D$WEBDIR/$f"
            say "$D$WEBDIR/$f"
        done
    fi

    install -d -m 0755 "$D$DOCDIR"
    for f in $(docs); do
        install -d -m 0755 "$D$DOCDIR/$(dirname "${f#docs/}")"
        install -m 0644 "$f" "$D$DOCDIR/${f#docs/}"
        say "$D$DOCDIR/${f#docs/}"
    done

    example_config > "$tmp" ||
        { echo "install.sh: lienwatchd --dump-config failed" >&2; exit 1; }
    install -m 0644 "$tmp" "$D$DOCDIR/lienwatchd.conf.example"
    say "$D$DOCDIR/lienwatchd.conf.example"

    if [ -z "$D" ] && [ "$(id -u)" -eq 0 ] && command -v systemd-sysusers >/dev/null; then
        for s in systemd/*.sysusers.conf; do
            [ -e "$s" ] || continue
            systemd-sysusers "$SYSUSERSDIR/$(basename "$s" .sysusers.conf).conf"
        done
    fi

    install -d -m 0755 "$D$CONFDIR"
    if [ -e "$D$CONF" ]; then
        say "kept existing $D$CONF (the current example is $D$DOCDIR/lienwatchd.conf.example)"
    else
        install -m 0640 "$tmp" "$D$CONF"
        # The daemon runs as lienwatch and reads its config through the group.
        if [ -z "$D" ] && [ "$(id -u)" -eq 0 ] && getent group lienwatch >/dev/null; then
            chgrp lienwatch "$D$CONF"
        fi
        say "$D$CONF"
    fi

    # the in-vehicle bridge's configuration, where its unit looks for it
    if [ -x "$BUILD/bin/lw-gpsbridge" ]; then
        if [ -e "$D$BRIDGE_CONF" ]; then
            say "kept existing $D$BRIDGE_CONF"
        else
            install -m 0644 "$BRIDGE_EXAMPLE" "$D$BRIDGE_CONF"
            say "$D$BRIDGE_CONF"
        fi
    fi

    if [ -z "$D" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        systemctl daemon-reload || true
        say "next: edit $CONF, then: systemctl enable --now lienwatchd"
    fi
}

do_uninstall() {
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT

    # Decide about the config before the daemon that prints the example goes.
    keep_conf=0
    if [ -e "$D$CONF" ]; then
        if example_config > "$tmp" && cmp -s "$tmp" "$D$CONF"; then
            keep_conf=0
        else
            keep_conf=1
        fi
    fi

    binaries | while read -r name dir; do
        remove "$D$dir/$name"
    done
    for u in $(units); do
        remove "$D$UNITDIR/$u"
    done
    for s in systemd/*.sysusers.conf; do
        [ -e "$s" ] || continue
        remove "$D$SYSUSERSDIR/$(basename "$s" .sysusers.conf).conf"
    done
    for m in $(manpages); do
        remove "$D$MANDIR/man${m##*.}/$(basename "$m")"
    done
    for f in $(docs); do
        remove "$D$DOCDIR/${f#docs/}"
    done
    remove "$D$DOCDIR/lienwatchd.conf.example"
    for f in $(webfiles); do
        remove "$D$WEBDIR/$f"
    done
    rmdir "$D$WEBDIR" "$D$DATADIR/lienwatch" 2>/dev/null || true
    rmdir "$D$DOCDIR/mosquitto" 2>/dev/null || true
    rmdir "$D$DOCDIR" 2>/dev/null || true

    if [ "$keep_conf" = 1 ]; then
        say "kept $D$CONF: it differs from the example (edited); remove it by hand if unwanted"
    else
        remove "$D$CONF"
    fi
    if [ -e "$D$BRIDGE_CONF" ]; then
        if cmp -s "$BRIDGE_EXAMPLE" "$D$BRIDGE_CONF"; then
            remove "$D$BRIDGE_CONF"
        else
            say "kept $D$BRIDGE_CONF: it differs from the example (edited)"
        fi
    fi
    rmdir "$D$CONFDIR" 2>/dev/null && prune_dirs "$(dirname "$D$CONFDIR")" || true

    if [ -z "$D" ]; then
        say "not removed: /var/lib/lienwatch (the database) and the system user lienwatch"
        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
            systemctl daemon-reload || true
        fi
    fi
}

if [ "$ACTION" = install ]; then do_install; else do_uninstall; fi
