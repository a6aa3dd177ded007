"""POP3 events: commands (client to server), what the server connection asks
its application, and what the client connection reports.

All are frozen, slotted, keyword-only dataclasses.  Commands are validated
when written (:func:`protokit.pop3.write_command`, ``ClientConnection.send``),
not when built, so the parser's hot path builds them without re-checking.
Passwords, digests and SASL data are :class:`~protokit.Secret`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass

from ..wire._secret import Secret

__all__ = [
    "Apop",
    "ApopLogin",
    "Auth",
    "Capa",
    "Capabilities",
    "Command",
    "CommandError",
    "ConnectionClosed",
    "Dele",
    "Err",
    "Greeting",
    "List",
    "ListResult",
    "MaildropEntry",
    "MechanismList",
    "MessageData",
    "MessageEnd",
    "MessageRequested",
    "MessageStart",
    "Noop",
    "Ok",
    "Pass",
    "PasswordLogin",
    "Quit",
    "ResponseCode",
    "Retr",
    "Rset",
    "SaslAuthenticated",
    "SaslFailed",
    "SaslRequest",
    "StartTLS",
    "Stat",
    "StatResult",
    "Stls",
    "Top",
    "Uidl",
    "UidlResult",
    "UpdateRequested",
    "User",
    "UserReceived",
    "Utf8",
    "apop_digest",
]


class ResponseCode(enum.StrEnum):
    """The extended response codes of RFC 2449 section 8 and RFC 3206."""

    #: RFC 2449 8.1.1: the maildrop is locked by another session.
    IN_USE = "IN-USE"
    #: RFC 2449 8.1.2: logging in again this soon is not allowed.
    LOGIN_DELAY = "LOGIN-DELAY"
    #: RFC 3206 4: a temporary system problem; try again later.
    SYS_TEMP = "SYS/TEMP"
    #: RFC 3206 4: a permanent system problem; do not retry blindly.
    SYS_PERM = "SYS/PERM"
    #: RFC 3206 5: the credentials are wrong (or the method is refused).
    AUTH = "AUTH"


def apop_digest(timestamp: str, password: str | Secret[str]) -> str:
    """RFC 1939 section 7: MD5 of the greeting's timestamp followed by the
    shared secret, as 32 lower-case hex digits."""
    secret = password.expose() if isinstance(password, Secret) else password
    return hashlib.md5((timestamp + secret).encode("utf-8"), usedforsecurity=False).hexdigest()


# -- commands -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """USER name (RFC 1939 section 7)."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Pass:
    """PASS string (RFC 1939 section 7); spaces are part of the password."""

    password: Secret[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Apop:
    """APOP name digest (RFC 1939 section 7)."""

    name: str
    digest: Secret[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth:
    """AUTH [mechanism [initial-response]] (RFC 5034).

    ``mechanism=None`` is the argument-less form many servers answer with a
    list of mechanisms.  ``initial_response`` holds the decoded bytes
    (``b""`` is sent as "="); ``None`` means absent.
    """

    mechanism: str | None = None
    initial_response: Secret[bytes] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Capa:
    """CAPA (RFC 2449 section 5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stls:
    """STLS (RFC 2595 section 4)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Stat:
    """STAT (RFC 1939 section 5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class List:
    """LIST [msg] (RFC 1939 section 5)."""

    msg: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Retr:
    """RETR msg (RFC 1939 section 5)."""

    msg: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Top:
    """TOP msg n (RFC 1939 section 7): the headers and ``lines`` body lines."""

    msg: int
    lines: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Uidl:
    """UIDL [msg] (RFC 1939 section 7)."""

    msg: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Dele:
    """DELE msg (RFC 1939 section 5)."""

    msg: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Rset:
    """RSET (RFC 1939 section 5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop:
    """NOOP (RFC 1939 section 5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit:
    """QUIT (RFC 1939 sections 4 and 6)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Utf8:
    """UTF8 (RFC 6856 section 2)."""


#: Any POP3 command.
Command = (
    User
    | Pass
    | Apop
    | Auth
    | Capa
    | Stls
    | Stat
    | List
    | Retr
    | Top
    | Uidl
    | Dele
    | Rset
    | Noop
    | Quit
    | Utf8
)


# -- server side: what the application is asked ----------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MaildropEntry:
    """One message of a maildrop, as the application lists it.

    ``size`` is the exact size in octets with CRLF line endings (RFC 1939
    section 11); ``uid`` the UIDL unique-id (1 to 70 octets 0x21-0x7E).
    """

    size: int
    uid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserReceived:
    """USER name arrived (only with ``ServerConfig.check_user``).

    Answer with ``accept_user()`` or ``reject_user()``.
    """

    username: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordLogin:
    """USER/PASS arrived.  Answer ``accept_login()`` or ``reject_login()``."""

    username: str
    password: Secret[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApopLogin:
    """APOP arrived.  Check it with :meth:`verify` against the user's shared
    secret, then answer ``accept_login()`` or ``reject_login()``."""

    username: str
    timestamp: str
    digest: Secret[str]

    def verify(self, password: str | Secret[str]) -> bool:
        """Whether the digest matches ``password`` (constant-time compare)."""
        expected = apop_digest(self.timestamp, password).encode("ascii")
        return hmac.compare_digest(expected, self.digest.expose().encode("ascii"))


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslRequest:
    """The SASL mechanism asks a question (a ``protokit.sasl`` Request such as
    VerifyPassword).  Answer with ``answer_sasl(result)``."""

    mechanism: str
    request: object


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslAuthenticated:
    """The SASL exchange succeeded.  Decide whether ``authcid`` may act as
    ``authzid``, then answer ``accept_login()`` or ``reject_login()``."""

    mechanism: str
    authcid: str
    authzid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslFailed:
    """A SASL exchange failed or was cancelled; the "-ERR" is already queued.
    ``reason`` is for logs and lockout counters: it never holds a secret and
    never says whether the user exists.  Nothing needs answering."""

    mechanism: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRequested:
    """RETR (``lines is None``) or TOP (``lines`` body lines) for message
    ``number``.  Stream it with ``send_message_data()`` then ``end_message()``,
    or refuse with ``fail_message()`` before the first chunk.  For TOP the
    server cuts headers and lines itself: stream the message and stop when
    ``ServerConnection.message_wanted`` turns false."""

    number: int
    uid: str
    size: int
    lines: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRequested:
    """QUIT in the TRANSACTION state: the UPDATE state (RFC 1939 section 6).

    Remove ``deleted`` (message numbers; ``deleted_uids`` the same messages'
    unique-ids), then answer ``finish_update()``; the QUIT was received, so
    remove them even if the connection closes meanwhile.  ``retrieved`` lists what
    RETR sent completely, for servers that mark messages as downloaded.
    """

    deleted: tuple[int, ...]
    deleted_uids: tuple[str, ...]
    retrieved: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandError:
    """A command was refused (unknown, malformed, not valid now).  The "-ERR"
    reply is already queued; the event is for logs and counters."""

    message: str


# -- both sides -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTLS:
    """STLS was accepted: wrap the stream in TLS now, then call
    ``tls_established()``.  Nothing more is read until then."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """The session is over: the peer closed, or QUIT completed."""


# -- client side: what the server said ---------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Greeting:
    """The server's "+OK" greeting; ``timestamp`` is the APOP one, if any."""

    text: str
    timestamp: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ok:
    """A "+OK" reply to ``command`` (its keyword), with any response code."""

    command: str
    text: str
    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Err:
    """A "-ERR" reply to ``command``, with any response code (RFC 2449 8)."""

    command: str
    text: str
    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatResult:
    """STAT's reply: messages and octets, deleted ones excluded."""

    count: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ListResult:
    """LIST's reply: (message-number, size) pairs (one for LIST msg)."""

    entries: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UidlResult:
    """UIDL's reply: (message-number, unique-id) pairs (one for UIDL msg)."""

    entries: tuple[tuple[int, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """CAPA's reply: each capability tag (upper-cased) with its parameters,
    in the server's order."""

    capabilities: tuple[tuple[str, tuple[str, ...]], ...]

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, str) and any(t == tag.upper() for t, _ in self.capabilities)

    def get(self, tag: str) -> tuple[str, ...] | None:
        """The parameters of ``tag``, or None when it is not offered."""
        tag = tag.upper()
        for t, params in self.capabilities:
            if t == tag:
                return params
        return None

    @property
    def sasl_mechanisms(self) -> tuple[str, ...]:
        return tuple(m.upper() for m in self.get("SASL") or ())


@dataclass(frozen=True, slots=True, kw_only=True)
class MechanismList:
    """The reply to an argument-less AUTH: the mechanisms offered."""

    mechanisms: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageStart:
    """RETR's or TOP's "+OK": the message's bytes follow as MessageData."""

    command: str
    number: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData:
    """A chunk of the message, dot-unstuffed; CRLF line endings as sent."""

    data: bytes

    def __repr__(self) -> str:
        return f"MessageData(<{len(self.data)} bytes>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEnd:
    """The message ended.  ``size`` counts the unstuffed octets delivered."""

    number: int
    size: int
