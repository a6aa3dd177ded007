"""SASL framing shared by IMAP (RFC 9051 section 6.2.2), POP3 (RFC 5034) and
SMTP (RFC 4954): strict base64, the absent vs empty initial response, and the
"*" that cancels an exchange.

The protocol codecs add their own prefixes ("+ ", "334 ") and line endings;
the mechanisms in :mod:`protokit.sasl` see only the decoded bytes.
"""

from __future__ import annotations

import binascii
import enum
from typing import Final

from ..errors import RemoteProtocolError

__all__ = [
    "CANCEL",
    "Cancel",
    "InvalidBase64Error",
    "b64decode_strict",
    "b64encode",
    "format_initial_response",
    "format_response",
    "parse_challenge",
    "parse_initial_response",
    "parse_response",
]


class InvalidBase64Error(RemoteProtocolError):
    """The peer sent SASL data that is not canonical, padded base64."""


class Cancel(enum.Enum):
    """The type of :data:`CANCEL`: the client answered a challenge with "*"."""

    CANCEL = "*"

    def __repr__(self) -> str:
        return "CANCEL"


CANCEL: Final = Cancel.CANCEL


def b64encode(data: bytes) -> bytes:
    """Base64 without line breaks; ``b""`` for empty data."""
    return binascii.b2a_base64(data, newline=False)


def b64decode_strict(data: bytes | bytearray | memoryview) -> bytes:
    """Decode base64 strictly: only the alphabet, correct padding, no spaces.

    Raises :class:`InvalidBase64Error` (never ``binascii.Error``).
    """
    if len(data) % 4:
        raise InvalidBase64Error("base64 length is not a multiple of 4")
    try:
        decoded = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidBase64Error("invalid base64") from None
    # Canonical form only: unused trailing bits must be zero, so one value has
    # one encoding (binascii ignores them even in strict mode).
    if b64encode(decoded) != bytes(data):
        raise InvalidBase64Error("non-canonical base64")
    return decoded


def parse_initial_response(token: bytes | None) -> bytes | None:
    """The initial response on an AUTH/AUTHENTICATE line.

    ``None`` (no argument) means absent: the server must send an empty
    challenge.  ``b"="`` means present and empty (RFC 4954 section 4).
    """
    if token is None:
        return None
    if token == b"=":
        return b""
    if token == b"":
        raise InvalidBase64Error("empty initial response: send '=' for an empty one")
    return b64decode_strict(token)


def format_initial_response(data: bytes | None) -> bytes | None:
    """The inverse of :func:`parse_initial_response`."""
    if data is None:
        return None
    if data == b"":
        return b"="
    return b64encode(data)


def parse_response(line: bytes) -> bytes | Cancel:
    """A client's answer to a challenge: base64, empty, or "*" to cancel."""
    if line == b"*":
        return CANCEL
    return b64decode_strict(line)


def format_response(data: bytes | Cancel) -> bytes:
    """The inverse of :func:`parse_response` (without the line ending)."""
    if data is CANCEL:
        return b"*"
    return b64encode(data)


def parse_challenge(text: bytes) -> bytes:
    """A server's challenge after the protocol's prefix ("+ ", "334 ").

    Servers that send "+" with no text mean an empty challenge.
    """
    if not text.strip(b" "):
        return b""
    return b64decode_strict(text)
