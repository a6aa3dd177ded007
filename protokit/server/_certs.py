"""The server's TLS certificate: the user's own, or a self-signed one for
localhost, 127.0.0.1 and ::1, generated with cryptography on first run into
the data directory (key file mode 0600) and reused afterwards."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CERT_FILENAME",
    "KEY_FILENAME",
    "CertificateError",
    "CertificatePaths",
    "ensure_certificate",
    "server_ssl_context",
]

CERT_FILENAME: Final = "tls-cert.pem"
KEY_FILENAME: Final = "tls-key.pem"
#: A generated certificate lasts this long; one expiring within a day is replaced.
_VALIDITY: Final = datetime.timedelta(days=397)
_RENEW_BEFORE: Final = datetime.timedelta(days=1)


class CertificateError(Exception):
    """The certificate or key cannot be used (the message names the file)."""


@dataclass(frozen=True, slots=True)
class CertificatePaths:
    """Where the certificate chain and private key are, and whether they
    were generated just now."""

    cert: Path
    key: Path
    generated: bool


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file created with ``mode``, then rename it into
    place, so a reader never sees a partial file and the key is never
    world-readable, not even for a moment."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _generate(now: datetime.datetime) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _usable(cert_path: Path, now: datetime.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - _RENEW_BEFORE > now


def ensure_certificate(
    data_dir: str | os.PathLike[str],
    *,
    cert_file: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
) -> CertificatePaths:
    """The user's ``cert_file``/``key_file`` (both or neither; checked to
    load), else the data directory's self-signed certificate, generated if
    missing, unreadable or expiring within a day."""
    if (cert_file is None) != (key_file is None):
        raise CertificateError("give both a certificate and a key file, or neither")
    if cert_file is not None and key_file is not None:
        paths = CertificatePaths(Path(cert_file), Path(key_file), generated=False)
        server_ssl_context(paths)
        return paths
    directory = Path(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_FILENAME, directory / KEY_FILENAME
    now = datetime.datetime.now(datetime.UTC)
    if cert_path.exists() and key_path.exists() and _usable(cert_path, now):
        return CertificatePaths(cert_path, key_path, generated=False)
    cert_pem, key_pem = _generate(now)
    _write_private(key_path, key_pem, 0o600)
    _write_private(cert_path, cert_pem, 0o644)
    return CertificatePaths(cert_path, key_path, generated=True)


def server_ssl_context(paths: CertificatePaths) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or later) with the certificate loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(paths.cert, paths.key)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(
            f"cannot load the certificate {paths.cert} with the key {paths.key}: "
            f"{type(exc).__name__}"
        ) from None
    return context
