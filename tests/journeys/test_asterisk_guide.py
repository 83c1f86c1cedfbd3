"""An administrator sets up Asterisk from ``dialplans/asterisk/README-asterisk.md`` alone.

The machine is the Asterisk tier's chroot (Debian's asterisk 22 package and the packages the
guide names, /etc/asterisk as the package left it).  The checkout is a fresh copy at the
guide's /opt/ivr inside it, and the guide's steps are run as it gives them:

* ``sh dialplans/asterisk/install.sh`` as root on that machine: the user and group ``ivr``,
  /etc/asterisk, the spool directories, the prompts' symbolic link, the hold music check,
  asterisk.service's umask;
* the edits the guide asks for: operators' passwords and the carrier's address in
  pjsip.conf, the AMI secret in manager.conf, ``asterisk.ami`` in config.yaml;
* ``ivr prompts build``, ``ivr users add`` for the operator's console;
* Asterisk started as Debian's asterisk.service starts it (``-U asterisk -G asterisk``,
  the drop-in's UMask), ``ivr serve`` from the copy.

Then an operator's phone (sipp) registers as op101 and waits, a citizen (sipp, over the
carrier's trunk) walks the menu into the general queue, saying their name (A-law voice) and
pressing RFC 4733 keys on the call's RTP as each prompt starts (Asterisk's AGI debug log
says when), hears hold music
until the operator clicks "ready" in the console, and is put through to the operator's
phone; the consented conversation is recorded and taken in by the engine.  While the
citizen waits, the spoken name Asterisk recorded must be writable by the user ivr (the
engine overwrites plaintext before deleting it): group ivr from the setgid directory, mode
from the drop-in's UMask.  Asterisk's log of the run must name nothing missing (application,
function, module, sound file).

What differs from a real host, and why (each is one line below): the SIP, AMI and FastAGI
ports are free ones and the carrier is 127.0.0.2 (other tests may use the defaults); the
engine runs on the host, not in the chroot, so its config.yaml names the spool directories
through the chroot's path, and it runs as root (the chroot's user ivr does not exist on the
host).
"""

from __future__ import annotations

import audioop
import base64
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.prompts.render import synthesise, to_telephone
from tests.journeys.product import ROOT, Product, free_port, fresh_copy, newcomer_env, until

sys.path.insert(0, str(ROOT / "tests" / "integration"))

from asterisk_harness import CHROOT_SCRIPT, AsteriskHarness, AsteriskHarnessError
from sipp_runner import SIPP_DIR, RtpKeys, Sipp, free_udp_port, scenario_with

pytestmark = pytest.mark.asterisk

GUIDE = ROOT / "dialplans" / "asterisk" / "README-asterisk.md"
CHECKOUT = "/opt/ivr"  # where the guide puts the checkout (deploy/systemd's units too)
CARRIER_IP, PHONES_IP = "127.0.0.2", "127.0.0.1"
OPERATOR, OPERATOR_PASSWORD = "op101", "journey-op101-password"
CONSOLE_USER, CONSOLE_PASSWORD = "anna", "journey-console-password"
AMI_SECRET = "journey-ami-secret"
RECORDING_KEY = "k1:" + base64.b64encode(bytes(range(32))).decode()  # a test key, never a real one
HOTLINE = "88005553535"
# What install.sh leaves on the machine: removed before the journey, so it starts from the
# package's state each time (the chroot is kept between runs).
INSTALLED = ("/etc/asterisk.before-hotline", "/usr/share/asterisk/sounds/ivr", "/var/spool/asterisk/ivr",
             "/var/spool/asterisk/monitor/ivr", "/etc/systemd/system/asterisk.service.d", CHECKOUT,
             "/var/lib/asterisk/astdb.sqlite3")  # and what Asterisk kept: registrations
OVERRIDDEN = ("/var/spool/asterisk", "/var/spool/asterisk/monitor", "/var/spool/asterisk/ivr",
              "/var/spool/asterisk/monitor/ivr")


def guide_packages() -> list[str]:
    """The packages the guide's ``apt-get install`` line names."""
    found = re.search(r"apt-get install (?:-y )?(?:--no-install-recommends )?([a-z0-9 .+-]+)", GUIDE.read_text())
    assert found, "the guide names no apt-get install line"
    return found.group(1).split()


def spoken(text: str, tmp: Path) -> bytes:
    """What the citizen says, as 8 kHz A-law for the call's RTP (espeak-ng's Russian voice)."""
    synthesise(text, "ru", tmp / "said.wav")
    to_telephone(tmp / "said.wav", tmp / "said-8k.wav", tmp / "said.ulaw")
    with wave.open(str(tmp / "said-8k.wav")) as audio:
        return audioop.lin2alaw(audio.readframes(audio.getnframes()), audio.getsampwidth())


def undo_earlier_install(host: AsteriskHarness) -> None:
    script = "; ".join(
        [f"dpkg-statoverride --quiet --remove {d} 2>/dev/null" for d in OVERRIDDEN]
        + ["userdel ivr 2>/dev/null", "groupdel ivr 2>/dev/null",
           "chown asterisk:asterisk /var/spool/asterisk /var/spool/asterisk/monitor",
           "chmod 0750 /var/spool/asterisk /var/spool/asterisk/monitor",
           "rm -rf " + " ".join(INSTALLED), "true"])
    done = host.run("sh", "-c", script)
    assert done.returncode == 0, done.stderr


def warnings(log: Path) -> str:
    return "\n".join(line for line in log.read_text(errors="replace").splitlines()
                     if " WARNING[" in line or " ERROR[" in line)[-3000:]


def edit(path: Path, *changes: tuple[str, str]) -> None:
    """An administrator's edit: each regex must match (the guide's file changed otherwise)."""
    text = path.read_text()
    for pattern, replacement in changes:
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"{path}: nothing matches {pattern!r}"
    path.write_text(text)

def make_the_guides_edits(etc: Path, config: Path, *, spool: Path, sip_port: int, ami_port: int,
                          fastagi_port: int) -> None:
    """The edits README-asterisk.md asks of an administrator after install.sh (passwords, the
    carrier, AMI, the engine's address), with this machine's test ports and addresses; the
    engine runs outside the chroot, so its spool paths go through the chroot's."""
    edit(etc / "pjsip.conf",
         (r"^password = CHANGE-ME", f"password = {OPERATOR_PASSWORD}"),
         (r"^bind = 0\.0\.0\.0:5060", f"bind = {PHONES_IP}:{sip_port}"),
         (r"^contact = sip:203\.0\.113\.10:5060", f"contact = sip:{CARRIER_IP}:5060"),
         (r"^match = 203\.0\.113\.10", f"match = {CARRIER_IP}"))
    edit(etc / "manager.conf", (r"^secret = CHANGE-ME", f"secret = {AMI_SECRET}"),
         (r"^port = 5038", f"port = {ami_port}"))
    edit(etc / "extensions.conf", (r"^IVR_AGI = agi://127\.0\.0\.1:4573/hotline",
                                   f"IVR_AGI = agi://127.0.0.1:{fastagi_port}/hotline"))
    edit(config, (r"^  ami: null", f"  ami: 127.0.0.1:{ami_port}"),
         (r"^  spool_dir: /var/spool/asterisk/monitor/ivr", f"  spool_dir: {spool}/monitor/ivr"),
         (r"^  clip_dir: /var/spool/asterisk/ivr", f"  clip_dir: {spool}/ivr"))



class Console:
    """The operator's console over HTTP, as the browser's form and fetch calls use it."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def _token(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as page:
            html = page.read().decode()
        found = re.search(r'name="csrf[-_]token" (?:value|content)="([^"]+)"', html)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def log_in(self, user: str, password: str) -> None:
        form = urllib.parse.urlencode({"username": user, "password": password,
                                       "csrf_token": self._token("/login")}).encode()
        with self.opener.open(self.base + "/login", data=form, timeout=10) as reply:
            assert "/operator" in reply.geturl(), reply.geturl()

    def set_state(self, state: str) -> dict[str, object]:
        request = urllib.request.Request(
            self.base + "/operator/api/state", data=json.dumps({"state": state}).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-CSRF-Token": self._token("/operator")})
        with self.opener.open(request, timeout=10) as reply:
            answer: dict[str, object] = json.loads(reply.read())
            return answer


@pytest.fixture()
def host(tmp_path: Path) -> Iterator[AsteriskHarness]:
    """The Asterisk machine: the tier's chroot, /etc/asterisk as the package installed it."""
    harness = AsteriskHarness()
    harness.hold_machine()  # the chroot is edited around its Asterisk: nobody else's run meanwhile
    problem = None
    try:
        harness.ensure_chroot()
        harness.stop()
        undo_earlier_install(harness)
        harness.restore_package_config()
    except (AsteriskHarnessError, OSError, subprocess.SubprocessError, AssertionError) as exc:
        problem = str(exc)
    if problem is not None:  # fail (never skip), outside the except: no chained traceback
        harness.stop()
        harness.release_machine()
        pytest.fail(f"real Asterisk unavailable: {problem}\n"
                    "(IVR_SKIP_ASTERISK=1 deselects the tests marked 'asterisk')", pytrace=False)
    try:
        yield harness
    finally:
        harness.stop()
        undo_earlier_install(harness)  # the tier's own tests find the chroot as they left it
        harness.release_machine()


@pytest.fixture()
def checkout(host: AsteriskHarness) -> Iterator[Product]:
    """A fresh copy of the repository at the guide's /opt/ivr on that machine."""
    product = Product(root=fresh_copy(host.root / CHECKOUT.lstrip("/")))
    try:
        yield product
    finally:
        product.close()
        shutil.rmtree(product.root, ignore_errors=True)


def test_the_guide_gets_a_citizen_through_the_menu_to_a_registered_operator(
    host: AsteriskHarness, checkout: Product, tmp_path: Path
) -> None:
    chroot_packages = re.search(r'^PACKAGES="([^"]+)"', CHROOT_SCRIPT.read_text(), re.MULTILINE)
    assert chroot_packages and set(guide_packages()) <= set(chroot_packages.group(1).split()), (
        "the test's Asterisk must have what the guide tells the administrator to install")
    etc = host.root / "etc/asterisk"
    sip_port, ami_port, fastagi_port = free_udp_port(), free_port(), free_port()

    # -- the guide: install.sh, as root on the Asterisk machine
    installed = host.run("sh", f"{CHECKOUT}/dialplans/asterisk/install.sh")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert host.run("id", "-nG", "ivr").stdout.split() == ["ivr"]
    # -- the guide: the edits it asks for
    chroot_spool = host.root / "var/spool/asterisk"
    make_the_guides_edits(etc, checkout.root / "config.yaml", spool=chroot_spool,
                          sip_port=sip_port, ami_port=ami_port, fastagi_port=fastagi_port)
    # -- the guide: prompts, the operator's console user
    built = checkout.ivr("prompts", "build", timeout=300)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    added = checkout.ivr("users", "add", CONSOLE_USER, "--role", "operator", "--operator", OPERATOR,
                         input=CONSOLE_PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    # -- Asterisk as asterisk.service runs it
    umask = re.search(r"^UMask=(\d+)", (ROOT / "dialplans/asterisk/asterisk.service.d/hotline.conf").read_text(),
                      re.MULTILINE)
    assert umask is not None
    host.start(installed=True, user="asterisk", umask=int(umask.group(1), 8))
    log_name = f"journey-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"  # this run's lines alone
    host.cli(f"logger add channel {log_name} notice,warning,error,verbose(3),dtmf")
    log_path = host.root / "var/log/asterisk" / log_name
    # -- the engine
    serving = checkout.serve(fastagi=fastagi_port, env=newcomer_env(IVR_AMI_SECRET=AMI_SECRET,
                                                                    IVR_RECORDING_KEY=RECORDING_KEY))
    until(lambda: serving.get("/readyz").status == 200, 20, what="the engine ready")

    # The operator's phone registers: 200, not 501.
    phones = f"{PHONES_IP}:{sip_port}"
    register = Sipp(SIPP_DIR / "operator_register.xml", service=OPERATOR, local_ip=PHONES_IP, remote=phones,
                    workdir=tmp_path / "register", extra=("-au", OPERATOR, "-ap", OPERATOR_PASSWORD),
                    timeout_s=15).start()
    register.wait()
    assert f"{OPERATOR}/sip:{OPERATOR}@{PHONES_IP}:{register.port}" in host.cli("pjsip show contacts")
    phone = Sipp(SIPP_DIR / "operator_answers.xml", service=OPERATOR, local_ip=PHONES_IP, remote=phones,
                 port=register.port, workdir=tmp_path / "operator", timeout_s=150).start()

    # The citizen calls over the trunk and walks into the queue.
    rtp_port = free_udp_port(even=True, host=CARRIER_IP)
    scenario = scenario_with(SIPP_DIR / "hotline_to_operator.xml", tmp_path / "citizen.xml", RTP_PORT=rtp_port)
    messages = tmp_path / "citizen" / "messages.log"
    name = spoken("Иван Петрович Сидоров", tmp_path)  # what the citizen will say at the name prompt
    host.cli("agi set debug on")  # each AGI command in the log: the citizen hears the prompts start
    # The trunk identifies the carrier by its address alone: the citizen's SIP port is any free
    # one (5060 on 127.0.0.2 may be another test's carrier on this machine).
    citizen = Sipp(scenario, service=HOTLINE, local_ip=CARRIER_IP, remote=phones,
                   workdir=tmp_path / "citizen", timeout_s=150,
                   extra=("-trace_msg", "-message_file", str(messages))).start()
    keys: RtpKeys | None = None
    try:
        asterisk_media = until(lambda: RtpKeys.media_of(messages), 20, what="Asterisk to answer the call")
        keys = RtpKeys((CARRIER_IP, rtp_port), asterisk_media).start()
        # The name: after the beep the citizen says it, then presses '#'.
        found = until(lambda: re.search(r"AGI Rx << RECORD FILE ", log_path.read_text(errors="replace")),
                      60, every=0.2, what="the name's recording")
        heard = found.end()
        time.sleep(0.6)  # the beep
        keys.say(name)
        keys.press("#")
        for prompt, key in (("identity.enter_number", "#"),  # skip the ИНН/СНИЛС
                            ("menu.main", "0"),               # an operator: queue general
                            ("consent.ask_keys", "1")):            # record
            started = re.compile(rf"AGI Rx << STREAM FILE ivr/ru/{re.escape(prompt)} ")
            found = until(lambda started=started, after=heard: started.search(log_path.read_text(errors="replace"),
                                                                               after),
                          60, every=0.2, what=f"the prompt {prompt}")
            heard = found.end()
            time.sleep(0.5)  # barge-in, half a second into the prompt
            keys.press(key)
        try:
            hold = until(lambda: re.compile(r"Started music on hold, class 'default', on channel '(PJSIP/trunk-\w+)'")
                         .search(log_path.read_text(errors="replace"), heard), 30, every=0.2,
                         what="the citizen on hold in the queue")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; Asterisk's warnings:\n{warnings(log_path)}") from None
        trunk_channel = hold.group(1)
        # The spoken name Asterisk recorded (RECORD FILE) waits in the clip directory until
        # the call ends: the engine's user must be able to overwrite it (group ivr, UMask).
        clips = [c.name for c in (chroot_spool / "ivr").glob("*-ask_name.wav")]
        assert clips, "no name clip in /var/spool/asterisk/ivr"
        for clip in clips:
            assert (chroot_spool / "ivr" / clip).stat().st_size > 44 + 2 * 8000, f"{clip}: not a second of voice"
            writable = host.run("runuser", "-u", "ivr", "--", "test", "-w", f"/var/spool/asterisk/ivr/{clip}")
            mode = oct((chroot_spool / "ivr" / clip).stat().st_mode & 0o7777)
            assert writable.returncode == 0, f"{clip} ({mode}) is not writable by the engine's user ivr"
        time.sleep(2)  # some music
        console = Console(serving.base_url)
        console.log_in(CONSOLE_USER, CONSOLE_PASSWORD)
        console.set_state("ready")
        until(lambda: re.search(rf"PJSIP/{OPERATOR}-\w+ answered {re.escape(trunk_channel)}",
                                log_path.read_text(errors="replace")), 30, every=0.3,
              what="the operator's phone to answer the hand-over")
        time.sleep(2)  # talking
        host.cli(f"channel request hangup {trunk_channel}")
        citizen.wait(30)
        phone.wait(30)
    finally:
        citizen.kill()
        phone.kill()
        if keys is not None:
            keys.close()

    # Nothing the call needed was missing: an application, a function, a module, a sound,
    # a prompt Asterisk may read (a STREAM FILE it cannot open answers -1 without a warning).
    log = log_path.read_text(errors="replace")
    problems = [line for line in log.splitlines() if re.search(
        r"No such application|Could not find application|not registered|Unable to|does not exist|Failed to"
        r"|AGI Tx >> 200 result=-1 endpos=", line)]
    assert problems == []
    assert re.search(rf"DTMF end '#' received on {re.escape(trunk_channel)}", log)
    said = re.search(rf"<{re.escape(trunk_channel)}>AGI Tx >> 200 result=35 \(dtmf\) endpos=(\d+)", log)
    assert said and int(said.group(1)) > 8000, "the name Asterisk recorded is not the second of voice sent"
    assert "Begin MixMonitor Recording " + trunk_channel in log
    # The consented conversation was taken in by the engine (encrypted, plaintext removed).
    until(lambda: not list((chroot_spool / "monitor/ivr").glob("*.wav")), 20, what="the spool emptied")
    assert list((checkout.root / "recordings").rglob("*")), "nothing in the recordings store"
