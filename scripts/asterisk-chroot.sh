#!/bin/sh
# Build (once) and cache a Debian sid chroot containing a real Asterisk.
#
#   scripts/asterisk-chroot.sh [ensure]   build the chroot unless a complete one is cached
#   scripts/asterisk-chroot.sh path       print the chroot path
#   scripts/asterisk-chroot.sh clean      unmount and delete the cached chroot
#
# Starting/stopping Asterisk lives in tests/integration/asterisk_harness.py.
# Must run as root.  Env: IVR_ASTERISK_ROOT (default /var/cache/ivr-asterisk/root),
# IVR_ASTERISK_MIRROR (default http://deb.debian.org/debian).
set -eu

ROOT=${IVR_ASTERISK_ROOT:-/var/cache/ivr-asterisk/root}
MIRROR=${IVR_ASTERISK_MIRROR:-http://deb.debian.org/debian}
# What dialplans/asterisk/README-asterisk.md tells an administrator to install.
PACKAGES="asterisk asterisk-core-sounds-ru asterisk-core-sounds-ru-wav asterisk-moh-opsound-wav"
# Bump BUILD_ID whenever the recipe below changes: cached chroots are rebuilt.
BUILD_ID="v2 sid minbase $PACKAGES, /etc/asterisk.debian"
STAMP="$ROOT/.ivr-asterisk-build-complete"
LOCK="$ROOT.lock"

log() { printf 'asterisk-chroot: %s\n' "$*" >&2; }
now() { date +%s; }

umount_all() {
    # Unmount everything below ROOT, deepest first (proc, or debootstrap's leftovers).
    if [ -d "$ROOT" ]; then
        for m in $(awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r); do
            umount -l "$m" || true
        done
    fi
}

is_complete() { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$BUILD_ID" ]; }

build() {
    t0=$(now)
    umount_all
    rm -rf --one-file-system "$ROOT"
    mkdir -p "$(dirname "$ROOT")"
    log "debootstrap sid into $ROOT"
    debootstrap --variant=minbase sid "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 \
        || { tail -n 30 "$ROOT.debootstrap.log" >&2; exit 1; }
    t1=$(now)
    log "debootstrap took $((t1 - t0)) s"
    # Never let maintainer scripts start daemons inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive \
        apt-get -q -o Acquire::Check-Valid-Until=false update
    chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive \
        apt-get -q -y --no-install-recommends install $PACKAGES
    chroot "$ROOT" apt-get clean
    # The package's own /etc/asterisk, as an administrator finds it after apt-get install
    # (the harness replaces /etc/asterisk; the Asterisk guide's journey starts from this).
    cp -a "$ROOT/etc/asterisk" "$ROOT/etc/asterisk.debian"
    t2=$(now)
    log "apt-get install took $((t2 - t1)) s"
    chroot "$ROOT" /usr/sbin/asterisk -V >&2
    printf '%s' "$BUILD_ID" >"$STAMP"
    log "cold build complete in $((t2 - t0)) s"
}

ensure() {
    [ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
    command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install debootstrap"; exit 1; }
    mkdir -p "$(dirname "$ROOT")"
    t0=$(now)
    # Serialise concurrent callers (parallel CI jobs, xdist workers).
    exec 9>"$LOCK"
    flock 9
    if is_complete; then
        log "cached chroot at $ROOT is complete ($(( $(now) - t0 )) s)"
    else
        [ -e "$ROOT" ] && log "incomplete or outdated chroot at $ROOT: rebuilding"
        build
    fi
    echo "$ROOT"
}

case "${1:-ensure}" in
    ensure) ensure ;;
    path) echo "$ROOT" ;;
    clean) umount_all; rm -rf --one-file-system "$ROOT" "$ROOT.debootstrap.log" "$LOCK" ;;
    *) log "usage: $0 [ensure|path|clean]"; exit 2 ;;
esac
