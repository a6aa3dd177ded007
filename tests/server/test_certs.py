"""The self-signed certificate: generated once with the right names, key
file 0600, reused, loadable by ssl, usable for a real TLS handshake; or
the user's own."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509

from protokit.server import CertificateError, ensure_certificate, server_ssl_context
from protokit.server._certs import CERT_FILENAME, KEY_FILENAME


def test_generated_once_then_reused(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path / "d")
    assert first.generated and first.cert == tmp_path / "d" / CERT_FILENAME
    assert first.key == tmp_path / "d" / KEY_FILENAME
    assert first.key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o700
    cert_bytes, key_bytes = first.cert.read_bytes(), first.key.read_bytes()
    again = ensure_certificate(tmp_path / "d")
    assert not again.generated and (again.cert, again.key) == (first.cert, first.key)
    assert again.cert.read_bytes() == cert_bytes and again.key.read_bytes() == key_bytes
    assert [p.name for p in sorted((tmp_path / "d").iterdir())] == [CERT_FILENAME, KEY_FILENAME]


def test_names_and_validity(tmp_path: Path) -> None:
    paths = ensure_certificate(tmp_path)
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert cert.subject.rfc4514_string() == "CN=localhost"
    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc < now < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - now > datetime.timedelta(days=390)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_handshake_with_the_certificate_pinned(tmp_path: Path, host: str) -> None:
    paths = ensure_certificate(tmp_path)
    server_ctx = server_ssl_context(paths)
    client_ctx = ssl.create_default_context(cafile=str(paths.cert))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    result: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            result.append(tls.recv(5))
            tls.sendall(b"world")

    t = threading.Thread(target=serve)
    t.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"hello")
        assert tls.recv(5) == b"world"
    t.join(5)
    listener.close()
    assert result == [b"hello"]


def test_expiring_certificate_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import protokit.server._certs as certs

    monkeypatch.setattr(certs, "_VALIDITY", datetime.timedelta(hours=1))
    short = ensure_certificate(tmp_path)
    monkeypatch.undo()
    old = short.cert.read_bytes()
    renewed = ensure_certificate(tmp_path)
    assert renewed.generated and renewed.cert.read_bytes() != old


def test_corrupt_certificate_is_replaced(tmp_path: Path) -> None:
    paths = ensure_certificate(tmp_path)
    paths.cert.write_bytes(b"garbage")
    again = ensure_certificate(tmp_path)
    assert again.generated
    server_ssl_context(again)


def test_users_certificate(tmp_path: Path) -> None:
    mine = ensure_certificate(tmp_path / "mine")
    used = ensure_certificate(tmp_path / "data", cert_file=mine.cert, key_file=mine.key)
    assert (used.cert, used.key, used.generated) == (mine.cert, mine.key, False)
    assert not (tmp_path / "data" / CERT_FILENAME).exists()


def test_users_certificate_errors(tmp_path: Path) -> None:
    mine = ensure_certificate(tmp_path / "mine")
    other = ensure_certificate(tmp_path / "other")
    with pytest.raises(CertificateError, match="both"):
        ensure_certificate(tmp_path, cert_file=mine.cert)
    with pytest.raises(CertificateError, match="cannot load the certificate"):
        ensure_certificate(tmp_path, cert_file=mine.cert, key_file=other.key)
    with pytest.raises(CertificateError, match="cannot load"):
        ensure_certificate(tmp_path, cert_file=tmp_path / "missing.pem", key_file=mine.key)
