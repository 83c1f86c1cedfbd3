"""Pure: what nginx reports of a certificate, compared with what a person bound to the user."""

from __future__ import annotations

import shutil
from ipaddress import ip_network
from pathlib import Path

from ivr.config import load_config
from ivr.console.certificates import (
    ClientCertificate,
    from_proxy,
    normal_dn,
    normal_serial,
    refusal,
)

ROOT = Path(__file__).resolve().parents[2]
PROXY = (ip_network("127.0.0.1/32"),)
GOOD = {"X-SSL-Client-Verify": "SUCCESS", "X-SSL-Client-S-DN": "O=Hotline,OU=Support,CN=anton",
        "X-SSL-Client-Serial": "01F3A9"}


def test_a_subject_as_nginx_reports_it_and_as_a_person_types_it_are_one() -> None:
    assert normal_dn("O=Hotline,OU=Support,CN=anton") == normal_dn("CN=anton, ou=Support, O=Hotline")
    assert normal_dn("CN=anton,O=Hotline") != normal_dn("CN=anton2,O=Hotline")
    assert normal_dn("CN=anton,O=Hotline") != normal_dn("CN=anton,O=Hotline,OU=Support")
    assert normal_dn(r"CN=Ivanov\, Anton,O=Hotline") == normal_dn(r"O=Hotline,CN=Ivanov\, Anton")
    assert normal_dn(r"CN=Ivanov\, Anton,O=Hotline") != normal_dn("CN=Ivanov,CN=Anton,O=Hotline")


def test_serial_numbers_in_any_spelling() -> None:
    assert normal_serial("01F3A9") == normal_serial("1f:3a:9") == normal_serial("0x1F3A9") == "1f3a9"
    assert normal_serial("1F3A9") != normal_serial("1F3A8")


def test_headers_only_from_a_trusted_proxy() -> None:
    assert from_proxy("127.0.0.1", GOOD, PROXY) == ClientCertificate("SUCCESS", GOOD["X-SSL-Client-S-DN"], "01F3A9")
    assert from_proxy("127.0.0.2", GOOD, PROXY) is None
    assert from_proxy("127.0.0.1", GOOD, ()) is None  # no proxy configured: nothing is believed
    assert from_proxy("127.0.0.1", {}, PROXY) == ClientCertificate("NONE", "", "")


def test_why_a_certificate_does_not_open_the_archive() -> None:
    good = from_proxy("127.0.0.1", GOOD, PROXY)
    assert refusal(good, subject="CN=anton,OU=Support,O=Hotline", serial=None) is None
    assert refusal(good, subject=None, serial="1f:3a:a9") == "other_user"
    assert refusal(good, subject=None, serial="1f:3a:9") is None
    assert refusal(good, subject="CN=anton,OU=Support,O=Hotline", serial="02") == "other_user"
    assert refusal(good, subject="CN=arina,OU=Support,O=Hotline", serial=None) == "other_user"
    assert refusal(good, subject=None, serial=None) == "unbound"
    assert refusal(None, subject="CN=anton,OU=Support,O=Hotline", serial=None) == "no_proxy"
    revoked = ClientCertificate("FAILED:certificate revoked", GOOD["X-SSL-Client-S-DN"], "01F3A9")
    assert refusal(revoked, subject="CN=anton,OU=Support,O=Hotline", serial=None) == "failed"
    assert refusal(ClientCertificate("NONE", "", ""), subject="CN=anton", serial=None) == "none"


def test_a_binding_in_config_yaml(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    for name in ("dialplans", "prompts"):  # what config.yaml names by relative path
        (tmp_path / name).symlink_to(ROOT / name)
    text = (tmp_path / "config.yaml").read_text().replace("users: {}", """users:
  anton:
    role: auditor
    password_hash: "scrypt:32768:8:1$x$y"
    certificate: "CN=anton,OU=Support,O=Hotline"
    cert_serial: "1F:3A"
""").replace("archive_certificate: false", "archive_certificate: true").replace(
        "trusted_proxies: []", "trusted_proxies: [127.0.0.1]")
    (tmp_path / "config.yaml").write_text(text)
    config = load_config(tmp_path / "config.yaml")
    assert config.console.archive_certificate is True
    assert config.users["anton"].certificate == "CN=anton,OU=Support,O=Hotline"
    assert config.users["anton"].cert_serial == "1F:3A"
