"""Events of the IMAP client and server connections.

Frozen, slotted, keyword-only dataclasses.  Parsed protocol values (commands
and responses) are carried as the codec's types; these events say what the
connection made of them.  A client event about a command refers to its
:class:`CommandHandle`.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ..sasl import Request
from ._commands import Command
from ._responses import Fetch, Response, Status
from ._types import Flag, Mailbox, Tag

__all__ = [
    "AppendAnnounced",
    "AuthenticationFailed",
    "BodyChunk",
    "BodyEnd",
    "BodyStart",
    "ClientEvent",
    "CommandError",
    "CommandHandle",
    "CommandReceived",
    "Completed",
    "CompressRequested",
    "CompressionStarted",
    "ConnectionClosed",
    "Continued",
    "Greeting",
    "IdleDone",
    "IdleStarted",
    "SaslAuthenticated",
    "SaslRequest",
    "ServerEvent",
    "StartTLSRequested",
    "TLSUpgradeReady",
    "UnexpectedContinuation",
    "Untagged",
]


class CommandHandle:
    """A command the client has queued: its tag and name, and once the server
    has answered, its tagged :class:`Status` (``response``)."""

    __slots__ = ("name", "response", "tag")

    def __init__(self, tag: Tag, name: str) -> None:
        self.tag = tag
        self.name = name
        self.response: Status | None = None

    @property
    def done(self) -> bool:
        return self.response is not None

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.status == "OK"

    def __repr__(self) -> str:
        state = self.response.status if self.response is not None else "pending"
        return f"<CommandHandle {self.tag} {self.name} {state}>"


# -- both sides ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyStart:
    """A literal too large to hold begins (a FETCH body on the client, an
    APPEND message or other command literal on the server); ``tag``: the
    command it belongs to (server side), ``command``: that command's name
    (server) or the response's ("FETCH", client), ``seq``: the message
    number of a FETCH response (client), ``head``: the FETCH items that
    came before the literal on the response's first line (e.g. UID and
    FLAGS), the literal's own item as NIL (client; ``None`` if unreadable)."""

    length: int
    binary: bool = False
    tag: str | None = None
    command: str | None = None
    seq: int | None = None
    head: Fetch | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyChunk:
    """Some octets of the streamed literal, in order."""

    data: bytes

    def __repr__(self) -> str:
        return f"BodyChunk(<{len(self.data)} octets>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyEnd:
    """The streamed literal is complete; the response or command holding it
    follows, with a ``StreamedLiteral`` in its place."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed:
    """The peer closed the connection (after BYE, or abruptly)."""


# -- client -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Greeting:
    """The server's greeting: OK, PREAUTH or BYE."""

    response: Status


@dataclass(frozen=True, slots=True, kw_only=True)
class Untagged:
    """An untagged response (data, or an untagged status such as BYE)."""

    response: Response


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed:
    """A command's tagged OK, NO or BAD.  After NO/BAD before a synchronizing
    literal's "+", the literal was not (and will never be) sent."""

    handle: CommandHandle
    response: Status

    @property
    def ok(self) -> bool:
        return self.response.status == "OK"


@dataclass(frozen=True, slots=True, kw_only=True)
class Continued:
    """The server's "+" released a synchronizing literal of ``handle``."""

    handle: CommandHandle
    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleStarted:
    """The server accepted IDLE ("+"): send DONE (``conn.done()``) to end it."""

    handle: CommandHandle


@dataclass(frozen=True, slots=True, kw_only=True)
class UnexpectedContinuation:
    """A "+" that no literal, SASL exchange or IDLE was waiting for."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class TLSUpgradeReady:
    """STARTTLS succeeded: start the TLS handshake now, then call
    ``conn.start_tls_done()``.  Nothing was received past the OK."""

    handle: CommandHandle


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressionStarted:
    """COMPRESS succeeded: from here on, compress what ``data_to_send()``
    returns and decompress what is received before ``receive_data()``.
    ``pending`` holds octets already received after the OK: compressed
    data, to decompress and feed back first."""

    handle: CommandHandle
    mechanism: str
    pending: bytes = b""

    def __repr__(self) -> str:
        return (
            f"CompressionStarted(handle={self.handle!r}, mechanism={self.mechanism!r},"
            f" pending=<{len(self.pending)} octets>)"
        )


ClientEvent = (
    Greeting
    | Untagged
    | Completed
    | Continued
    | IdleStarted
    | UnexpectedContinuation
    | TLSUpgradeReady
    | CompressionStarted
    | BodyStart
    | BodyChunk
    | BodyEnd
    | ConnectionClosed
)


# -- server -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReceived:
    """A command for the application: answer it with untagged responses
    (``conn.send(response)``) and complete it (``conn.complete(...)``).
    Commands are delivered one at a time, in order."""

    command: Command


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandError:
    """A command the connection refused itself (syntax, state, limits); the
    reply was queued (``reply``, e.g. ``a1 BAD ...``)."""

    tag: str | None
    message: str
    reply: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslRequest:
    """An AUTHENTICATE mechanism asks the application (a password check, a
    credential or token lookup): answer with ``conn.answer_sasl(result)``."""

    tag: str
    mechanism: str
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class SaslAuthenticated:
    """The mechanism succeeded: complete the AUTHENTICATE with OK (authorising
    ``authzid`` for ``authcid``) or NO."""

    tag: str
    mechanism: str
    authcid: str
    authzid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailed:
    """An AUTHENTICATE failed or was cancelled; the tagged NO/BAD was sent.
    ``reason`` is for logs and names no secret."""

    tag: str
    mechanism: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendAnnounced:
    """An APPEND announced a message literal whose octets have not been read
    (only with ``ServerConfig(announce_append=True)``).  Answer with
    ``conn.accept_append()`` ("+" for a synchronizing literal, then its
    octets as usual) or ``conn.refuse_append(...)`` (a tagged NO: a
    synchronizing literal is never read; a non-synchronizing one, already
    on its way, is drained first).  ``flags``/``date`` as the client gave
    them; ``size`` in octets; ``binary``: literal8."""

    tag: str
    mailbox: Mailbox
    flags: tuple[Flag, ...] | None
    date: _dt.datetime | None
    size: int
    synchronizing: bool
    binary: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class IdleDone:
    """The client ended IDLE with DONE; the connection completed it."""

    tag: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTLSRequested:
    """STARTTLS was accepted (its OK is queued): flush, check
    ``conn.unread()`` is empty, run the handshake, then call
    ``conn.start_tls_done()``."""

    tag: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressRequested:
    """COMPRESS was accepted (its OK is queued): flush, then compress what is
    sent and decompress what is received.  ``pending`` as for the client."""

    tag: str
    mechanism: str
    pending: bytes = b""

    def __repr__(self) -> str:
        return (
            f"CompressRequested(tag={self.tag!r}, mechanism={self.mechanism!r},"
            f" pending=<{len(self.pending)} octets>)"
        )


ServerEvent = (
    CommandReceived
    | AppendAnnounced
    | CommandError
    | SaslRequest
    | SaslAuthenticated
    | AuthenticationFailed
    | IdleDone
    | StartTLSRequested
    | CompressRequested
    | BodyStart
    | BodyChunk
    | BodyEnd
    | ConnectionClosed
)
