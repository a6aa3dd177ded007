"""The replies the server writes by itself (RFC 5321 4.2, RFC 3463 codes),
each built once and encoded once."""

from __future__ import annotations

from ._events import Authenticated, Event, MailFrom, MessageEnd, RcptTo, Verify
from ._types import Reply, make_reply

__all__ = [
    "AUTH_CANCELLED",
    "AUTH_FAILED",
    "AUTH_LINE_TOO_LONG",
    "AUTH_REQUIRED",
    "BAD_SEQUENCE",
    "BARE_IN_DATA",
    "BARE_LINE_ENDING",
    "CONSTANT_IDS",
    "DEFAULTS",
    "LINE_TOO_LONG",
    "NOT_IMPLEMENTED",
    "NO_ARGS",
    "TEXT_LINE_TOO_LONG",
    "TLS_REQUIRED",
    "TOO_BIG",
    "TOO_MANY_RCPTS",
    "UNRECOGNIZED",
    "WIRE_CACHE",
    "r",
]


def r(code: int, enhanced: str | None, text: str) -> Reply:
    return make_reply(code, enhanced, (text,))


BAD_SEQUENCE = r(503, "5.5.1", "Bad sequence of commands")
UNRECOGNIZED = r(500, "5.5.1", "Command unrecognized")
NOT_IMPLEMENTED = r(502, "5.5.1", "Command not implemented")
LINE_TOO_LONG = r(500, "5.5.2", "Line too long")
BARE_LINE_ENDING = r(500, "5.5.2", "Bare CR or LF in command line")
NO_ARGS = r(501, "5.5.4", "No parameters allowed")
TLS_REQUIRED = r(530, "5.7.0", "Must issue a STARTTLS command first")
AUTH_REQUIRED = r(530, "5.7.0", "Authentication required")
TOO_MANY_RCPTS = r(452, "4.5.3", "Too many recipients")
TOO_BIG = r(552, "5.3.4", "Message size exceeds fixed maximum message size")
BARE_IN_DATA = r(550, "5.6.0", "Message contains bare CR or LF")
TEXT_LINE_TOO_LONG = r(550, "5.6.0", "Message contains a line longer than allowed")
AUTH_FAILED = r(535, "5.7.8", "Authentication credentials invalid")
AUTH_CANCELLED = r(501, "5.0.0", "Authentication cancelled")
AUTH_BAD_B64 = r(501, "5.5.2", "Cannot decode response")
AUTH_LINE_TOO_LONG = r(500, "5.5.6", "Authentication exchange line is too long")

DEFAULTS: dict[type[Event], Reply] = {
    MailFrom: r(250, "2.1.0", "Sender OK"),
    RcptTo: r(250, "2.1.5", "Recipient OK"),
    MessageEnd: r(250, "2.0.0", "Message accepted for delivery"),
    Verify: r(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"),
    Authenticated: r(235, "2.7.0", "Authentication successful"),
}


CONSTANT_IDS = frozenset(
    id(v) for v in (*list(globals().values()), *DEFAULTS.values()) if isinstance(v, Reply)
)
WIRE_CACHE: dict[tuple[int, bool], bytes] = {}
