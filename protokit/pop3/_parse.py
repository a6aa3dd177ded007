"""Parsing POP3 lines: commands (server side) and replies (client side).

Every function takes one line without its CRLF and either returns a value or
raises :class:`~protokit.errors.RemoteProtocolError`; a command error carries
the "-ERR" reply to send.
"""

from __future__ import annotations

from ..errors import RemoteProtocolError
from ..wire._sasl import InvalidBase64Error, parse_initial_response
from ..wire._secret import Secret
from . import _grammar as g
from ._events import (
    Apop,
    Auth,
    Capa,
    Command,
    Dele,
    List,
    Noop,
    Pass,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
    Utf8,
)

__all__ = [
    "parse_capability",
    "parse_command",
    "parse_scan_listing",
    "parse_stat",
    "parse_status",
    "parse_uidl_listing",
]


def _bad(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message, reply=b"-ERR " + message.encode("ascii") + b"\r\n")


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"{what} is not valid UTF-8") from None


def _param(value: bytes, what: str) -> str:
    if not g.PARAM.fullmatch(value):
        raise _bad(f"invalid {what}")
    return _text(value, what)


def _number(value: bytes, *, positive: bool = True) -> int:
    if not g.MSG_NUMBER.fullmatch(value):
        raise _bad("invalid message number" if positive else "invalid number")
    n = int(value)
    if positive and n == 0:
        raise _bad("invalid message number")
    return n


_NO_ARGS: dict[str, Command] = {
    "CAPA": Capa(),
    "STLS": Stls(),
    "STAT": Stat(),
    "RSET": Rset(),
    "NOOP": Noop(),
    "QUIT": Quit(),
    "UTF8": Utf8(),
}


def parse_command(line: bytes) -> Command:
    """Parse one command line (RFC 1939 section 3, RFC 2449 section 3).

    Keywords are case-insensitive.  Arguments are separated by single
    spaces; trailing spaces are ignored (leniency: some clients send them),
    except in PASS, whose argument is the rest of the line.  USER, PASS and
    APOP names are UTF-8 (ASCII is a subset; RFC 6856).
    """
    m = g.COMMAND.fullmatch(line)
    if m is None:
        raise _bad("unknown command")
    keyword = m.group(1).upper().decode("ascii")
    rest = m.group(2)
    if keyword == "PASS":
        if not rest or 0 in rest:  # NUL
            raise _bad("PASS needs a password")
        return Pass(password=Secret(_text(rest, "password")))
    args = rest.rstrip(b" ").split(b" ") if rest and rest.strip(b" ") else []
    n = len(args)
    if keyword in _NO_ARGS:
        if n:
            raise _bad(f"{keyword} takes no argument")
        return _NO_ARGS[keyword]
    if keyword in ("LIST", "UIDL"):
        if n > 1:
            raise _bad(f"{keyword} takes at most one argument")
        msg = _number(args[0]) if n else None
        return List(msg=msg) if keyword == "LIST" else Uidl(msg=msg)
    if keyword in ("RETR", "DELE"):
        if n != 1:
            raise _bad(f"{keyword} needs a message number")
        msg = _number(args[0])
        return Retr(msg=msg) if keyword == "RETR" else Dele(msg=msg)
    if keyword == "TOP":
        if n != 2:
            raise _bad("TOP needs a message number and a line count")
        return Top(msg=_number(args[0]), lines=_number(args[1], positive=False))
    if keyword == "USER":
        if n != 1:
            raise _bad("USER needs one name")
        return User(name=_param(args[0], "user name"))
    if keyword == "APOP":
        if n != 2:
            raise _bad("APOP needs a name and a digest")
        if not g.APOP_DIGEST.fullmatch(args[1]):
            raise _bad("invalid APOP digest")
        name = _param(args[0], "user name")
        return Apop(name=name, digest=Secret(args[1].decode("ascii").lower()))
    if keyword == "AUTH":
        if n == 0:
            return Auth()
        if n > 2 or not g.MECHANISM.fullmatch(args[0]):
            raise _bad("invalid AUTH arguments")
        mech = args[0].decode("ascii").upper()
        try:
            initial = parse_initial_response(args[1] if n == 2 else None)
        except InvalidBase64Error:
            raise _bad("invalid base64 in initial response") from None
        return Auth(mechanism=mech, initial_response=None if initial is None else Secret(initial))
    raise _bad("unknown command")


# -- replies ------------------------------------------------------------------------


def _reply_text(value: bytes | None) -> str:
    # Reply texts are for humans and logs: decode leniently.
    return "" if not value else value.decode("utf-8", "replace")


def parse_status(line: bytes) -> tuple[bool, str | None, str]:
    """Parse a single-line reply: (is +OK, response code or None, text)."""
    m = g.STATUS_LINE.fullmatch(line)
    if m is None:
        raise RemoteProtocolError("reply does not start with +OK or -ERR")
    ok = m.group(1) == b"+OK"
    text = m.group(2)
    if text and text.startswith(b"["):
        c = g.RESP_CODE.fullmatch(text)
        if c is not None:
            return ok, c.group(1).decode("ascii").upper(), _reply_text(c.group(2))
    return ok, None, _reply_text(text)


def parse_stat(text: str) -> tuple[int, int]:
    """STAT's "+OK" text: message count and size (RFC 1939 section 5)."""
    m = g.STAT_TEXT.fullmatch(text.encode("utf-8"))
    if m is None:
        raise RemoteProtocolError("malformed STAT reply")
    return int(m.group(1)), int(m.group(2))


def parse_scan_listing(line: bytes | str) -> tuple[int, int]:
    """One scan listing: message number and size (RFC 1939 section 5)."""
    raw = line.encode("utf-8") if isinstance(line, str) else line
    m = g.SCAN_LISTING.fullmatch(raw)
    if m is None:
        raise RemoteProtocolError("malformed scan listing")
    return int(m.group(1)), int(m.group(2))


def parse_uidl_listing(line: bytes | str) -> tuple[int, str]:
    """One unique-id listing: message number and unique-id (RFC 1939 7)."""
    raw = line.encode("utf-8") if isinstance(line, str) else line
    m = g.UIDL_LISTING.fullmatch(raw)
    if m is None:
        raise RemoteProtocolError("malformed unique-id listing")
    return int(m.group(1)), m.group(2).decode("ascii")


def parse_capability(line: bytes) -> tuple[str, tuple[str, ...]]:
    """One CAPA line: the tag, upper-cased, and its parameters."""
    m = g.CAPA_LINE.fullmatch(line)
    if m is None:
        raise RemoteProtocolError("malformed capability line")
    tag = m.group(1).decode("ascii").upper()
    params = tuple(p.decode("utf-8", "replace") for p in m.group(2).split())
    return tag, params
