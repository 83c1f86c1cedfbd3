"""The admission rules without sockets (ivr/asterisk/admission.py); the same rules on real
sockets are in test_hostile_peers.py."""

from __future__ import annotations

from ipaddress import ip_network

from ivr.asterisk.admission import (
    LOG_INTERVAL,
    LOOPBACK,
    SILENT_GRACE,
    Admission,
    AdmissionSettings,
    peer_address,
    unreachable_hosts_warning,
)


def test_peer_addresses_as_sockets_give_them() -> None:
    assert str(peer_address("10.0.0.5")) == "10.0.0.5"
    assert str(peer_address("::ffff:10.0.0.5")) == "10.0.0.5"  # a dual-stack listener's IPv4 peer
    assert str(peer_address("fe80::1%eth0")) == "fe80::1"
    assert peer_address("") is None and peer_address("not-an-address") is None


def test_only_listed_hosts_are_allowed_and_the_default_is_loopback() -> None:
    default: Admission[int] = Admission(AdmissionSettings(), max_calls=10)
    assert default.allowed("127.0.0.1") and default.allowed("127.3.4.5") and default.allowed("::1")
    assert not default.allowed("10.0.0.5") and not default.allowed("::ffff:10.0.0.5") and not default.allowed("")
    listed: Admission[int] = Admission(
        AdmissionSettings(allowed_hosts=(ip_network("10.0.0.5/32"), ip_network("10.0.1.0/28"))), max_calls=10)
    assert listed.allowed("10.0.0.5") and listed.allowed("::ffff:10.0.1.14")
    assert not listed.allowed("10.0.1.16") and not listed.allowed("127.0.0.1")
    assert listed.refusal("127.0.0.1") == "not_allowed" and listed.refused["not_allowed"] == 1


def test_a_refused_address_is_logged_once_an_interval() -> None:
    admission: Admission[int] = Admission(AdmissionSettings(), max_calls=10)
    assert admission.should_log("10.0.0.9", 100.0)
    assert not admission.should_log("10.0.0.9", 100.0 + LOG_INTERVAL - 1)
    assert admission.should_log("10.0.0.8", 101.0)  # another address: its own line
    assert admission.should_log("10.0.0.9", 100.0 + LOG_INTERVAL)


def test_calls_per_host_counts_every_connection_of_an_address_until_it_leaves() -> None:
    admission: Admission[int] = Admission(AdmissionSettings(calls_per_host=2), max_calls=10)
    admission.enter(1, "127.0.0.1", 0.0)
    admission.env_received(1)  # a call in progress still counts
    admission.enter(2, "127.0.0.1", 0.0)
    assert admission.refusal("127.0.0.1") == "host_full" and admission.refusal("127.0.0.2") is None
    admission.leave(1)
    assert admission.refusal("127.0.0.1") is None
    unset: Admission[int] = Admission(AdmissionSettings(), max_calls=2)
    unset.enter(1, "127.0.0.1", 0.0)
    unset.enter(2, "127.0.0.1", 0.0)
    assert unset.refusal("127.0.0.1") is None  # only max_calls bounds it: the server says "busy"


def test_silent_connections_of_a_host_beyond_its_cap_make_room_oldest_first() -> None:
    admission: Admission[int] = Admission(AdmissionSettings(waiting_per_host=3), max_calls=100)
    for key in range(5):
        admission.enter(key, "127.0.0.4", 0.0)
    admission.enter(9, "127.0.0.5", 0.0)
    assert admission.make_room("127.0.0.4", SILENT_GRACE / 2, slots_full=False) == []  # young: a burst
    assert admission.make_room("127.0.0.4", SILENT_GRACE + 0.1, slots_full=False) == [0, 1, 2]
    assert admission.make_room("127.0.0.5", SILENT_GRACE + 0.1, slots_full=False) == []
    admission.enter(5, "127.0.0.4", SILENT_GRACE + 0.1)
    admission.env_received(3)  # a call: no longer silent
    assert admission.make_room("127.0.0.4", 10.0, slots_full=False) == []
    assert admission.dropped_waiting == 3 and admission.waiting == 3


def test_under_pressure_a_short_deadline_and_when_full_the_oldest_env_less_goes() -> None:
    admission: Admission[int] = Admission(AdmissionSettings(env_timeout_under_pressure=2.0), max_calls=4)
    admission.enter(1, "127.0.0.1", 0.0)
    admission.enter(2, "127.0.0.2", 0.1)
    assert not admission.under_pressure() and admission.env_timeout(10.0) == 10.0
    admission.enter(3, "127.0.0.3", 0.2)
    assert admission.under_pressure() and admission.env_timeout(10.0) == 2.0
    admission.env_received(2)
    admission.enter(4, "127.0.0.4", 0.3)
    assert admission.make_room("127.0.0.5", 0.4, slots_full=True) == [1]  # the oldest without one
    admission.env_received(3)
    admission.env_received(4)
    assert admission.make_room("127.0.0.5", 0.5, slots_full=True) == []  # only calls: "busy"


def test_listening_beyond_loopback_with_only_loopback_listed_is_said_at_start() -> None:
    assert unreachable_hosts_warning("127.0.0.1", LOOPBACK) is None
    assert unreachable_hosts_warning("::1", LOOPBACK) is None
    for listen in ("0.0.0.0", "::", "10.0.0.2", ""):
        warning = unreachable_hosts_warning(listen, LOOPBACK)
        assert warning is not None and "asterisk.allowed_hosts" in warning
    assert unreachable_hosts_warning("0.0.0.0", (*LOOPBACK, ip_network("10.0.0.5/32"))) is None
