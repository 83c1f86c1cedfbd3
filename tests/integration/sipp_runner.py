"""sipp, the real SIP phone of the Asterisk tiers: free loopback ports, one sipp run.

    phone = Sipp(SIPP_DIR / "operator_register.xml", service="op101", local_ip="127.0.0.1",
                 remote="127.0.0.1:5060", workdir=tmp, extra=("-au", "op101", "-ap", "secret"))
    phone.start(); ...; phone.wait(60)   # raises SippFailed with sipp's own words

A scenario may carry ``@@NAME@@`` marks that :func:`scenario_with` fills in (times the
test computes, e.g. when to press a key).
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SIPP_DIR = Path(__file__).resolve().parent / "sipp"


class SippFailed(AssertionError):
    pass


def free_udp_port(*, even: bool = False, host: str = "127.0.0.1") -> int:
    """A loopback UDP port nobody uses now (even: RTP, with the next one for RTCP)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if not even or (port % 2 == 0 and port < 65000):
            return port


def scenario_with(template: Path, target: Path, **marks: object) -> Path:
    """``template`` with each ``@@NAME@@`` replaced; fails on a mark left unfilled."""
    text = template.read_text()
    for name, value in marks.items():
        text = text.replace(f"@@{name}@@", str(value))
    if "@@" in text.replace("@@NAME@@", ""):
        raise ValueError(f"{template.name}: unfilled marks left in {target}")
    target.write_text(text)
    return target


@dataclass
class Sipp:
    """One sipp process running one call of ``scenario``."""

    scenario: Path
    service: str
    local_ip: str
    remote: str
    workdir: Path
    port: int = 0
    extra: tuple[str, ...] = ()
    timeout_s: int = 60
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def start(self) -> Sipp:
        if not self.port:
            self.port = free_udp_port(host=self.local_ip)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["sipp", self.remote, "-sf", str(self.scenario), "-s", self.service, "-i", self.local_ip,
             "-p", str(self.port), "-mp", str(free_udp_port(even=True, host=self.local_ip)),
             "-m", "1", "-l", "1", "-nostdin", "-timeout", f"{self.timeout_s}s", "-timeout_error",
             "-trace_err", "-error_file", str(self.workdir / "errors.log"), *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.workdir)
        return self

    def wait(self, timeout: float | None = None) -> str:
        """sipp's screen at its end; raises :class:`SippFailed` unless the call succeeded."""
        assert self.process is not None
        try:
            out, _ = self.process.communicate(timeout=timeout or self.timeout_s + 15)
        except subprocess.TimeoutExpired:
            self.kill()
            raise SippFailed(f"{self.scenario.name}: sipp still running after {timeout} s") from None
        if self.process.returncode != 0:
            errors = (self.workdir / "errors.log")
            detail = errors.read_text(errors="replace")[-3000:] if errors.exists() else ""
            raise SippFailed(f"{self.scenario.name}: sipp exited {self.process.returncode}\n"
                             f"{out[-2500:]}\n--- errors.log ---\n{detail}")
        return out

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(5)



DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}  # RFC 4733 event codes
ALAW_SILENCE = b"\xd5" * 160  # 20 ms of A-law silence (payload type 8)


def rtp_packet(payload_type: int, seq: int, timestamp: int, ssrc: int, payload: bytes, *,
               marker: bool = False) -> bytes:
    """One RTP packet (RFC 3550 fixed header, no CSRC)."""
    return struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | payload_type, seq & 0xFFFF,
                       timestamp & 0xFFFFFFFF, ssrc) + payload


def dtmf_payloads(key: str) -> list[bytes]:
    """One key as RFC 4733 (2833) event payloads, one per 20 ms: 7 of the event growing by
    20 ms, then 3 end packets (the end is sent three times, as phones do)."""
    event = DTMF_EVENTS[key]
    return [struct.pack(">BBH", event, (0x80 if i >= 7 else 0) | 10, 160 * min(i + 1, 7)) for i in range(10)]


def call_audio_pcap(target: Path, keys: list[tuple[float, str]], seconds: float, *,
                    ssrc: int = 0x0E05384F) -> Path:
    """A caller's whole RTP stream as a pcap for sipp's ``play_pcap_audio``: A-law silence
    every 20 ms for ``seconds``, and each ``(at, key)`` pressed ``at`` seconds in (RFC 4733,
    payload type 101, the packets :class:`RtpKeys` sends).

    One SSRC, sequence numbers and timestamps rising through the whole stream, as a phone
    sends them.  sipp's stock ``dtmf_2833_*.pcap`` files cannot be chained into one call:
    they share an SSRC and carry fixed sequence numbers and timestamps, so Asterisk takes
    every key after the first few for a duplicate and drops it.  sipp rewrites the
    addresses and ports (the call's media), and sends each packet at its pcap time.
    """
    presses = sorted((round(at / 0.02), key) for at, key in keys)
    packets: list[tuple[float, bytes]] = []
    seq, slot, total = 1000, 0, round(seconds / 0.02)
    while slot < total:
        if presses and slot >= presses[0][0]:
            _, key = presses.pop(0)
            start = slot
            for i, payload in enumerate(dtmf_payloads(key)):  # the event keeps its start timestamp
                packets.append((slot * 0.02, rtp_packet(101, seq, start * 160, ssrc, payload, marker=i == 0)))
                seq, slot = seq + 1, slot + 1
            continue
        packets.append((slot * 0.02, rtp_packet(8, seq, slot * 160, ssrc, ALAW_SILENCE)))
        seq, slot = seq + 1, slot + 1
    if presses:
        raise ValueError(f"keys after the end of the {seconds} s stream: {presses}")
    _write_udp_pcap(target, packets, source=("127.0.0.2", 6000), destination=("127.0.0.1", 10000))
    return target


def _write_udp_pcap(target: Path, packets: list[tuple[float, bytes]], *, source: tuple[str, int],
                    destination: tuple[str, int]) -> None:
    """Classic libpcap file, Ethernet link type, one IPv4/UDP datagram per packet."""
    src_ip, dst_ip = socket.inet_aton(source[0]), socket.inet_aton(destination[0])
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n, (at, payload) in enumerate(packets):
        udp = struct.pack(">HHHH", source[1], destination[1], 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0, src_ip, dst_ip)
        ip = ip[:10] + struct.pack(">H", _ip_checksum(ip)) + ip[12:]
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        micros = round(at * 1_000_000)
        out.append(struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame)) + frame)
    target.write_bytes(b"".join(out))


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class RtpKeys:
    """A caller's keypad on the RTP port a SIP scenario announced (``m=audio <port>``) and
    sipp does not bind: RFC 4733 (2833) events, payload type 101, pressed when the test
    decides (when it sees the prompt start), not at times fixed in a scenario.

    ``media_of(message_file)`` reads the address Asterisk answered with from sipp's
    ``-trace_msg`` file.  ``start()`` sends 200 ms of A-law silence first: Asterisk's
    strictrtp learns the source from a few packets in sequence before it takes any.
    """

    SSRC = 0x0E05384E

    def __init__(self, local: tuple[str, int], remote: tuple[str, int]) -> None:
        self.remote = remote
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(local)
        self.seq, self.timestamp = 1000, 160_000

    @staticmethod
    def media_of(message_file: Path) -> tuple[str, int] | None:
        """Asterisk's RTP address from the first ``200 OK`` with SDP sipp received."""
        if not message_file.exists():
            return None
        text = message_file.read_text(errors="replace")
        answer = re.search(r"SIP/2\.0 200 OK.*?\nc=IN IP4 (\S+).*?\nm=audio (\d+)", text, re.DOTALL)
        return (answer.group(1), int(answer.group(2))) if answer else None

    def _send(self, payload_type: int, payload: bytes, *, marker: bool = False, step: bool = True) -> None:
        self.sock.sendto(rtp_packet(payload_type, self.seq, self.timestamp, self.SSRC, payload, marker=marker),
                         self.remote)
        self.seq += 1
        if step:
            self.timestamp += 160

    def start(self) -> RtpKeys:
        for _ in range(10):
            self._send(8, b"\xd5" * 160)
            time.sleep(0.02)
        return self

    def say(self, alaw: bytes) -> None:
        """Speak: ``alaw`` (8 kHz A-law, payload type 8) as 20 ms packets, in real time."""
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(alaw), 160)):
            self._send(8, alaw[offset:offset + 160].ljust(160, b"\xd5"), marker=i == 0)
            time.sleep(max(0.0, start + (i + 1) * 0.02 - time.monotonic()))

    def press(self, key: str) -> None:
        """One key: 7 packets of the event growing by 20 ms, then 3 end packets."""
        for i, payload in enumerate(dtmf_payloads(key)):
            self._send(101, payload, marker=i == 0, step=False)
            time.sleep(0.02)
        self.timestamp += 160 * 8

    def close(self) -> None:
        self.sock.close()
