"""tls-server-end-point (RFC 5929 section 4.1): the hash chosen from the
certificate's signature algorithm, checked against OpenSSL's fingerprints."""

from __future__ import annotations

import pytest

from protokit.sasl import ChannelBindingError, certificate_hash_name, tls_server_end_point

from .exchange import SPEC, load

CERTS = load("tls-server-end-point.json")["certificates"]


@pytest.mark.parametrize("name", sorted(CERTS))
def test_certificates(name: str) -> None:
    entry = CERTS[name]
    der = (SPEC / entry["file"]).read_bytes()
    if entry["hash"] is None:
        with pytest.raises(ChannelBindingError, match="no tls-server-end-point hash"):
            tls_server_end_point(der)
        return
    assert certificate_hash_name(der) == entry["hash"]
    assert tls_server_end_point(der).hex() == entry["binding"]


def test_md5_and_sha1_map_to_sha256() -> None:
    for name in ("rsa-md5", "rsa-sha1", "ecdsa-sha1", "rsa-pss-sha1"):
        assert CERTS[name]["hash"] == "sha256"


def test_malformed_der() -> None:
    der = (SPEC / CERTS["rsa-sha256"]["file"]).read_bytes()
    cases = [b"", b"\x30", b"\x30\x85\x00\x00\x00\x00\x00", der[:-1], der + b"\x00", b"\x04\x00"]
    cases += [der[:n] for n in range(0, len(der), 37)]
    for bad in cases:
        with pytest.raises(ChannelBindingError):
            tls_server_end_point(bad)
