"""Events of the SMTP codec: what a server connection reports about its
client, and what a client connection reports about its server.

Frozen, slotted, keyword-only.  Events the parser builds are not re-validated.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sasl._base import Request
from ._types import Capabilities, MailParams, RcptParams, Reply

__all__ = [
    "AuthFailed",
    "AuthReply",
    "AuthRequest",
    "Authenticated",
    "BadCommand",
    "ChunkReply",
    "CommandReply",
    "ConnectionClosed",
    "DataReply",
    "Event",
    "Greeting",
    "Hello",
    "HelloReply",
    "Help",
    "MailFrom",
    "MailReply",
    "MessageData",
    "MessageEnd",
    "MessageRejected",
    "MessageReply",
    "MessageStart",
    "Noop",
    "Quit",
    "RcptReply",
    "RcptTo",
    "Reset",
    "StartTLS",
    "StartTLSReply",
    "Verify",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every SMTP event."""


# -- server side: what the client did --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Event):
    """EHLO, HELO or LHLO, already answered.  ``verb`` is upper-case."""

    verb: str
    domain: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MailFrom(Event):
    """MAIL FROM: answer with ``reply()``.  ``sender`` is "" for the null path."""

    sender: str
    params: MailParams


@dataclass(frozen=True, slots=True, kw_only=True)
class RcptTo(Event):
    """RCPT TO: answer with ``reply()``."""

    recipient: str
    params: RcptParams


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageStart(Event):
    """DATA was accepted (354 sent) or the first BDAT chunk arrives."""

    chunked: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageData(Event):
    """The next piece of the message, unstuffed (DATA) or as sent (BDAT)."""

    data: bytes

    def __repr__(self) -> str:
        return f"MessageData(<{len(self.data)} bytes>)"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEnd(Event):
    """The message is complete: answer with ``reply()``, once per recipient in
    LMTP.  ``bare_line_endings`` counts bare CR/LF seen (DATA only)."""

    size: int
    recipients: tuple[str, ...]
    bare_line_endings: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRejected(Event):
    """The server refused the message itself (too big, bare CR/LF, over-long
    line) and has sent ``reply``; discard what arrived."""

    reply: Reply
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reset(Event):
    """RSET, answered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Noop(Event):
    """NOOP, answered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Quit(Event):
    """QUIT, answered with 221: close after sending what is queued."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Verify(Event):
    """VRFY: answer with ``reply()`` (the default is 252)."""

    argument: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Help(Event):
    """HELP, answered with 214."""

    topic: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTLS(Event):
    """STARTTLS accepted (220 queued): send it, wrap TLS, call ``start_tls_done()``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthRequest(Event):
    """The SASL mechanism asks a question: answer with ``answer_auth()``."""

    mechanism: str
    request: Request


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticated(Event):
    """The mechanism verified the client: authorise ``authzid`` for ``authcid``
    with ``reply()`` (235) or refuse with ``reply(Reply(code=535, ...))``."""

    mechanism: str
    authcid: str
    authzid: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthFailed(Event):
    """The exchange failed (bad credentials, cancel, malformed data); answered."""

    mechanism: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BadCommand(Event):
    """A command the server refused by itself (syntax, sequence, limits,
    policy); ``reply`` has been queued."""

    reply: Reply
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionClosed(Event):
    """The peer closed its side."""


# -- client side: what the server replied -----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Greeting(Event):
    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class HelloReply(Event):
    """The reply to EHLO/LHLO, or to HELO (``esmtp`` false, after a fallback)."""

    reply: Reply
    esmtp: bool
    capabilities: Capabilities | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MailReply(Event):
    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class RcptReply(Event):
    recipient: str
    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReply(Event):
    """The reply to DATA.  ``proceed`` is true when the body may be sent now;
    a 354 with no accepted recipient was ended with a lone "." for you."""

    reply: Reply
    proceed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkReply(Event):
    """The reply to a BDAT chunk that was not the last."""

    reply: Reply
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReply(Event):
    """The final reply to a message; LMTP sends one per accepted recipient."""

    reply: Reply
    recipient: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTLSReply(Event):
    """The reply to STARTTLS.  When positive, wrap TLS now and call
    ``start_tls_done()``; then send EHLO again."""

    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthReply(Event):
    """The outcome of AUTH.  ``error`` says why we cancelled, if we did."""

    reply: Reply
    success: bool
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReply(Event):
    """The reply to RSET, NOOP, QUIT, VRFY or HELP."""

    command: str
    reply: Reply
