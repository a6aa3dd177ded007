"""Parsing: the server's view of command arguments (MAIL/RCPT paths and
parameters, EHLO names, BDAT and AUTH arguments) and the client's view of
replies (multi-line, enhanced codes, EHLO capabilities)."""

from __future__ import annotations

from collections.abc import Collection

from ..errors import LineTooLongError, RemoteProtocolError
from ..wire import ReceiveBuffer
from . import _grammar as g
from ._types import (
    Body,
    Capabilities,
    Extension,
    MailParams,
    Notify,
    RcptParams,
    Reply,
    Ret,
    make_reply,
    xtext_decode,
)

__all__ = ["CommandError", "ReplyReader", "parse_capabilities", "parse_mail", "parse_rcpt"]


class CommandError(RemoteProtocolError):
    """A command the server refuses by itself; ``smtp_reply`` says how."""

    def __init__(self, code: int, enhanced: str, text: str) -> None:
        super().__init__(text)
        self.smtp_reply = make_reply(code, enhanced, (text,))


def _syntax(text: str) -> CommandError:
    return CommandError(501, "5.5.4", text)


def _decode_address(raw: bytes, utf8: bool) -> str:
    if raw.isascii():
        address = raw.decode("ascii")
    else:
        if not utf8:
            # RFC 6531 3.5
            raise CommandError(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
        try:
            address = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _syntax("Address is not UTF-8") from None
    at = address.rfind("@")
    # RFC 5321 4.5.3.1.1-3: local-part 64 octets, domain 255, path 256.
    if len(raw) > 254 or (at >= 0 and (at > 64 or len(address) - at - 1 > 255)):
        raise CommandError(501, "5.1.3", "Address too long")
    return address


def _split_params(raw: bytes) -> list[tuple[str, bytes | None]]:
    out: list[tuple[str, bytes | None]] = []
    seen: set[str] = set()
    if not raw:
        return out
    for token in raw[1:].split(b" "):
        m = g.ESMTP_PARAM.fullmatch(token)
        if m is None:
            raise _syntax("Malformed parameter")
        key = m.group(1).decode("ascii").upper()
        if key in seen:
            raise _syntax(f"Duplicate parameter {key}")
        seen.add(key)
        out.append((key, m.group(2)))
    return out


def _xtext(value: bytes) -> str:
    try:
        return xtext_decode(value)
    except RemoteProtocolError as exc:
        raise _syntax(exc.message) from None


def _value_str(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def _no_value(key: str, value: bytes | None) -> None:
    if value is not None:
        raise _syntax(f"{key} takes no value")


def _need_value(key: str, value: bytes | None) -> bytes:
    if value is None:
        raise _syntax(f"{key} needs a value")
    return value


def parse_mail(
    line: bytes,
    extensions: Collection[Extension],
    *,
    max_size: int | None,
    auth: bool,
    requiretls: bool,
) -> tuple[str, MailParams]:
    """Parse a MAIL FROM line (verb included) into the sender and parameters."""
    m = g.MAIL_FROM.fullmatch(line)
    if m is None:
        raise _syntax("Syntax: MAIL FROM:<address> [parameters]")
    size: int | None = None
    body: Body | None = None
    smtputf8 = False
    ret: Ret | None = None
    envid: str | None = None
    auth_value: str | None = None
    require = False
    extra: list[tuple[str, str | None]] = []
    for key, value in _split_params(m.group(2)):
        if key == "SIZE" and Extension.SIZE in extensions:
            v = _need_value(key, value)
            if not v.isdigit() or len(v) > 20:
                raise _syntax("SIZE needs a number")
            size = int(v)
            if max_size is not None and size > max_size:
                # RFC 1870 6.1
                raise CommandError(552, "5.3.4", "Message size exceeds fixed maximum")
        elif key == "BODY" and (
            Extension.EIGHTBITMIME in extensions or Extension.BINARYMIME in extensions
        ):
            v = _need_value(key, value).upper()
            try:
                body = Body(v.decode("ascii"))
            except ValueError:
                raise _syntax("BODY must be 7BIT, 8BITMIME or BINARYMIME") from None
            if body is Body.BINARYMIME and Extension.BINARYMIME not in extensions:
                raise CommandError(555, "5.5.4", "BINARYMIME is not supported")
        elif key == "SMTPUTF8" and Extension.SMTPUTF8 in extensions:
            _no_value(key, value)
            smtputf8 = True
        elif key == "RET" and Extension.DSN in extensions:
            try:
                ret = Ret(_need_value(key, value).upper().decode("ascii"))
            except ValueError:
                raise _syntax("RET must be FULL or HDRS") from None
        elif key == "ENVID" and Extension.DSN in extensions:
            v = _need_value(key, value)
            if len(v) > 100:
                raise _syntax("ENVID longer than 100 characters")
            envid = _xtext(v)
        elif key == "AUTH" and auth:
            # RFC 4954 5: AUTH=<> or AUTH=xtext(mailbox)
            v = _need_value(key, value)
            auth_value = "" if v == b"<>" else _xtext(v)
        elif key == "REQUIRETLS" and requiretls:
            _no_value(key, value)
            require = True
        else:
            extra.append((key, _value_str(value)))
    raw = m.group(1)
    sender = "" if raw is None else _decode_address(raw, smtputf8)
    return sender, MailParams(
        size=size,
        body=body,
        smtputf8=smtputf8,
        ret=ret,
        envid=envid,
        auth=auth_value,
        requiretls=require,
        extra=tuple(extra),
    )


def parse_rcpt(
    line: bytes, extensions: Collection[Extension], *, utf8: bool
) -> tuple[str, RcptParams]:
    """Parse a RCPT TO line (verb included) into the recipient and parameters."""
    m = g.RCPT_TO.fullmatch(line)
    if m is None:
        raise _syntax("Syntax: RCPT TO:<address> [parameters]")
    notify: frozenset[Notify] | None = None
    orcpt: tuple[str, str] | None = None
    extra: list[tuple[str, str | None]] = []
    dsn = Extension.DSN in extensions
    for key, value in _split_params(m.group(2)):
        if key == "NOTIFY" and dsn:
            # RFC 3461 4.1: "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" )
            words = _need_value(key, value).upper().decode("ascii", "replace").split(",")
            try:
                values = frozenset(Notify(w) for w in words)
            except ValueError:
                raise _syntax("NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY") from None
            if len(values) != len(words) or (Notify.NEVER in values and len(values) > 1):
                raise _syntax("NOTIFY must be NEVER or SUCCESS,FAILURE,DELAY")
            notify = values
        elif key == "ORCPT" and dsn:
            # RFC 3461 4.2: addr-type ";" xtext
            v = _need_value(key, value)
            kind, sep, addr = v.partition(b";")
            if not sep or not kind or len(v) > 500 or g.ESMTP_PARAM.fullmatch(kind) is None:
                raise _syntax("ORCPT must be addr-type;xtext")
            orcpt = (kind.decode("ascii"), _xtext(addr))
        else:
            extra.append((key, _value_str(value)))
    recipient = _decode_address(m.group(1), utf8)
    return recipient, RcptParams(notify=notify, orcpt=orcpt, extra=tuple(extra))


# -- replies (client side) ---------------------------------------------------------


class ReplyReader:
    """Reads one complete (possibly multi-line) reply at a time, size-capped."""

    __slots__ = ("_code", "_lines", "max_line", "max_lines")

    def __init__(self, *, max_line: int = 2048, max_lines: int = 256) -> None:
        self.max_line = max_line
        self.max_lines = max_lines
        self._code: bytes | None = None
        self._lines: list[bytes] = []

    def read(self, buffer: ReceiveBuffer) -> Reply | None:
        """Return the next complete reply, or ``None`` while it is incomplete."""
        while True:
            try:
                line = buffer.extract_line(self.max_line)
            except LineTooLongError:
                raise RemoteProtocolError(f"reply line longer than {self.max_line}") from None
            if line is None:
                return None
            m = g.REPLY_LINE.fullmatch(line)
            if m is None:
                raise RemoteProtocolError("malformed reply line")
            code = m.group(1)
            if self._code is None:
                self._code = code
            elif code != self._code:
                raise RemoteProtocolError("reply lines with different codes")
            self._lines.append(m.group(3) or b"")
            if len(self._lines) > self.max_lines:
                raise RemoteProtocolError(f"reply longer than {self.max_lines} lines")
            if m.group(2) != b"-":
                lines, self._lines, self._code = self._lines, [], None
                return _build_reply(int(code), lines)


def _build_reply(code: int, raw_lines: list[bytes]) -> Reply:
    enhanced: str | None = None
    m = g.ENHANCED_CODE.match(raw_lines[0])
    if m is not None and int(m.group(1)) == code // 100:
        enhanced = m.group(0).rstrip(b" ").decode("ascii")
    prefix = (enhanced + " ").encode("ascii") if enhanced else b""
    exact = prefix.rstrip(b" ")
    lines = []
    for raw in raw_lines:
        if enhanced and raw.startswith(prefix):
            raw = raw[len(prefix) :]
        elif enhanced and raw == exact:
            raw = b""
        lines.append(raw.decode("utf-8", "replace"))
    return make_reply(code, enhanced, tuple(lines))


def parse_capabilities(reply: Reply) -> Capabilities:
    """The extensions listed in a positive EHLO/LHLO reply (first line skipped)."""
    entries: dict[str, tuple[str, ...]] = {}
    for text in reply.lines[1:]:
        m = g.EHLO_KEYWORD.fullmatch(text.encode("utf-8", "replace"))
        if m is None:
            continue  # RFC 5321 4.1.1.1 says ignore what we cannot use
        key = m.group(1).decode("ascii").upper()
        params = tuple((m.group(2) or b"").decode("utf-8", "replace").split())
        if key in entries:
            merged = list(entries[key])
            merged += [p for p in params if p not in merged]
            params = tuple(merged)
        entries[key] = params
    return Capabilities(entries)
