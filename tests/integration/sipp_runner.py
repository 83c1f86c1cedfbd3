"""sipp, the real SIP phone of the Asterisk tiers: free loopback ports, one sipp run.

    phone = Sipp(SIPP_DIR / "operator_register.xml", service="op101", local_ip="127.0.0.1",
                 remote="127.0.0.1:5060", workdir=tmp, extra=("-au", "op101", "-ap", "secret"))
    phone.start(); ...; phone.wait(60)   # raises SippFailed with sipp's own words

A scenario may carry ``@@NAME@@`` marks that :func:`scenario_with` fills in (times the
test computes, e.g. when to press a key).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
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


def dtmf_pcaps(keys: str, directory: Path) -> list[Path]:
    """One pcap per key: RFC 4733 (2833) events, payload type 101, one RTP stream.

    sipp's bundled ``dtmf_2833_<key>.pcap`` files share an SSRC but not a sequence: played
    in an order other than 1, 4, *, # they go backwards (or jump by thousands), and
    Asterisk drops them as old or out-of-probation packets.  These continue one sequence
    and one timestamp line across the keys, in the order given, so any key sequence
    arrives: 7 packets of the event growing by 20 ms, then 3 end packets, 20 ms apart.
    """
    directory.mkdir(parents=True, exist_ok=True)
    events = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
    pcap_header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet
    paths = []
    for n, key in enumerate(keys):
        seq, timestamp = 1000 + 20 * n, 160_000 + 8000 * n
        records = b""
        for i in range(10):
            end = i >= 7
            duration = 160 * min(i + 1, 7)  # 8 kHz units: 20 ms per packet, held at 140 ms
            payload = struct.pack(">BBH", events[key], (0x80 if end else 0) | 10, duration)
            rtp = struct.pack(">BBHII", 0x80, (0x80 if i == 0 else 0) | 101, seq + i, timestamp, 0x0E05384E)
            udp = struct.pack(">HHHH", 6000, 6000, 8 + len(rtp) + len(payload), 0)
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(rtp) + len(payload), 0, 0, 64, 17, 0,
                             socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
            frame = b"\0" * 12 + b"\x08\x00" + ip + udp + rtp + payload
            micros = 20_000 * i
            records += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame)) + frame
        path = directory / f"dtmf_{n}_{events[key]}.pcap"
        path.write_bytes(pcap_header + records)
        paths.append(path)
    return paths
