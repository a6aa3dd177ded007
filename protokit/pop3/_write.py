"""Writing POP3 lines: commands (client side) and replies (server side).

Every value is validated before it goes on the wire: no CR, LF or NUL can be
smuggled into an argument, and no command line exceeds 255 octets with its
CRLF (RFC 2449 section 4).  A refusal is a
:class:`~protokit.errors.LocalProtocolError` naming the rule, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import LocalProtocolError
from ..wire._sasl import format_initial_response
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
    "command_keyword",
    "err_line",
    "multiline",
    "ok_line",
    "write_command",
]

_KEYWORDS: dict[type, str] = {
    User: "USER",
    Pass: "PASS",
    Apop: "APOP",
    Auth: "AUTH",
    Capa: "CAPA",
    Stls: "STLS",
    Stat: "STAT",
    List: "LIST",
    Retr: "RETR",
    Top: "TOP",
    Uidl: "UIDL",
    Dele: "DELE",
    Rset: "RSET",
    Noop: "NOOP",
    Quit: "QUIT",
    Utf8: "UTF8",
}


def command_keyword(cmd: Command) -> str:
    """The keyword of ``cmd`` ("RETR", ...)."""
    try:
        return _KEYWORDS[type(cmd)]
    except KeyError:
        raise LocalProtocolError(f"not a POP3 command: {type(cmd).__name__}") from None


def _encode(value: str, what: str, *, utf8: bool) -> bytes:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be str")
    if not value:
        raise LocalProtocolError(f"{what} is empty")
    if not utf8 and not value.isascii():
        raise LocalProtocolError(f"{what} is not ASCII and UTF8 mode is not active")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} is not encodable as UTF-8") from None


def _param(value: str, what: str, *, utf8: bool) -> bytes:
    raw = _encode(value, what, utf8=utf8)
    if not g.PARAM.fullmatch(raw):
        raise LocalProtocolError(f"{what} holds a space, control character or is too long")
    return raw


def _msg(value: int, *, positive: bool = True) -> bytes:
    if type(value) is not int or value < (1 if positive else 0) or value > 9_999_999_999:
        raise LocalProtocolError("message numbers are 1 to 9999999999; line counts >= 0")
    return str(value).encode("ascii")


def write_command(cmd: Command, *, utf8: bool = False) -> bytes:
    """The wire form of ``cmd``, CRLF included.

    ``utf8`` allows non-ASCII user names and passwords (after the UTF8
    command succeeded, RFC 6856).
    """
    keyword = command_keyword(cmd).encode("ascii")
    parts = [keyword]
    if isinstance(cmd, User):
        parts.append(_param(cmd.name, "user name", utf8=utf8))
    elif isinstance(cmd, Pass):
        raw = _encode(cmd.password.expose(), "password", utf8=utf8)
        # RFC 1939 7: spaces belong to the password; controls never do.
        if any(b < 0x20 or b == 0x7F for b in raw):
            raise LocalProtocolError("password holds a control character")
        parts.append(raw)
    elif isinstance(cmd, Apop):
        parts.append(_param(cmd.name, "user name", utf8=utf8))
        digest = cmd.digest.expose()
        if not (len(digest) == 32 and all(c in "0123456789abcdef" for c in digest)):
            raise LocalProtocolError("APOP digest must be 32 lower-case hex digits")
        parts.append(digest.encode("ascii"))
    elif isinstance(cmd, Auth):
        if cmd.mechanism is not None:
            mech = cmd.mechanism.encode("ascii", "replace")
            if not g.MECHANISM.fullmatch(mech):
                raise LocalProtocolError("invalid SASL mechanism name")
            parts.append(mech.upper())
            ir = None if cmd.initial_response is None else cmd.initial_response.expose()
            token = format_initial_response(ir)
            if token is not None:
                parts.append(token)
        elif cmd.initial_response is not None:
            raise LocalProtocolError("an initial response needs a mechanism")
    elif isinstance(cmd, (List, Uidl)):
        if cmd.msg is not None:
            parts.append(_msg(cmd.msg))
    elif isinstance(cmd, (Retr, Dele)):
        parts.append(_msg(cmd.msg))
    elif isinstance(cmd, Top):
        parts.append(_msg(cmd.msg))
        parts.append(_msg(cmd.lines, positive=False))
    line = b" ".join(parts) + b"\r\n"
    if len(line) > g.COMMAND_LINE_MAX:
        raise LocalProtocolError(f"{keyword.decode()} line longer than 255 octets")
    return line


# -- replies ------------------------------------------------------------------------


def _status(status: bytes, text: str, code: str | None) -> bytes:
    raw = text.encode("utf-8")
    if 13 in raw or 10 in raw or 0 in raw:  # CR, LF, NUL (as ints: memchr)
        raise LocalProtocolError("reply text holds CR, LF or NUL")
    if code is not None:
        if not g.RESP_CODE_VALUE.fullmatch(code.encode("ascii", "replace")):
            raise LocalProtocolError("invalid response code")
        raw = b"[" + code.encode("ascii") + b"]" + (b" " + raw if raw else b"")
    elif raw.startswith(b"["):
        # RFC 2449 8: text must not look like a response code it is not.
        raise LocalProtocolError('reply text may not start with "["')
    line = status + (b" " + raw if raw else b"") + b"\r\n"
    if len(line) > g.RESPONSE_LINE_MAX:
        raise LocalProtocolError("reply line longer than 512 octets")
    return line


def ok_line(text: str = "", code: str | None = None) -> bytes:
    """ "+OK" [SP [code] text] CRLF."""
    return _status(b"+OK", text, code)


def err_line(text: str = "", code: str | None = None) -> bytes:
    """ "-ERR" [SP [code] text] CRLF."""
    return _status(b"-ERR", text, code)


def multiline(lines: Iterable[bytes]) -> bytes:
    """The body of a multi-line reply from lines without CRLF, dot-stuffed
    (RFC 1939 section 3), with the terminating "." CRLF."""
    out = []
    for line in lines:
        if 13 in line or 10 in line:  # CR, LF
            raise LocalProtocolError("a reply line holds CR or LF")
        out.append(b"." + line if line.startswith(b".") else line)
    out.append(b".")
    return b"\r\n".join(out) + b"\r\n"


def octet_count(message: bytes) -> int:
    """The size POP3 reports for ``message`` (RFC 1939 section 11): the octets
    the server sends before stuffing, every line ending counted as CRLF and a
    missing final CRLF added, exactly as ``send_message_data`` writes it."""
    crlf = message.count(b"\r\n")
    bare = message.count(b"\r") + message.count(b"\n") - 2 * crlf
    unterminated = bool(message) and message[-1] not in b"\r\n"
    return len(message) + bare + (2 if unterminated else 0)
