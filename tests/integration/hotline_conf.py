"""The Asterisk configuration the integration tier boots: the project's own files.

    compose_conf_dir(target)   -> target holds a complete /etc/asterisk

What is loaded, file by file:

* ``extensions.conf``, ``pjsip.conf``, ``manager.conf``, ``queues.conf``, ``modules.conf``,
  ``features.conf``:
  the shipped ``dialplans/asterisk/`` files, with only the overrides below (each one must
  match exactly one line or context of the shipped file, or composing fails loudly);
  ``modules.conf`` gets the modules only the tests' own contexts use appended (the
  harness's base list, ``app_userevent``);
* everything else (``asterisk.conf``, ``logger.conf``, ...): the harness's base config in
  ``asterisk_conf/``.

Overrides, and why:

* ``IVR_AGI`` (global) points nowhere until the engine under test starts; the engine
  fixture sets it over AMI (``Setvar``) to its own loopback port;
* the SIP transport binds 127.0.0.1 (the tests stay on loopback), and the trunk's
  carrier address is 127.0.0.1:``CARRIER_PORT`` (where a sipp test plays the carrier);
* ``[hotline-outbound]`` (the one way out to the carrier) dials
  ``Local/<number>@test-citizen`` instead of the trunk, so a callback's citizen answers;
* ``manager.conf``: the engine's user gets a known secret; the harness's own AMI user
  (``ivr-test``, read/write all) is added for the tests;
* test-only contexts are appended: the caller (and what the caller says), the operator
  and the citizen the tests play, and the harness's own ``ivr-test-agi``/``ivr-test-caller``
  (test_asterisk_real);
* ``res_pjsip_notify`` (and an empty ``pjsip_notify.conf``) is added: a sipp carrier is
  told when to hang up by an in-dialog NOTIFY (AMI ``PJSIPNotify``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from asterisk_harness import AMI_SECRET, AMI_USER, BASE_CONF_DIR, REPO_ROOT

SHIPPED_DIR = REPO_ROOT / "dialplans" / "asterisk"
SHIPPED_FILES = ("extensions.conf", "pjsip.conf", "manager.conf", "queues.conf", "modules.conf", "features.conf")
ENGINE_AMI_USER = "ivr-engine"
ENGINE_AMI_SECRET = "ivr-engine-test-secret"
CARRIER_PORT = 5062
UNSET_AGI = "agi://127.0.0.1:9/hotline-engine-not-started"

# Modules the test-only contexts use beyond the shipped list and the harness's base list.
EXTRA_MODULES = ("app_userevent.so",
                 # the carrier's hang-up cue: an in-dialog NOTIFY (AMI PJSIPNotify) tells sipp to BYE
                 "res_pjsip_notify.so")

TEST_CONTEXTS = """
; ---- test-only contexts (tests/integration/hotline_conf.py) ---------------------------
; The caller: the ;2 half of Local/<id>@test-caller, whose ;1 half runs [hotline].  The
; test presses keys on this channel (AMI PlayDTMF) and hangs it up (AMI Hangup).
[test-caller]
exten => _X.,1,Answer()
 same => n,Wait(300)
 same => n,Hangup()

; The caller speaks: the test sets TEST_SAY (a sound file) on the phone and redirects it
; here (AMI Setvar, Redirect); the file plays into the call as the caller's voice, then the
; phone says so (UserEvent) and waits again.
[test-caller-says]
exten => say,1,Playback(${TEST_SAY})
 same => n,UserEvent(TestCallerSaid,Channel: ${CHANNEL})
 same => n,Wait(300)
 same => n,Hangup()

; The operators' phones: config endpoint Local/<operator>@test-operator.
[test-operator]
exten => _op.,1,Answer()
 same => n,UserEvent(TestOperatorAnswered,Operator: ${EXTEN})
 same => n,Wait(${IF($["${TEST_TALK_SECONDS}" = ""]?2:${TEST_TALK_SECONDS})})
 same => n,Hangup()

; Citizens called back: [hotline-outbound] dials Local/<number>@test-citizen.
[test-citizen]
exten => _X.,1,Answer()
 same => n,UserEvent(TestCitizenAnswered,Number: ${EXTEN})
 same => n,Wait(2)
 same => n,Hangup()
"""

OUTBOUND_FOR_TESTS = """[hotline-outbound]
exten => _X.,1,Dial(Local/${EXTEN}@test-citizen,60)
 same => n,Hangup()
"""


class ComposeError(RuntimeError):
    pass


def replace_once(text: str, pattern: str, replacement: str, *, what: str) -> str:
    """Replace the one line matching ``pattern`` (a regex, multiline); fail if not exactly one."""
    found = re.findall(pattern, text, flags=re.MULTILINE)
    if len(found) != 1:
        raise ComposeError(f"{what}: expected one match of {pattern!r}, found {len(found)}")
    return re.sub(pattern, replacement.replace("\\", "\\\\"), text, flags=re.MULTILINE)


def sections(text: str) -> list[tuple[str, str]]:
    """Split a .conf file into (section name, text) pairs; ("", preamble) first."""
    out: list[tuple[str, str]] = [("", "")]
    for line in text.splitlines(keepends=True):
        match = re.match(r"^\[([^\]]+)\]", line)
        if match:
            out.append((match.group(1), line))
        else:
            name, body = out[-1]
            out[-1] = (name, body + line)
    return out


def replace_section(text: str, name: str, replacement: str) -> str:
    parts = sections(text)
    hits = [i for i, (n, _) in enumerate(parts) if n == name]
    if len(hits) != 1:
        raise ComposeError(f"extensions.conf: expected one [{name}] context, found {len(hits)}")
    i = hits[0]
    body = parts[i][1]
    # Keep the comment lines that introduce the next section (they belong to it).
    trailing = re.search(r"(\n(?:;[^\n]*\n|\s*\n)*)$", body)
    tail = trailing.group(1)[1:] if trailing else ""
    parts[i] = (name, replacement + ("\n" if tail and not replacement.endswith("\n\n") else "") + tail)
    return "".join(body for _, body in parts)


def base_test_contexts() -> str:
    """The harness's own contexts (ivr-test-agi, ivr-test-caller), without general/globals."""
    text = (BASE_CONF_DIR / "extensions.conf").read_text()
    return "".join(body for name, body in sections(text) if name not in ("", "general", "globals"))


def compose_extensions(shipped: str) -> str:
    text = replace_once(shipped, r"^IVR_AGI\s*=.*$", f"IVR_AGI = {UNSET_AGI}", what="extensions.conf")
    text = replace_section(text, "hotline-outbound", OUTBOUND_FOR_TESTS)
    return text.rstrip("\n") + "\n" + TEST_CONTEXTS + "\n" + base_test_contexts()


def compose_pjsip(shipped: str) -> str:
    text = replace_once(shipped, r"^bind\s*=\s*0\.0\.0\.0:5060[ \t]*$", "bind = 127.0.0.1:5060",
                        what="pjsip.conf")
    text = replace_once(text, r"^contact\s*=\s*sip:203\.0\.113\.10:5060.*$",
                        f"contact = sip:127.0.0.1:{CARRIER_PORT}", what="pjsip.conf")
    return replace_once(text, r"^match\s*=\s*203\.0\.113\.10[ \t]*$", "match = 127.0.0.1",
                        what="pjsip.conf")


def compose_manager(shipped: str) -> str:
    text = replace_once(shipped, r"^secret\s*=\s*CHANGE-ME.*$", f"secret = {ENGINE_AMI_SECRET}",
                        what="manager.conf")
    return text.rstrip("\n") + f"""

; the harness's own user (tests only)
[{AMI_USER}]
secret = {AMI_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
"""


def module_names(text: str) -> list[str]:
    return re.findall(r"^(?:load|require)\s*=>\s*(\S+\.so)", text, flags=re.MULTILINE)


def compose_modules(shipped: str, base: str) -> str:
    """The shipped modules.conf, and the modules only the tests' own contexts use."""
    have = set(module_names(shipped))
    extra = [m for m in dict.fromkeys([*module_names(base), *EXTRA_MODULES]) if m not in have]
    return shipped.rstrip("\n") + "\n\n; the tests' own contexts (tests/integration/hotline_conf.py)\n" + "".join(
        f"load => {module}\n" for module in extra)


def compose_conf_dir(target: Path) -> Path:
    """Write the complete configuration into ``target`` (created or emptied)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(BASE_CONF_DIR, target)
    shipped = {name: (SHIPPED_DIR / name).read_text() for name in SHIPPED_FILES}
    (target / "extensions.conf").write_text(compose_extensions(shipped["extensions.conf"]))
    (target / "pjsip.conf").write_text(compose_pjsip(shipped["pjsip.conf"]))
    (target / "manager.conf").write_text(compose_manager(shipped["manager.conf"]))
    (target / "queues.conf").write_text(shipped["queues.conf"])
    (target / "features.conf").write_text(shipped["features.conf"])
    # res_pjsip_notify (test-only, EXTRA_MODULES) declines to load without its file; the
    # test sends its own Event header, so no presets.
    (target / "pjsip_notify.conf").write_text("; the tests' NOTIFY carries its own headers (AMI PJSIPNotify)\n")
    (target / "modules.conf").write_text(compose_modules((SHIPPED_DIR / "modules.conf").read_text(),
                                                         (BASE_CONF_DIR / "modules.conf").read_text()))
    return target
