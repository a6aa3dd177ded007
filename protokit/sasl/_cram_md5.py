"""CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client
answers ``user SP hex(HMAC-MD5(password, challenge))``.

Weak by today's standards (the server stores a password equivalent); offered
for the servers that still ask for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from typing import ClassVar, Final, Unpack

from ..errors import LocalProtocolError
from ..wire._secret import Secret
from ._base import (
    Challenge,
    ClientMechanism,
    Failure,
    Request,
    SASLError,
    ServerMechanism,
    ServerOptions,
    Step,
    Success,
)
from ._common import encode_local, secret, utf8
from ._requests import LookupPassword

__all__ = ["CramMD5Client", "CramMD5Server", "cram_md5_digest"]

# response = user SP digest ; digest = 32 lowercase hex digits (RFC 2195 section 2)
_RESPONSE: Final = re.compile(rb"([^\x00-\x1f\x7f]{1,1024}) ([0-9a-f]{32})")
# The challenge is a msg-id: "<" ... ">", printable ASCII.
_CHALLENGE: Final = re.compile(rb"<[\x21-\x7e]{1,1022}>")


def cram_md5_digest(password: Secret[str], challenge: bytes) -> bytes:
    """The lowercase hex HMAC-MD5 of ``challenge`` keyed with the password."""
    key = encode_local(password.expose(), "CRAM-MD5 password")
    return hmac.new(key, challenge, hashlib.md5).hexdigest().encode("ascii")


def _default_challenge(hostname: str) -> bytes:
    # RFC 2195: "<" random "." timestamp "@" hostname ">"
    return b"<%d.%d@%s>" % (
        secrets.randbelow(2**63),
        time.time_ns() // 1000,
        hostname.encode("idna"),
    )


class CramMD5Client(ClientMechanism):
    """CRAM-MD5 client: no initial response; answers the one challenge."""

    name = "CRAM-MD5"
    client_first: ClassVar[bool] = False

    def __init__(self, username: str, password: str | Secret[str]) -> None:
        if not username or any(ord(c) < 0x20 or ord(c) == 0x7F for c in username):
            raise LocalProtocolError("CRAM-MD5: the user name must be non-empty, no controls")
        self.username = username
        self._password = secret(password)
        self._answered = False

    def initial_response(self) -> bytes | None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        if self._answered:
            raise SASLError("CRAM-MD5: unexpected second challenge")
        if not _CHALLENGE.fullmatch(challenge):
            raise SASLError("CRAM-MD5: malformed challenge")
        self._answered = True
        user = encode_local(self.username, "CRAM-MD5 user name")
        return user + b" " + cram_md5_digest(self._password, challenge)


class CramMD5Server(ServerMechanism):
    """CRAM-MD5 server.  Sends ``<random.timestamp@hostname>`` (or what
    ``challenge`` returns, for test vectors), then asks
    :class:`LookupPassword`: answer the password as ``Secret[str]``, or
    ``None`` for an unknown user (same outcome, same path as a wrong one)."""

    name = "CRAM-MD5"
    client_first: ClassVar[bool] = False

    def __init__(
        self,
        hostname: str = "localhost",
        *,
        challenge: Callable[[], bytes] | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(**options)
        self._challenge = (challenge or (lambda: _default_challenge(hostname)))()
        if not _CHALLENGE.fullmatch(self._challenge):
            raise LocalProtocolError("CRAM-MD5: the challenge must look like <...@host>")
        self._user: str | None = None
        self._digest = b""

    def _start(self, initial: bytes | None) -> Step:
        if initial is not None:
            raise SASLError("CRAM-MD5: the mechanism has no initial response")
        return Challenge(data=self._challenge)

    def _receive(self, response: bytes) -> Step:
        if self._user is not None:
            raise SASLError("CRAM-MD5: unexpected response")
        m = _RESPONSE.fullmatch(response)
        if m is None:
            raise SASLError("CRAM-MD5: malformed response")
        self._user = utf8(m.group(1), "CRAM-MD5 user name")
        self._digest = m.group(2)
        return LookupPassword(authcid=self._user)

    def _answer(self, request: Request, result: object) -> Step:
        if isinstance(result, str):
            result = Secret(result)
        if result is not None and not isinstance(result, Secret):
            raise LocalProtocolError("CRAM-MD5: answer LookupPassword with Secret[str] or None")
        # Same work either way: an unknown user is checked against a random key.
        password = result if result is not None else Secret(secrets.token_hex(16))
        expected = cram_md5_digest(password, self._challenge)
        ok = hmac.compare_digest(expected, self._digest) and result is not None
        assert self._user is not None
        if not ok:
            return Failure(reason="CRAM-MD5: authentication failed")
        return Success(authcid=self._user)
