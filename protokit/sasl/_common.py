"""Helpers shared by the mechanism modules: strict UTF-8, token sources,
RFC 5801 saslname escaping and the GS2 header."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

from ..errors import LocalProtocolError
from ..wire._secret import Secret
from ._base import SASLError

__all__ = [
    "TokenSource",
    "Gs2Header",
    "escape_saslname",
    "parse_gs2_header",
    "resolve_token",
    "secret",
    "unescape_saslname",
    "utf8",
]

#: A bearer token, or a zero-argument callable returning a fresh one.
TokenSource: TypeAlias = str | Secret[str] | Callable[[], str | Secret[str]]

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
B64TOKEN: Final = re.compile(rb"[A-Za-z0-9\-._~+/]{1,65536}={0,8}")


def secret(value: str | Secret[str]) -> Secret[str]:
    """Wrap ``value`` in :class:`Secret` unless it already is one."""
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise TypeError("a password or token is a str or a Secret[str]")
    return Secret(value)


def resolve_token(source: TokenSource) -> Secret[str]:
    """Read a token from a :data:`TokenSource`, calling it when callable."""
    value = source() if callable(source) else source
    return secret(value)


def utf8(data: bytes, what: str) -> str:
    """Decode the peer's ``data`` as strict UTF-8 or raise :class:`SASLError`."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SASLError(f"{what} is not valid UTF-8") from None


def encode_local(value: str, what: str) -> bytes:
    """Encode a value *we* send; lone surrogates are our caller's mistake."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} is not encodable as UTF-8") from None


# RFC 5801 section 4 (and RFC 5802 section 7):
#   saslname = 1*(UTF8-char-safe / "=2C" / "=3D")
#   UTF8-char-safe = UTF8-1-safe / UTF8-2 / UTF8-3 / UTF8-4   ; no NUL, "=", ","
_SASLNAME: Final = re.compile(rb"(?:[\x01-\x2b\x2d-\x3c\x3e-\xff]|=2C|=3D)+")


def escape_saslname(name: str) -> str:
    """Escape "=" and "," as RFC 5801 requires for a saslname."""
    return name.replace("=", "=3D").replace(",", "=2C")


def unescape_saslname(raw: bytes, what: str) -> str:
    """Parse a peer's saslname strictly: only "=2C" and "=3D" escapes, no NUL."""
    if not _SASLNAME.fullmatch(raw):
        raise SASLError(f"{what}: malformed name")
    return utf8(raw, what).replace("=2C", ",").replace("=3D", "=")


@dataclass(frozen=True, slots=True)
class Gs2Header:
    """A parsed RFC 5801 GS2 header (without the non-standard "F" flag)."""

    #: "n" (no channel binding), "y" (client can bind, thinks the server
    #: cannot) or "p" (binding of type :attr:`cb_name`).
    cb_flag: str
    cb_name: str | None
    authzid: str | None
    #: The header as sent, trailing comma included (SCRAM's c= covers it).
    raw: bytes


# gs2-header = [gs2-nonstd-flag ","] gs2-cb-flag "," [gs2-authzid] ","
# gs2-cb-flag = ("p=" cb-name) / "n" / "y"
# cb-name = 1*(ALPHA / DIGIT / "." / "-")          (RFC 5056 section 7)
_GS2: Final = re.compile(rb"(n|y|p=([A-Za-z0-9.\-]{1,64})),(?:a=([^,]*))?,")


def parse_gs2_header(data: bytes, what: str) -> tuple[Gs2Header, bytes]:
    """Split ``data`` into its GS2 header and the rest.  The non-standard
    "F," flag is refused: no mechanism here is a GS2 mapping of a GSS-API one."""
    m = _GS2.match(data)
    if m is None:
        raise SASLError(f"{what}: malformed GS2 header")
    flag = m.group(1)[:1].decode("ascii")
    cb_name = m.group(2).decode("ascii") if m.group(2) is not None else None
    authzid = unescape_saslname(m.group(3), what) if m.group(3) is not None else None
    return Gs2Header(flag, cb_name, authzid, data[: m.end()]), data[m.end() :]
