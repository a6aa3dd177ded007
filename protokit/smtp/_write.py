"""Writing: the client's command lines, every argument validated so that no
CR, LF or NUL (or anything else outside the grammar) reaches the wire."""

from __future__ import annotations

from ..errors import LocalProtocolError
from . import _grammar as g
from ._types import MailParams, Notify, RcptParams, xtext_encode

__all__ = ["address_bytes", "helo_name", "mail_line", "rcpt_line", "text_arg"]


def address_bytes(address: str, *, null_ok: bool = False, postmaster_ok: bool = False) -> bytes:
    """Validate a mailbox against RFC 5321's grammar and return it encoded."""
    if not isinstance(address, str):
        raise LocalProtocolError("an address is a str")
    if address == "" and null_ok:
        return b""
    raw = address.encode("utf-8", "strict")
    if postmaster_ok and raw.lower() == b"postmaster":
        return raw
    if g.MAILBOX.fullmatch(raw) is None:
        raise LocalProtocolError("not a valid RFC 5321 mailbox")
    return raw


def helo_name(name: str) -> bytes:
    raw = name.encode("utf-8")
    if g.HELO_ARG.fullmatch(raw) is None:
        raise LocalProtocolError("not a valid EHLO/HELO name")
    return raw


def text_arg(text: str, what: str) -> bytes:
    """A free-text argument (VRFY, HELP): printable, no CR/LF/NUL."""
    raw = text.encode("utf-8")
    if any(b < 0x20 or b == 0x7F for b in raw):
        raise LocalProtocolError(f"{what} must not contain control characters")
    return raw


def _extra(params: tuple[tuple[str, str | None], ...]) -> list[bytes]:
    out = []
    for key, value in params:
        token = key.encode("ascii", "replace") + (
            b"" if value is None else b"=" + value.encode("utf-8")
        )
        m = g.ESMTP_PARAM.fullmatch(token)
        if m is None or (value is not None and m.group(2) is None):
            raise LocalProtocolError(f"invalid ESMTP parameter {key!r}")
        out.append(token)
    return out


def mail_line(sender: str, params: MailParams) -> bytes:
    parts = [b"MAIL FROM:<" + address_bytes(sender, null_ok=True) + b">"]
    if params.size is not None:
        if params.size < 0:
            raise LocalProtocolError("SIZE must be >= 0")
        parts.append(b"SIZE=%d" % params.size)
    if params.body is not None:
        parts.append(b"BODY=" + params.body.value.encode("ascii"))
    if params.smtputf8:
        parts.append(b"SMTPUTF8")
    if params.ret is not None:
        parts.append(b"RET=" + params.ret.value.encode("ascii"))
    if params.envid is not None:
        parts.append(b"ENVID=" + xtext_encode(params.envid).encode("ascii"))
    if params.auth is not None:
        value = "<>" if params.auth == "" else xtext_encode(params.auth)
        parts.append(b"AUTH=" + value.encode("ascii"))
    if params.requiretls:
        parts.append(b"REQUIRETLS")
    parts += _extra(params.extra)
    return b" ".join(parts) + b"\r\n"


def rcpt_line(recipient: str, params: RcptParams) -> bytes:
    parts = [b"RCPT TO:<" + address_bytes(recipient, postmaster_ok=True) + b">"]
    if params.notify is not None:
        if not params.notify or (Notify.NEVER in params.notify and len(params.notify) > 1):
            raise LocalProtocolError("NOTIFY is NEVER alone or some of SUCCESS,FAILURE,DELAY")
        order = [n for n in Notify if n in params.notify]
        parts.append(b"NOTIFY=" + ",".join(n.value for n in order).encode("ascii"))
    if params.orcpt is not None:
        kind, addr = params.orcpt
        if g.ESMTP_PARAM.fullmatch(kind.encode("utf-8")) is None:
            raise LocalProtocolError("invalid ORCPT address type")
        parts.append(b"ORCPT=" + kind.encode("ascii") + b";" + xtext_encode(addr).encode("ascii"))
    parts += _extra(params.extra)
    return b" ".join(parts) + b"\r\n"
