"""The HAProxy PROXY protocol, versions 1 and 2 (haproxy's proxy-protocol.txt):
the header a load balancer puts before the client's bytes to say who the
client really is.  Parsing is sans-IO: bytes in, a header or "need more" out.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass
from typing import Final

from ..errors import RemoteProtocolError

__all__ = ["ProxyHeader", "ProxyProtocolError", "build_v1", "build_v2", "parse_proxy_header"]

V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
# "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport CRLF, or
# "PROXY UNKNOWN" [anything] CRLF; 107 bytes at most (section 2.1).
_V1_MAX: Final = 107
_V1: Final = re.compile(
    rb"PROXY (?:(TCP4|TCP6) ([0-9a-fA-F.:]{2,39}) ([0-9a-fA-F.:]{2,39}) "
    rb"(0|[1-9][0-9]{0,4}) (0|[1-9][0-9]{0,4})|UNKNOWN[^\r\n]*)\r\n"
)


class ProxyProtocolError(RemoteProtocolError):
    """The connection did not start with a valid PROXY header."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyHeader:
    """Who the proxy says the client is.  ``source`` is ``None`` for
    "UNKNOWN" (v1) and LOCAL (v2) headers: use the socket's own address."""

    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    length: int  # bytes the header took on the wire


def _addr(text: bytes, family: bytes) -> str:
    try:
        ip = ipaddress.ip_address(text.decode("ascii"))
    except ValueError:
        raise ProxyProtocolError("PROXY v1: invalid address") from None
    if (ip.version == 4) != (family == b"TCP4"):
        raise ProxyProtocolError("PROXY v1: address does not match the family")
    return str(ip)


def _port(text: bytes) -> int:
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError("PROXY v1: port out of range")
    return port


def parse_proxy_header(data: bytes | bytearray) -> ProxyHeader | None:
    """Parse a PROXY header at the start of ``data``.

    Returns ``None`` while more bytes are needed; raises
    :class:`ProxyProtocolError` for anything that is not a valid header.
    """
    if data[:1] == b"P":
        if not b"PROXY "[: len(data)] == bytes(data[:6]):
            raise ProxyProtocolError("not a PROXY header")
        end = data.find(b"\r\n", 0, _V1_MAX)
        if end < 0:
            if len(data) >= _V1_MAX:
                raise ProxyProtocolError("PROXY v1 header too long")
            return None
        m = _V1.fullmatch(bytes(data[: end + 2]))
        if m is None:
            raise ProxyProtocolError("malformed PROXY v1 header")
        if m.group(1) is None:
            return ProxyHeader(version=1, source=None, destination=None, length=end + 2)
        fam = m.group(1)
        return ProxyHeader(
            version=1,
            source=(_addr(m.group(2), fam), _port(m.group(4))),
            destination=(_addr(m.group(3), fam), _port(m.group(5))),
            length=end + 2,
        )
    if data[:1] == b"\r":
        if not V2_SIGNATURE.startswith(bytes(data[:12])):
            raise ProxyProtocolError("not a PROXY header")
        if len(data) < 16:
            return None
        ver_cmd, fam, length = struct.unpack_from("!BBH", data, 12)
        if ver_cmd >> 4 != 2:
            raise ProxyProtocolError("PROXY v2: unsupported version")
        command = ver_cmd & 0x0F
        if command not in (0, 1):
            raise ProxyProtocolError("PROXY v2: unknown command")
        if len(data) < 16 + length:
            return None
        body = bytes(data[16 : 16 + length])
        total = 16 + length
        if command == 0:  # LOCAL: the proxy's own connection (health checks)
            return ProxyHeader(version=2, source=None, destination=None, length=total)
        family, transport = fam >> 4, fam & 0x0F
        if transport not in (0, 1):
            raise ProxyProtocolError("PROXY v2: only TCP is supported")
        if family == 1:
            if length < 12:
                raise ProxyProtocolError("PROXY v2: short IPv4 address block")
            src, dst = ipaddress.IPv4Address(body[0:4]), ipaddress.IPv4Address(body[4:8])
            sport, dport = struct.unpack_from("!HH", body, 8)
        elif family == 2:
            if length < 36:
                raise ProxyProtocolError("PROXY v2: short IPv6 address block")
            src6, dst6 = ipaddress.IPv6Address(body[0:16]), ipaddress.IPv6Address(body[16:32])
            sport, dport = struct.unpack_from("!HH", body, 32)
            return ProxyHeader(
                version=2, source=(str(src6), sport), destination=(str(dst6), dport), length=total
            )
        elif family == 0:
            return ProxyHeader(version=2, source=None, destination=None, length=total)
        else:
            raise ProxyProtocolError("PROXY v2: unsupported address family")
        return ProxyHeader(
            version=2, source=(str(src), sport), destination=(str(dst), dport), length=total
        )
    if not data:
        return None
    raise ProxyProtocolError("not a PROXY header")


def build_v1(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A PROXY v1 header (for tests and for proxies built with protokit)."""
    ip = ipaddress.ip_address(source[0])
    fam = "TCP4" if ip.version == 4 else "TCP6"
    return f"PROXY {fam} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


def build_v2(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A PROXY v2 PROXY-command header over TCP."""
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version == 4:
        body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
        fam = 0x11
    else:
        body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
        fam = 0x21
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, fam, len(body)) + body
