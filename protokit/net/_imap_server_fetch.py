"""FETCH for :func:`~protokit.net.serve_imap`: body sections, ENVELOPE and
BODYSTRUCTURE computed from a message's octets (RFC 9051 6.4.5, 7.5.2).

Only what needs parsing is here; whole bodies (``BODY[]``, ``RFC822``)
are streamed by the server without being held.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
from email.message import Message

from ..imap import Address, Envelope, Section, SinglePart

__all__ = ["body_structure", "envelope", "section_bytes_of"]

_PARSER = email.parser.BytesParser(policy=email.policy.compat32)


def _split(data: bytes) -> tuple[bytes, bytes]:
    """Header block (with its empty line) and body."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            return data[: i + len(sep)], data[i + len(sep) :]
    return data, b""


def _header_fields(header: bytes, names: tuple[bytes, ...], keep: bool) -> bytes:
    wanted = {n.lower() for n in names}
    out: list[bytes] = []
    take = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if take:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        take = (name in wanted) is keep
        if take:
            out.append(line)
    out.append(b"\r\n")
    return b"".join(out)


def section_bytes_of(data: bytes, section: Section) -> bytes | None:
    """The octets of ``section`` of a message (``None``: no such part).
    Multipart bodies are walked by part number; a non-multipart message
    has one part, its body (RFC 9051 6.4.5)."""
    for number in section.part:
        header, body = _split(data)
        msg = _PARSER.parsebytes(header, headersonly=True)
        if not msg.is_multipart() and msg.get_content_maintype() != "multipart":
            if number != 1:
                return None
            data = body
            continue
        parts = _multipart_parts(msg, body)
        if not 0 < number <= len(parts):
            return None
        data = parts[number - 1]
    header, body = _split(data)
    text = section.text
    if text is None:
        return data
    if text in ("HEADER", "MIME"):
        return header
    if text == "TEXT":
        return body
    if text == "HEADER.FIELDS":
        return _header_fields(header, section.fields, True)
    if text == "HEADER.FIELDS.NOT":
        return _header_fields(header, section.fields, False)
    return None


def _multipart_parts(msg: Message, body: bytes) -> list[bytes]:
    boundary = msg.get_boundary()
    if not boundary:
        return []
    delim = b"--" + boundary.encode("ascii", "replace")
    chunks = body.split(delim)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.removeprefix(b"\r\n").removeprefix(b"\n").removesuffix(b"\r\n"))
    return parts


def _nstr(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8", "replace")


def _addresses(msg: Message, name: str) -> tuple[Address, ...] | None:
    values = msg.get_all(name)
    if not values:
        return None
    out = []
    for display, addr in email.utils.getaddresses([str(v) for v in values]):
        local, _, host = addr.rpartition("@") if "@" in addr else (addr, "", "")
        out.append(
            Address(
                name=_nstr(display or None), mailbox=_nstr(local or None), host=_nstr(host or None)
            )
        )
    return tuple(out) or None


def envelope(data: bytes) -> Envelope:
    """ENVELOPE from the header (RFC 9051 7.5.2): raw strings; sender and
    reply-to default to from."""
    header, _ = _split(data)
    msg = _PARSER.parsebytes(header, headersonly=True)
    from_ = _addresses(msg, "From")

    def raw(name: str) -> bytes | None:
        v = msg.get(name)
        return None if v is None else str(v).encode("utf-8", "replace")

    return Envelope(
        date=raw("Date"),
        subject=raw("Subject"),
        from_=from_,
        sender=_addresses(msg, "Sender") or from_,
        reply_to=_addresses(msg, "Reply-To") or from_,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        bcc=_addresses(msg, "Bcc"),
        in_reply_to=raw("In-Reply-To"),
        message_id=raw("Message-ID"),
    )


def body_structure(data: bytes) -> SinglePart:
    """A one-part BODYSTRUCTURE from the top-level Content-Type (a
    multipart message is described by its type, its whole body as the part)."""
    header, body = _split(data)
    msg = _PARSER.parsebytes(header, headersonly=True)
    maintype, subtype = msg.get_content_maintype(), msg.get_content_subtype()
    if maintype == "message":
        # message/rfc822 would need the inner envelope and structure.
        maintype, subtype = "application", "octet-stream"
    params = tuple(
        (k.encode("utf-8", "replace"), v.encode("utf-8", "replace"))
        for k, v in (msg.get_params() or [])[1:]
        if isinstance(v, str)
    )
    if not params and maintype == "text":
        params = ((b"charset", b"us-ascii"),)
    encoding = str(msg.get("Content-Transfer-Encoding", "7BIT")).upper().encode("ascii", "replace")
    lines = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    return SinglePart(
        type=maintype.encode("ascii", "replace"),
        subtype=subtype.encode("ascii", "replace"),
        params=params or None,
        id=None,
        description=None,
        encoding=encoding,
        size=len(body),
        lines=lines if maintype == "text" else None,
    )
