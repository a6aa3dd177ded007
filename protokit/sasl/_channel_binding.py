"""tls-server-end-point channel binding (RFC 5929 section 4): the hash of the
server's certificate, the hash chosen from the certificate's signature
algorithm.  Just enough DER is parsed, with the standard library, to find it."""

from __future__ import annotations

import hashlib
from typing import Final

from ..errors import LocalProtocolError

__all__ = ["ChannelBindingError", "certificate_hash_name", "tls_server_end_point"]


class ChannelBindingError(LocalProtocolError):
    """No tls-server-end-point binding can be computed for this certificate."""


_SHA1: Final = "1.3.14.3.2.26"
_RSASSA_PSS: Final = "1.2.840.113549.1.1.10"

# RFC 5929 section 4.1: "if the certificate's signatureAlgorithm uses a single
# hash function and that hash function is either MD5 or SHA-1, then use
# SHA-256; if [it] uses a single hash function and that hash function neither
# MD5 nor SHA-1, then use the hash function associated with the certificate's
# signatureAlgorithm".  Algorithms with no single hash (Ed25519, Ed448) have
# no tls-server-end-point binding.
_SIGNATURE_HASH: Final = {
    "1.2.840.113549.1.1.4": "sha256",  # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha256",  # sha1WithRSAEncryption
    "1.2.840.113549.1.1.14": "sha224",  # sha224WithRSAEncryption
    "1.2.840.113549.1.1.11": "sha256",  # sha256WithRSAEncryption
    "1.2.840.113549.1.1.12": "sha384",  # sha384WithRSAEncryption
    "1.2.840.113549.1.1.13": "sha512",  # sha512WithRSAEncryption
    "1.2.840.10045.4.1": "sha256",  # ecdsa-with-SHA1
    "1.2.840.10045.4.3.1": "sha224",  # ecdsa-with-SHA224
    "1.2.840.10045.4.3.2": "sha256",  # ecdsa-with-SHA256
    "1.2.840.10045.4.3.3": "sha384",  # ecdsa-with-SHA384
    "1.2.840.10045.4.3.4": "sha512",  # ecdsa-with-SHA512
    "1.2.840.10040.4.3": "sha256",  # dsa-with-sha1
    "2.16.840.1.101.3.4.3.1": "sha224",  # dsa-with-sha224
    "2.16.840.1.101.3.4.3.2": "sha256",  # dsa-with-sha256
}
# Hash algorithm identifiers (RSASSA-PSS parameters, RFC 4055).
_HASH: Final = {
    "1.2.840.113549.2.5": "sha256",  # md5
    _SHA1: "sha256",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """One DER element at ``pos``: (tag, content start, content end)."""
    if pos + 2 > end:
        raise ChannelBindingError("certificate: truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ChannelBindingError("certificate: unsupported DER tag")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise ChannelBindingError("certificate: bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise ChannelBindingError("certificate: truncated DER")
    return tag, pos, pos + length


def _oid(content: bytes) -> str:
    if not content or content[-1] & 0x80:
        raise ChannelBindingError("certificate: bad OID")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in (first, arcs[0] - 40 * first, *arcs[1:]))


def _algorithm(data: bytes, start: int, end: int) -> tuple[str, int, int]:
    """AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }"""
    tag, start, end = _tlv(data, start, end)
    if tag != 0x30:
        raise ChannelBindingError("certificate: AlgorithmIdentifier is not a SEQUENCE")
    tag, ostart, oend = _tlv(data, start, end)
    if tag != 0x06:
        raise ChannelBindingError("certificate: algorithm is not an OID")
    return _oid(data[ostart:oend]), oend, end


def certificate_hash_name(cert_der: bytes) -> str:
    """The hashlib name RFC 5929 section 4.1 assigns to this certificate."""
    # Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    tag, start, end = _tlv(cert_der, 0, len(cert_der))
    if tag != 0x30 or end != len(cert_der):
        raise ChannelBindingError("certificate: not a DER SEQUENCE")
    tag, _, tbs_end = _tlv(cert_der, start, end)
    if tag != 0x30:
        raise ChannelBindingError("certificate: tbsCertificate is not a SEQUENCE")
    oid, params, alg_end = _algorithm(cert_der, tbs_end, end)
    if oid == _RSASSA_PSS:
        # RSASSA-PSS-params ::= SEQUENCE {
        #     hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, ... }
        hash_oid = _SHA1
        if params < alg_end:
            tag, pstart, pend = _tlv(cert_der, params, alg_end)
            if tag != 0x30:
                raise ChannelBindingError("certificate: bad RSASSA-PSS parameters")
            if pstart < pend:
                tag, hstart, hend = _tlv(cert_der, pstart, pend)
                if tag == 0xA0:
                    hash_oid, _, _ = _algorithm(cert_der, hstart, hend)
        if hash_oid not in _HASH:
            raise ChannelBindingError("certificate: unsupported RSASSA-PSS hash")
        return _HASH[hash_oid]
    if oid not in _SIGNATURE_HASH:
        raise ChannelBindingError(f"certificate: no tls-server-end-point hash for {oid}")
    return _SIGNATURE_HASH[oid]


def tls_server_end_point(cert_der: bytes) -> bytes:
    """The tls-server-end-point channel binding data for a DER certificate
    (on a client: ``ssl_object.getpeercert(binary_form=True)``)."""
    return hashlib.new(certificate_hash_name(cert_der), cert_der).digest()
