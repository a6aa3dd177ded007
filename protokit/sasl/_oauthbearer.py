"""OAUTHBEARER (RFC 7628): a GS2 header, then key/value pairs separated by
0x01 (``host``, ``port``, ``auth``).  On failure the server sends a JSON
error challenge and the client answers with a single 0x01."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Unpack

from ..errors import LocalProtocolError
from ._base import (
    Challenge,
    SASLError,
    ServerOptions,
    Step,
)
from ._bearer import (
    BearerClient,
    BearerServer,
    check_client_value,
    encode_error,
    parse_bearer,
)
from ._common import (
    TokenSource,
    encode_local,
    escape_saslname,
    parse_gs2_header,
)
from ._requests import ValidateToken

__all__ = ["OAUTHBEARER_DEFAULT_ERROR", "OAuthBearerClient", "OAuthBearerServer"]

#: The error a server sends when the caller gives none (RFC 7628 section 3.2.2).
OAUTHBEARER_DEFAULT_ERROR: Final[Mapping[str, object]] = {"status": "invalid_token"}

# RFC 7628 section 3.1:
#   kvsep  = %x01
#   key    = 1*(ALPHA)
#   value  = *(VCHAR / SP / HTAB / CR / LF )
#   kvpair = key "=" value kvsep
#   client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
_KVPAIR: Final = re.compile(rb"([A-Za-z]{1,64})=([\x21-\x7e \t\r\n]*)")
# "a decimal positive integer string without leading zeros"
_PORT: Final = re.compile(rb"[1-9][0-9]{0,4}")
# A host name or address literal: VCHARs without the separators of a URL.
_HOST: Final = re.compile(rb"[A-Za-z0-9.\-_:\[\]%]{1,255}")


class OAuthBearerClient(BearerClient):
    """OAUTHBEARER client.  ``authzid`` (the user) goes in the GS2 header,
    escaped; ``host`` and ``port`` are what the client connected to.  ``token``
    is a str, a ``Secret[str]`` or a callable returning either, called when
    the initial response is made.  After a rejected token, :attr:`error`
    holds the server's JSON error."""

    name = "OAUTHBEARER"
    # RFC 7628 section 3.2.3: answer the error with a single 0x01.
    _error_answer = b"\x01"

    def __init__(
        self,
        authzid: str | None,
        token: TokenSource,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        if authzid is not None:
            check_client_value(authzid, "OAUTHBEARER: the user")
        if host is not None and not _HOST.fullmatch(encode_local(host, "OAUTHBEARER host")):
            raise LocalProtocolError("OAUTHBEARER: invalid host")
        if port is not None and not (isinstance(port, int) and 0 < port < 65536):
            raise LocalProtocolError("OAUTHBEARER: the port is an integer from 1 to 65535")
        super().__init__(token)
        self.authzid = authzid
        self.host = host
        self.port = port

    def _compose(self, token: str) -> bytes:
        gs2 = b"n,"
        if self.authzid is not None:
            gs2 += b"a=" + encode_local(escape_saslname(self.authzid), "OAUTHBEARER user")
        parts = [gs2 + b","]
        if self.host is not None:
            parts.append(b"host=" + self.host.encode("ascii"))
        if self.port is not None:
            parts.append(b"port=%d" % self.port)
        parts.append(b"auth=Bearer " + encode_local(token, "OAUTHBEARER token"))
        return b"\x01".join(parts) + b"\x01\x01"


class OAuthBearerServer(BearerServer):
    """OAUTHBEARER server: a strict parse of the GS2 header and the key/value
    pairs, then :class:`ValidateToken`.

    ``host``/``port``, when given, must match what the client sent (RFC 7628
    section 3.2).  An empty ``auth`` (a client asking for the scope), another
    scheme, a mismatch or an invalid token get the JSON error challenge
    (``error``, the :class:`TokenResult`'s, or
    :data:`OAUTHBEARER_DEFAULT_ERROR`); the only reply accepted after it is a
    single 0x01, and the exchange then fails.
    """

    name = "OAUTHBEARER"
    _error_answer = b"\x01"
    _error_answer_text = "a single 0x01"

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        error: Mapping[str, object] | bytes | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(
            error=encode_error(OAUTHBEARER_DEFAULT_ERROR if error is None else error), **options
        )
        self._host = host.lower() if host is not None else None
        self._port = port

    def _parse(self, message: bytes) -> Step:
        self._state = "parsed"
        if message == b"\x01":
            raise SASLError("OAUTHBEARER: a lone 0x01 is only an answer to an error")
        gs2, rest = parse_gs2_header(message, "OAUTHBEARER")
        if gs2.cb_flag == "p":
            raise SASLError("OAUTHBEARER: channel binding is not supported")
        # rest = kvsep *kvpair kvsep
        if len(rest) < 2 or rest[:1] != b"\x01" or rest[-1:] != b"\x01":
            raise SASLError("OAUTHBEARER: malformed key/value pairs")
        fields: dict[bytes, bytes] = {}
        body = rest[1:-1]
        if body:
            if not body.endswith(b"\x01"):
                raise SASLError("OAUTHBEARER: malformed key/value pairs")
            for pair in body[:-1].split(b"\x01"):
                m = _KVPAIR.fullmatch(pair)
                if m is None:
                    raise SASLError("OAUTHBEARER: malformed key/value pair")
                if m.group(1) in fields:
                    raise SASLError("OAUTHBEARER: repeated key")
                # Unknown keys are ignored (RFC 7628 section 3.1).
                fields[m.group(1)] = m.group(2)
        if b"auth" not in fields:
            raise SASLError("OAUTHBEARER: the auth key is required")
        host: str | None = None
        port: int | None = None
        if b"host" in fields:
            if not _HOST.fullmatch(fields[b"host"]):
                raise SASLError("OAUTHBEARER: malformed host")
            host = fields[b"host"].decode("ascii")
        if b"port" in fields:
            if not _PORT.fullmatch(fields[b"port"]) or int(fields[b"port"]) > 65535:
                raise SASLError("OAUTHBEARER: malformed port")
            port = int(fields[b"port"])
        token = parse_bearer(fields[b"auth"], "OAUTHBEARER")
        self._user = gs2.authzid
        mismatch = (self._host is not None and (host or "").lower() != self._host) or (
            self._port is not None and port != self._port
        )
        if token is None or mismatch:
            self._state = "error"
            return Challenge(data=self._error)
        return ValidateToken(user=gs2.authzid, token=token, host=host, port=port)
