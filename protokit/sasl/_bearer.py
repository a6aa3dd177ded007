"""What XOAUTH2 and OAUTHBEARER share: the bearer credential grammar, the JSON
error challenge, and the caller's :class:`TokenResult`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

from ..errors import LocalProtocolError
from ..wire._secret import Secret
from ._base import SASLError
from ._requests import TokenResult

__all__ = ["decode_error", "encode_error", "parse_bearer", "token_result"]

# RFC 6750 section 2.1:
#   credentials = "Bearer" 1*SP b64token
#   b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
# The scheme is case-insensitive (RFC 7628 section 4).  The token is bounded
# by the protocol's AUTH line limit; the repetition here is bounded too.
_BEARER: Final = re.compile(rb"([Bb][Ee][Aa][Rr][Ee][Rr]) +([A-Za-z0-9\-._~+/]{1,65536}=*)")
_SCHEME: Final = re.compile(rb"[!-~]+")

#: The longest error challenge a client keeps.
MAX_ERROR: Final = 16384


def parse_bearer(value: bytes, what: str) -> Secret[str] | None:
    """The token of an ``auth`` value; ``None`` when it is empty or another
    scheme (the server answers with its error challenge, RFC 7628 section 4.3).
    A malformed Bearer credential raises :class:`SASLError`."""
    if not value:
        return None
    scheme = value.split(b" ", 1)[0]
    if not _SCHEME.fullmatch(scheme):
        raise SASLError(f"{what}: malformed auth value")
    if scheme.lower() != b"bearer":
        return None
    m = _BEARER.fullmatch(value)
    if m is None:
        raise SASLError(f"{what}: malformed bearer token")
    return Secret(m.group(2).decode("ascii"))


def encode_error(error: Mapping[str, object] | bytes) -> bytes:
    """The JSON body of an error challenge (``bytes`` are sent verbatim)."""
    if isinstance(error, bytes):
        return error
    try:
        return json.dumps(dict(error), separators=(",", ":"), ensure_ascii=True).encode("ascii")
    except (TypeError, ValueError):
        raise LocalProtocolError("the token error must be JSON-serialisable") from None


def decode_error(data: bytes) -> dict[str, object] | None:
    """Client side: the server's JSON error object, or ``None`` if it is not one."""
    if len(data) > MAX_ERROR:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def token_result(result: object, what: str) -> TokenResult:
    """Normalise the caller's answer to :class:`ValidateToken`."""
    if isinstance(result, bool):
        return TokenResult(valid=result)
    if not isinstance(result, TokenResult):
        raise LocalProtocolError(f"{what}: answer ValidateToken with a TokenResult or bool")
    return result


def check_client_value(value: str, what: str) -> None:
    """Refuse control characters in a value a client puts in a kv message."""
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise LocalProtocolError(f"{what} must be non-empty, without control characters")
