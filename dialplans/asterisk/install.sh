#!/bin/sh
# Set up the Asterisk side of the 8 800 555-35-35 hotline on this machine, as
# dialplans/asterisk/README-asterisk.md describes step by step.  Run as root, on the host
# where Asterisk (Debian's package) runs and the engine runs from this checkout:
#
#   sh dialplans/asterisk/install.sh
#
# What it does (each step is safe to run again):
#   1. the engine's user and group `ivr` (IVR_USER / IVR_GROUP to choose others); the
#      checkout's var/ and recordings/ are theirs;
#   2. /etc/asterisk: a copy of what was there goes to /etc/asterisk.before-hotline (once);
#      extensions.conf, features.conf, queues.conf, modules.conf are installed from here
#      every time;
#      pjsip.conf and manager.conf (yours to edit: passwords, the carrier) only when the
#      installed one is not already the hotline's;
#   3. the spool directories the engine shares with Asterisk, registered with
#      dpkg-statoverride so that an upgrade of the asterisk package (whose postinst resets
#      every directory under /var/spool/asterisk to asterisk:asterisk 0750) keeps them;
#   4. /usr/share/asterisk/sounds/ivr -> <checkout>/var/sounds, where `ivr prompts build`
#      writes the prompts;
#   5. checks that there is hold music (/usr/share/asterisk/moh);
#   6. a systemd drop-in for asterisk.service: UMask=0007, so that the recordings Asterisk
#      writes are group-writable (the engine overwrites and deletes each plaintext file).
# Then restart Asterisk (systemctl restart asterisk): modules.conf is read at start only.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd -P)
CHECKOUT=$(cd "$HERE/../.." && pwd -P)
ENGINE_USER=${IVR_USER:-ivr}
ENGINE_GROUP=${IVR_GROUP:-ivr}
ETC=/etc/asterisk
SOUNDS=/usr/share/asterisk/sounds
MOH=/usr/share/asterisk/moh
SPOOL=/var/spool/asterisk
CLIP_DIR=$SPOOL/ivr                 # recordings.clip_dir: RECORD FILE (the caller's answers)
MONITOR_DIR=$SPOOL/monitor/ivr      # recordings.spool_dir = IVR_MONITOR_DIR: MixMonitor
SITE_FILES="pjsip.conf manager.conf"
OUR_FILES="extensions.conf features.conf queues.conf modules.conf"

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -x /usr/sbin/asterisk ] || die "no /usr/sbin/asterisk: apt-get install asterisk (see README-asterisk.md, Packages)"
getent passwd asterisk >/dev/null || die "no user asterisk (Debian's asterisk package creates it)"
[ -d "$ETC" ] || die "no $ETC"

# 1. The engine's user and group --------------------------------------------------------
if ! getent group "$ENGINE_GROUP" >/dev/null; then
    groupadd --system "$ENGINE_GROUP"
    say "group $ENGINE_GROUP created"
fi
if ! getent passwd "$ENGINE_USER" >/dev/null; then
    useradd --system --gid "$ENGINE_GROUP" --home-dir "$CHECKOUT" --no-create-home \
        --shell /usr/sbin/nologin --comment "hotline IVR engine" "$ENGINE_USER"
    say "user $ENGINE_USER created"
fi
# The engine writes its state (embedded Redis, prompts, keys, audit logs) under var/ and
# the encrypted recordings under recordings/ (config.yaml: recordings.dir).
install -d -o "$ENGINE_USER" -g "$ENGINE_GROUP" -m 0755 "$CHECKOUT/var" "$CHECKOUT/var/sounds"
install -d -o "$ENGINE_USER" -g "$ENGINE_GROUP" -m 0700 "$CHECKOUT/recordings"  # the store: its own, 0700
chown -R "$ENGINE_USER:$ENGINE_GROUP" "$CHECKOUT/var" "$CHECKOUT/recordings"

# 2. Asterisk's configuration -----------------------------------------------------------
if [ ! -e "$ETC.before-hotline" ]; then
    cp -a "$ETC" "$ETC.before-hotline"
    say "the previous $ETC is kept in $ETC.before-hotline"
fi
for name in $OUR_FILES; do
    install -o asterisk -g asterisk -m 0640 "$HERE/$name" "$ETC/$name"
done
for name in $SITE_FILES; do
    first=$(head -n 1 "$HERE/$name")
    if [ -f "$ETC/$name" ] && [ "$(head -n 1 "$ETC/$name")" = "$first" ]; then
        say "$ETC/$name is already the hotline's: left as you edited it"
    else
        install -o asterisk -g asterisk -m 0640 "$HERE/$name" "$ETC/$name"
        say "$ETC/$name installed: set its passwords (CHANGE-ME) and the carrier's address"
    fi
done

# 3. The spool directories the engine and Asterisk share ---------------------------------
# Asterisk (user asterisk) writes there; the engine (group ivr) reads, overwrites and
# deletes.  setgid: every file gets the group ivr.  The parents only need to be
# traversable by the engine (0751: no listing of the rest of Asterisk's spool).
keep_mode() {  # owner group mode directory
    install -d "$4"
    if command -v dpkg-statoverride >/dev/null 2>&1; then
        if dpkg-statoverride --list "$4" >/dev/null 2>&1; then
            dpkg-statoverride --quiet --remove "$4"
        fi
        dpkg-statoverride --add "$1" "$2" "$3" "$4"
    fi
    chown "$1:$2" "$4"
    chmod "$3" "$4"
}
keep_mode asterisk asterisk 0751 "$SPOOL"
keep_mode asterisk asterisk 0751 "$SPOOL/monitor"
keep_mode asterisk "$ENGINE_GROUP" 2770 "$CLIP_DIR"
keep_mode asterisk "$ENGINE_GROUP" 2770 "$MONITOR_DIR"

# 4. Prompts: Asterisk plays ivr/<lang>/<prompt id> from its sounds directory ---------------
if [ -e "$SOUNDS/ivr" ] && [ ! -L "$SOUNDS/ivr" ]; then
    die "$SOUNDS/ivr exists and is not a symbolic link: move it away, then run again"
fi
ln -sfn "$CHECKOUT/var/sounds" "$SOUNDS/ivr"
if ! ls "$CHECKOUT/var/sounds/ru/"*.wav >/dev/null 2>&1; then
    say "no prompts yet: run, from $CHECKOUT,  runuser -u $ENGINE_USER -- .venv/bin/ivr prompts build"
fi

# 5. Hold music ----------------------------------------------------------------------------
if ! ls "$MOH/"* >/dev/null 2>&1; then
    die "no hold music in $MOH: apt-get install asterisk-moh-opsound-wav (or put 8 kHz WAV files there)"
fi

# 6. asterisk.service: files Asterisk creates are group-writable --------------------------
if [ -d /etc/systemd/system ]; then
    install -d /etc/systemd/system/asterisk.service.d
    install -m 0644 "$HERE/asterisk.service.d/hotline.conf" /etc/systemd/system/asterisk.service.d/hotline.conf
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
    fi
fi

say "done: restart Asterisk (systemctl restart asterisk), then start the engine as $ENGINE_USER"
