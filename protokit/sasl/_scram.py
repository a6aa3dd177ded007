"""SCRAM (RFC 5802, RFC 7677): SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS
variants with channel binding (tls-server-end-point, RFC 5929, by default).

The client verifies the server signature, mandatorily and in constant time,
and refuses an iteration count above ``max_iterations``.  The server never
sees a password: it asks :class:`LookupScramCredentials` for the stored keys;
an unknown user continues with fake, deterministic credentials and fails at
the proof exactly like a wrong password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final, TypedDict, Unpack

from ..errors import LocalProtocolError
from ..wire._sasl import InvalidBase64Error, b64decode_strict, b64encode
from ..wire._secret import Secret
from ._base import (
    AuthenticationFailed,
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
from ._common import encode_local, escape_saslname, parse_gs2_header, secret, unescape_saslname
from ._credentials import ScramCredentials, keys_from_salted, salted_password, scram_hash

__all__ = [
    "DEFAULT_CHANNEL_BINDING",
    "LookupScramCredentials",
    "ScramClient",
    "ScramSHA1Client",
    "ScramSHA1PlusClient",
    "ScramSHA1PlusServer",
    "ScramSHA1Server",
    "ScramSHA256Client",
    "ScramSHA256PlusClient",
    "ScramSHA256PlusServer",
    "ScramSHA256Server",
    "ScramServer",
]

DEFAULT_CHANNEL_BINDING: Final = "tls-server-end-point"
#: The iteration count a client accepts at most, by default (DESIGN.md).
MAX_ITERATIONS: Final = 1_000_000

# printable = %x21-2B / %x2D-7E   ;; Printable ASCII except ","
_NONCE: Final = re.compile(rb"[\x21-\x2b\x2d-\x7e]{1,1024}")
# posit-number = %x31-39 *DIGIT
_POSIT: Final = re.compile(rb"[1-9][0-9]{0,9}")
# attr-val = ALPHA "=" value ; value = 1*value-char
_EXTENSION: Final = re.compile(rb"[A-Za-z]=[\x01-\x2b\x2d-\x7f\x80-\xff]+")
# server-error-value: the RFC's tokens, or any value-ext of the same shape.
_ERROR_VALUE: Final = re.compile(rb"[a-z0-9\-]{1,64}")
# Process-wide key for fake credentials when the caller gives none.
_PROCESS_KEY: Final = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupScramCredentials(Request):
    """SCRAM: the stored :class:`ScramCredentials` of ``authcid`` (who asks to
    act as ``authzid``, ``None``: as itself).

    Answer :class:`ScramCredentials`, or ``None`` for an unknown user: the
    exchange then goes on with fake credentials and fails at the proof, the
    same way and with the same :class:`Failure` as a wrong password.  The
    caller decides, before answering, whether ``authcid`` may act as
    ``authzid`` (answer ``None`` if not).
    """

    authcid: str
    authzid: str | None


def _b64(data: bytes, what: str) -> bytes:
    try:
        return b64decode_strict(data)
    except InvalidBase64Error:
        raise SASLError(f"{what}: invalid base64") from None


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _attributes(message: bytes, what: str) -> list[tuple[bytes, bytes]]:
    """Split ``a=v,b=w`` into pairs; each attribute a single letter."""
    pairs = []
    for part in message.split(b","):
        if len(part) < 2 or part[1:2] != b"=" or not part[:1].isalpha():
            raise SASLError(f"{what}: malformed attribute")
        pairs.append((part[:1], part[2:]))
    return pairs


def _check_extensions(pairs: list[tuple[bytes, bytes]], what: str) -> None:
    for key, value in pairs:
        if not _EXTENSION.fullmatch(key + b"=" + value):
            raise SASLError(f"{what}: malformed extension")


def _new_nonce() -> bytes:
    return b64encode(secrets.token_bytes(18))


def _local_nonce(nonce: str | None) -> bytes:
    if nonce is None:
        return _new_nonce()
    raw = nonce.encode("ascii", "replace")
    if not _NONCE.fullmatch(raw):
        raise LocalProtocolError("SCRAM: a nonce is printable ASCII without ','")
    return raw


class ScramClientOptions(TypedDict, total=False):
    """Keyword options of :class:`ScramClient` and its named subclasses."""

    channel_binding: bytes | None
    channel_binding_type: str
    max_iterations: int
    nonce: str | None
    authzid: str | None


class ScramClient(ClientMechanism):
    """A SCRAM client.  ``hash_name`` is "SHA-1" or "SHA-256" ("SHA-512"
    works too); ``plus`` selects the -PLUS variant, which needs
    ``channel_binding`` (e.g. :func:`tls_server_end_point` of the server's
    certificate).  Given ``channel_binding`` without ``plus``, the client sends
    the "y" flag: pass it only when the server did not offer -PLUS.
    """

    def __init__(
        self,
        hash_name: str,
        username: str,
        password: str | Secret[str],
        *,
        plus: bool = False,
        channel_binding: bytes | None = None,
        channel_binding_type: str = DEFAULT_CHANNEL_BINDING,
        max_iterations: int = MAX_ITERATIONS,
        nonce: str | None = None,
        authzid: str | None = None,
    ) -> None:
        iana, self._hash = scram_hash(hash_name)
        self.name = f"SCRAM-{iana}" + ("-PLUS" if plus else "")
        if plus and channel_binding is None:
            raise LocalProtocolError(f"{self.name} needs channel binding data")
        if not re.fullmatch(r"[A-Za-z0-9.\-]{1,64}", channel_binding_type):
            raise LocalProtocolError("SCRAM: invalid channel binding type")
        if not username or "\x00" in username:
            raise LocalProtocolError("SCRAM: the user name must be non-empty, without NUL")
        if authzid is not None and (not authzid or "\x00" in authzid):
            raise LocalProtocolError("SCRAM: the authzid must be non-empty, without NUL")
        self.username = username
        self.authzid = authzid
        self.plus = plus
        self.max_iterations = max_iterations
        self._password = secret(password)
        self._cb_data = channel_binding
        self._cb_type = channel_binding_type
        self._nonce = _local_nonce(nonce)
        if plus:
            flag = b"p=" + channel_binding_type.encode("ascii")
        else:
            flag = b"y" if channel_binding is not None else b"n"
        authz = b""
        if authzid is not None:
            authz = b"a=" + encode_local(escape_saslname(authzid), "SCRAM authzid")
        self._gs2 = flag + b"," + authz + b","
        self._first_bare = (
            b"n="
            + encode_local(escape_saslname(username), "SCRAM user name")
            + b",r="
            + self._nonce
        )
        self._state = "start"
        self._server_signature = b""
        self._verified = False

    def initial_response(self) -> bytes:
        if self._state == "start":
            self._state = "sent"
        return self._gs2 + self._first_bare

    def respond(self, challenge: bytes) -> bytes:
        if self._state in ("start", "sent") and not challenge:
            # An empty first challenge asks for the initial response.
            self._state = "sent"
            return self._gs2 + self._first_bare
        if self._state == "sent":
            return self._client_final(challenge)
        if self._state == "final":
            # A protocol without additional data with success sends the
            # server-final message as a challenge; the answer is empty.
            self._verify(challenge)
            return b""
        raise SASLError(f"{self.name}: unexpected challenge")

    def _client_final(self, server_first: bytes) -> bytes:
        what = self.name
        pairs = _attributes(server_first, what)
        if pairs[0][0] == b"m":
            raise SASLError(f"{what}: unsupported mandatory extension")
        if len(pairs) < 3 or [k for k, _ in pairs[:3]] != [b"r", b"s", b"i"]:
            raise SASLError(f"{what}: malformed server-first-message")
        _check_extensions(pairs[3:], what)
        nonce, salt_b64, iterations_raw = (v for _, v in pairs[:3])
        if not _NONCE.fullmatch(nonce):
            raise SASLError(f"{what}: malformed nonce")
        # The server's nonce must extend ours (RFC 5802 section 5.1).
        if len(nonce) <= len(self._nonce) or not hmac.compare_digest(
            nonce[: len(self._nonce)], self._nonce
        ):
            raise AuthenticationFailed(f"{what}: the server nonce does not start with ours")
        salt = _b64(salt_b64, what)
        if not salt:
            raise SASLError(f"{what}: empty salt")
        if not _POSIT.fullmatch(iterations_raw):
            raise SASLError(f"{what}: malformed iteration count")
        iterations = int(iterations_raw)
        if iterations > self.max_iterations:
            raise AuthenticationFailed(
                f"{what}: iteration count {iterations} above the cap of {self.max_iterations}"
            )
        cbind_input = self._gs2 + (self._cb_data or b"" if self.plus else b"")
        without_proof = b"c=" + b64encode(cbind_input) + b",r=" + nonce
        auth_message = self._first_bare + b"," + server_first + b"," + without_proof
        salted = salted_password(self._hash, self._password, salt, iterations)
        client_key, stored_key, server_key = keys_from_salted(self._hash, salted)
        signature = hmac.new(stored_key, auth_message, self._hash).digest()
        proof = _xor(client_key, signature)
        self._server_signature = hmac.new(server_key, auth_message, self._hash).digest()
        self._state = "final"
        return without_proof + b",p=" + b64encode(proof)

    def _verify(self, server_final: bytes) -> None:
        what = self.name
        self._state = "verified"
        if server_final.startswith(b"e="):
            value = server_final[2:].split(b",", 1)[0]
            shown = value.decode("ascii") if _ERROR_VALUE.fullmatch(value) else "(malformed)"
            raise AuthenticationFailed(f"{what}: the server reported {shown}")
        pairs = _attributes(server_final, what)
        if pairs[0][0] != b"v":
            raise SASLError(f"{what}: malformed server-final-message")
        _check_extensions(pairs[1:], what)
        signature = _b64(pairs[0][1], what)
        if not hmac.compare_digest(signature, self._server_signature):
            raise AuthenticationFailed(f"{what}: the server signature does not verify")
        self._verified = True

    def finish(self, data: bytes | None = None) -> None:
        """Success was reported: the server signature must have verified,
        either here (``data``) or as a challenge before."""
        if data:
            if self._state != "final":
                raise SASLError(f"{self.name}: unexpected additional data with success")
            self._verify(data)
        if not self._verified:
            raise AuthenticationFailed(f"{self.name}: the server did not prove its identity")


class ScramServer(ServerMechanism):
    """A SCRAM server.  ``plus`` selects the -PLUS variant and needs
    ``channel_binding`` (this connection's binding data).  Given
    ``channel_binding`` without ``plus`` (the server offers -PLUS too), a
    client's "y" flag is a downgrade and fails.  ``nonce`` fixes the server
    nonce (test vectors).  ``fake_key`` keys the fake credentials of unknown
    users (pass a persistent one so their salt is stable across restarts);
    ``fake_iterations`` should equal the count real users have.
    """

    def __init__(
        self,
        hash_name: str,
        *,
        plus: bool = False,
        channel_binding: bytes | None = None,
        channel_binding_type: str = DEFAULT_CHANNEL_BINDING,
        nonce: str | None = None,
        fake_key: bytes | None = None,
        fake_iterations: int = 4096,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(**options)
        iana, self._hash = scram_hash(hash_name)
        self.name = f"SCRAM-{iana}" + ("-PLUS" if plus else "")
        if plus and channel_binding is None:
            raise LocalProtocolError(f"{self.name} needs channel binding data")
        self.plus = plus
        self._cb_data = channel_binding
        self._cb_type = channel_binding_type
        self._server_nonce = _local_nonce(nonce)
        self._fake_key = _PROCESS_KEY if fake_key is None else fake_key
        self._fake_iterations = fake_iterations
        self._state = "start"
        self._gs2 = b""
        self._first_bare = b""
        self._nonce = b""
        self._server_first = b""
        self._authcid = ""
        self._authzid: str | None = None
        self._creds: ScramCredentials | None = None
        self._known = False

    # -- client-first-message ---------------------------------------------------

    def _start(self, initial: bytes | None) -> Step:
        if initial is None:
            self._state = "waiting"
            return Challenge(data=b"")
        return self._client_first(initial)

    def _client_first(self, message: bytes) -> Step:
        what = self.name
        self._state = "first"
        gs2, bare = parse_gs2_header(message, what)
        if self.plus:
            if gs2.cb_flag != "p":
                raise SASLError(f"{what}: channel binding is required")
            if gs2.cb_name != self._cb_type:
                raise SASLError(f"{what}: unsupported channel binding type")
        elif gs2.cb_flag == "p":
            raise SASLError(f"{what}: channel binding with a mechanism without it")
        elif gs2.cb_flag == "y" and self._cb_data is not None:
            # RFC 5802 section 6: the client thinks we cannot bind, but we
            # offered -PLUS: someone removed it from the list.
            raise SASLError(f"{what}: server-does-support-channel-binding")
        pairs = _attributes(bare, what)
        if pairs[0][0] == b"m":
            raise SASLError(f"{what}: extensions-not-supported")
        if len(pairs) < 2 or pairs[0][0] != b"n" or pairs[1][0] != b"r":
            raise SASLError(f"{what}: malformed client-first-message")
        _check_extensions(pairs[2:], what)
        if not pairs[0][1]:
            raise SASLError(f"{what}: empty user name")
        self._authcid = unescape_saslname(pairs[0][1], what)
        if not _NONCE.fullmatch(pairs[1][1]):
            raise SASLError(f"{what}: malformed nonce")
        self._authzid = gs2.authzid
        self._gs2 = gs2.raw
        self._first_bare = bare
        self._nonce = pairs[1][1] + self._server_nonce
        return LookupScramCredentials(authcid=self._authcid, authzid=self._authzid)

    def _fake_credentials(self) -> ScramCredentials:
        size = hashlib.new(self._hash).digest_size
        user = self._authcid.encode("utf-8")
        salt = hmac.new(self._fake_key, b"salt\x00" + user, "sha256").digest()[:16]
        stored = hmac.new(self._fake_key, b"stored\x00" + user, "sha512").digest()[:size]
        server = hmac.new(self._fake_key, b"server\x00" + user, "sha512").digest()[:size]
        return ScramCredentials(salt, self._fake_iterations, stored, server)

    def _answer(self, request: Request, result: object) -> Step:
        if result is not None and not isinstance(result, ScramCredentials):
            raise LocalProtocolError(
                f"{self.name}: answer LookupScramCredentials with ScramCredentials or None"
            )
        fake = self._fake_credentials()
        # One path for known and unknown users: only the values differ.
        self._creds = result if result is not None else fake
        self._known = result is not None
        self._server_first = (
            b"r="
            + self._nonce
            + b",s="
            + b64encode(self._creds.salt)
            + b",i="
            + str(self._creds.iterations).encode("ascii")
        )
        self._state = "server-first"
        return Challenge(data=self._server_first)

    # -- client-final-message ---------------------------------------------------

    def _receive(self, response: bytes) -> Step:
        if self._state == "waiting":
            return self._client_first(response)
        if self._state != "server-first":
            raise SASLError(f"{self.name}: unexpected response")
        self._state = "done"
        return self._client_final(response)

    def _client_final(self, message: bytes) -> Step:
        what = self.name
        without_proof, sep, proof_b64 = message.rpartition(b",p=")
        if not sep:
            raise SASLError(f"{what}: the proof is missing")
        pairs = _attributes(without_proof, what)
        if len(pairs) < 2 or pairs[0][0] != b"c" or pairs[1][0] != b"r":
            raise SASLError(f"{what}: malformed client-final-message")
        _check_extensions(pairs[2:], what)
        cbind = _b64(pairs[0][1], what)
        proof = _b64(proof_b64, what)
        if not hmac.compare_digest(pairs[1][1], self._nonce):
            raise SASLError(f"{what}: the nonce does not match")
        expected_cbind = self._gs2 + (self._cb_data or b"" if self.plus else b"")
        if not hmac.compare_digest(cbind, expected_cbind):
            raise SASLError(f"{what}: channel-bindings-dont-match")
        creds = self._creds
        assert creds is not None
        stored_key = creds.stored_key.expose()
        if len(proof) != len(stored_key):
            raise SASLError(f"{what}: malformed proof")
        auth_message = self._first_bare + b"," + self._server_first + b"," + without_proof
        signature = hmac.new(stored_key, auth_message, self._hash).digest()
        client_key = _xor(proof, signature)
        ok = hmac.compare_digest(hashlib.new(self._hash, client_key).digest(), stored_key)
        if not (ok and self._known):
            return Failure(reason=f"{what}: invalid-proof")
        server_signature = hmac.new(creds.server_key.expose(), auth_message, self._hash).digest()
        return Success(
            authcid=self._authcid, authzid=self._authzid, data=b"v=" + b64encode(server_signature)
        )


# -- the named variants ---------------------------------------------------------


class ScramSHA1Client(ScramClient):
    """SCRAM-SHA-1 client."""

    name = "SCRAM-SHA-1"

    def __init__(
        self, username: str, password: str | Secret[str], **options: Unpack[ScramClientOptions]
    ) -> None:
        super().__init__("SHA-1", username, password, plus=False, **options)


class ScramSHA1PlusClient(ScramClient):
    """SCRAM-SHA-1-PLUS client (``channel_binding`` required)."""

    name = "SCRAM-SHA-1-PLUS"

    def __init__(
        self, username: str, password: str | Secret[str], **options: Unpack[ScramClientOptions]
    ) -> None:
        super().__init__("SHA-1", username, password, plus=True, **options)


class ScramSHA256Client(ScramClient):
    """SCRAM-SHA-256 client."""

    name = "SCRAM-SHA-256"

    def __init__(
        self, username: str, password: str | Secret[str], **options: Unpack[ScramClientOptions]
    ) -> None:
        super().__init__("SHA-256", username, password, plus=False, **options)


class ScramSHA256PlusClient(ScramClient):
    """SCRAM-SHA-256-PLUS client (``channel_binding`` required)."""

    name = "SCRAM-SHA-256-PLUS"

    def __init__(
        self, username: str, password: str | Secret[str], **options: Unpack[ScramClientOptions]
    ) -> None:
        super().__init__("SHA-256", username, password, plus=True, **options)


class ScramServerOptions(ServerOptions, total=False):
    """Keyword options of :class:`ScramServer` and its named subclasses."""

    channel_binding: bytes | None
    channel_binding_type: str
    nonce: str | None
    fake_key: bytes | None
    fake_iterations: int


class ScramSHA1Server(ScramServer):
    """SCRAM-SHA-1 server."""

    name = "SCRAM-SHA-1"

    def __init__(self, **options: Unpack[ScramServerOptions]) -> None:
        super().__init__("SHA-1", plus=False, **options)


class ScramSHA1PlusServer(ScramServer):
    """SCRAM-SHA-1-PLUS server (``channel_binding`` required)."""

    name = "SCRAM-SHA-1-PLUS"

    def __init__(self, **options: Unpack[ScramServerOptions]) -> None:
        super().__init__("SHA-1", plus=True, **options)


class ScramSHA256Server(ScramServer):
    """SCRAM-SHA-256 server."""

    name = "SCRAM-SHA-256"

    def __init__(self, **options: Unpack[ScramServerOptions]) -> None:
        super().__init__("SHA-256", plus=False, **options)


class ScramSHA256PlusServer(ScramServer):
    """SCRAM-SHA-256-PLUS server (``channel_binding`` required)."""

    name = "SCRAM-SHA-256-PLUS"

    def __init__(self, **options: Unpack[ScramServerOptions]) -> None:
        super().__init__("SHA-256", plus=True, **options)
