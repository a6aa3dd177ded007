"""ENVELOPE, addresses and BODYSTRUCTURE (RFC 9051 section 7.5.2), built
from the token tree and written back.

The tree is depth-bounded by the tokenizer, so the recursion over nested
multiparts here is bounded too (64 by default), never a RecursionError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "Address",
    "BodyExtension",
    "BodyStructure",
    "Disposition",
    "Envelope",
    "MultiPart",
    "SinglePart",
]

BodyExtension = Any
"""body-extension = nstring / number / "(" body-extension *(SP body-extension) ")"
(kept as the generic value: bytes, str for a number, None, tuple)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")".

    A group start has ``host`` None and the group name in ``mailbox``; a
    group end has ``mailbox`` and ``host`` None."""

    name: bytes | None = None
    adl: bytes | None = None
    mailbox: bytes | None = None
    host: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """The parsed header of a message: strings are raw header bytes (often
    RFC 2047 encoded words), address lists are ``None`` for NIL."""

    date: bytes | None = None
    subject: bytes | None = None
    from_: tuple[Address, ...] | None = None
    sender: tuple[Address, ...] | None = None
    reply_to: tuple[Address, ...] | None = None
    to: tuple[Address, ...] | None = None
    cc: tuple[Address, ...] | None = None
    bcc: tuple[Address, ...] | None = None
    in_reply_to: bytes | None = None
    message_id: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Disposition:
    """body-fld-dsp = "(" string SP body-fld-param ")" / nil"""

    type: bytes
    params: tuple[tuple[bytes, bytes], ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SinglePart:
    """body-type-1part: basic, message/rfc822 (``envelope``, ``body``,
    ``lines``) or text (``lines``), with optional extension data.  ``None``
    in an extension field beyond the last one sent means "not sent"."""

    type: bytes
    subtype: bytes
    params: tuple[tuple[bytes, bytes], ...] | None = None
    id: bytes | None = None
    description: bytes | None = None
    encoding: bytes | None = None
    size: int = 0
    envelope: Envelope | None = None
    body: BodyStructure | None = None
    lines: int | None = None
    # extension data (BODYSTRUCTURE only); ``extension_count`` is how many of
    # md5, disposition, language, location and the rest were present
    md5: bytes | None = None
    disposition: Disposition | None = None
    language: tuple[bytes, ...] | None = None
    location: bytes | None = None
    extensions: tuple[BodyExtension, ...] = ()
    extension_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiPart:
    """body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]"""

    parts: tuple[BodyStructure, ...]
    subtype: bytes
    params: tuple[tuple[bytes, bytes], ...] | None = None
    disposition: Disposition | None = None
    language: tuple[bytes, ...] | None = None
    location: bytes | None = None
    extensions: tuple[BodyExtension, ...] = ()
    extension_count: int = 0


BodyStructure = SinglePart | MultiPart


def _err(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"invalid {what}")


def _nstr(v: Any, what: str) -> bytes | None:
    if v is None or type(v) is bytes:
        return v
    if isinstance(v, bytes):
        return bytes(v)
    raise _err(what)


def _str(v: Any, what: str) -> bytes:
    if isinstance(v, bytes):
        return bytes(v)
    # LENIENT-NIL-STRING: NIL where a string belongs reads as empty
    if v is None:
        return b""
    # LENIENT-ATOM-STRING: an atom where a string belongs (e.g. a bare 7BIT)
    if isinstance(v, str):
        return v.encode("ascii")
    raise _err(what)


def _num(v: Any, what: str) -> int:
    if isinstance(v, str) and v.isdigit() and len(v) <= 20:
        return int(v)
    raise _err(what)


def _addresses(v: Any) -> tuple[Address, ...] | None:
    if v is None:
        return None
    if not isinstance(v, list):
        raise _err("address list")
    out = []
    new = object.__new__
    setattr_ = object.__setattr__
    for a in v:
        if not isinstance(a, list) or len(a) != 4:
            raise _err("address")
        addr = new(Address)
        setattr_(addr, "name", _nstr(a[0], "address"))
        setattr_(addr, "adl", _nstr(a[1], "address"))
        setattr_(addr, "mailbox", _nstr(a[2], "address"))
        setattr_(addr, "host", _nstr(a[3], "address"))
        out.append(addr)
    return tuple(out)


def build_envelope(v: Any) -> Envelope:
    """envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
    env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP
    env-message-id ")" """
    if not isinstance(v, list) or len(v) != 10:
        raise _err("envelope")
    env = object.__new__(Envelope)
    s = object.__setattr__
    s(env, "date", _nstr(v[0], "envelope"))
    s(env, "subject", _nstr(v[1], "envelope"))
    s(env, "from_", _addresses(v[2]))
    s(env, "sender", _addresses(v[3]))
    s(env, "reply_to", _addresses(v[4]))
    s(env, "to", _addresses(v[5]))
    s(env, "cc", _addresses(v[6]))
    s(env, "bcc", _addresses(v[7]))
    s(env, "in_reply_to", _nstr(v[8], "envelope"))
    s(env, "message_id", _nstr(v[9], "envelope"))
    return env


def _params(v: Any) -> tuple[tuple[bytes, bytes], ...] | None:
    # body-fld-param = "(" string SP string *(SP string SP string) ")" / nil
    if v is None:
        return None
    if not isinstance(v, list) or len(v) % 2:
        raise _err("body parameters")
    return tuple((_str(v[k], "param"), _str(v[k + 1], "param")) for k in range(0, len(v), 2))


def _disposition(v: Any) -> Disposition | None:
    if v is None:
        return None
    if not isinstance(v, list) or len(v) != 2:
        raise _err("body disposition")
    return Disposition(type=_str(v[0], "disposition"), params=_params(v[1]))


def _language(v: Any) -> tuple[bytes, ...] | None:
    # body-fld-lang = nstring / "(" string *(SP string) ")"
    if v is None:
        return None
    if isinstance(v, list):
        return tuple(_str(x, "language") for x in v)
    return (_str(v, "language"),)


def _generic(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_generic(x) for x in v)
    return v


def build_body(v: Any) -> BodyStructure:
    """body = "(" (body-type-1part / body-type-mpart) ")" """
    if not isinstance(v, list) or not v:
        raise _err("body structure")
    if isinstance(v[0], list):
        n = 0
        while n < len(v) and isinstance(v[n], list):
            n += 1
        if n == len(v):
            raise _err("multipart body")
        parts = tuple(build_body(p) for p in v[:n])
        ext = v[n + 1 :]
        return MultiPart(
            parts=parts,
            subtype=_str(v[n], "media subtype"),
            params=_params(ext[0]) if ext else None,
            disposition=_disposition(ext[1]) if len(ext) > 1 else None,
            language=_language(ext[2]) if len(ext) > 2 else None,
            location=_nstr(ext[3], "location") if len(ext) > 3 else None,
            extensions=tuple(_generic(x) for x in ext[4:]),
            extension_count=len(ext),
        )
    if len(v) < 7:
        raise _err("body part")
    mtype = _str(v[0], "media type")
    subtype = _str(v[1], "media subtype")
    rest = 7
    envelope = None
    body = None
    lines = None
    if mtype.upper() == b"MESSAGE" and subtype.upper() in (b"RFC822", b"GLOBAL") and len(v) >= 10:
        envelope = build_envelope(v[7])
        body = build_body(v[8])
        lines = _num(v[9], "body lines")
        rest = 10
    elif mtype.upper() == b"TEXT":
        if len(v) < 8:
            raise _err("text body part")
        lines = _num(v[7], "body lines")
        rest = 8
    ext = v[rest:]
    return SinglePart(
        type=mtype,
        subtype=subtype,
        params=_params(v[2]),
        id=_nstr(v[3], "body id"),
        description=_nstr(v[4], "body description"),
        encoding=_str(v[5], "body encoding"),
        size=_num(v[6], "body size"),
        envelope=envelope,
        body=body,
        lines=lines,
        md5=_nstr(ext[0], "body md5") if ext else None,
        disposition=_disposition(ext[1]) if len(ext) > 1 else None,
        language=_language(ext[2]) if len(ext) > 2 else None,
        location=_nstr(ext[3], "location") if len(ext) > 3 else None,
        extensions=tuple(_generic(x) for x in ext[4:]),
        extension_count=len(ext),
    )


# --- writing -------------------------------------------------------------------


def envelope_value(env: Envelope) -> tuple[Any, ...]:
    from ._write import Adjacent

    """The envelope as a generic value (bytes / None / tuples) for the writer."""

    def addrs(a: tuple[Address, ...] | None) -> Any:
        if a is None:
            return None
        if not a:
            raise LocalProtocolError("an address list is NIL or non-empty")
        return Adjacent((x.name, x.adl, x.mailbox, x.host) for x in a)

    return (
        env.date,
        env.subject,
        addrs(env.from_),
        addrs(env.sender),
        addrs(env.reply_to),
        addrs(env.to),
        addrs(env.cc),
        addrs(env.bcc),
        env.in_reply_to,
        env.message_id,
    )


def _params_value(p: tuple[tuple[bytes, bytes], ...] | None) -> Any:
    if p is None:
        return None
    return tuple(x for kv in p for x in kv)


def _ext_value(
    disposition: Disposition | None,
    language: tuple[bytes, ...] | None,
    location: bytes | None,
    extensions: tuple[Any, ...],
) -> list[Any]:
    return [
        None if disposition is None else (disposition.type, _params_value(disposition.params)),
        None if language is None else language,
        location,
        *extensions,
    ]


def body_value(b: BodyStructure, extended: bool) -> tuple[Any, ...]:
    """The body structure as a generic value (numbers as ``int``)."""
    from ._write import Bare

    if isinstance(b, MultiPart):
        if not b.parts:
            raise LocalProtocolError("a multipart body needs parts")
        out: list[Any] = [Bare(body_value(p, extended) for p in b.parts), b.subtype]
        if extended and b.extension_count:
            ext = [_params_value(b.params)]
            ext += _ext_value(b.disposition, b.language, b.location, b.extensions)
            out += ext[: max(b.extension_count, 1)]
        return tuple(out)
    out = [b.type, b.subtype, _params_value(b.params), b.id, b.description]
    out += [b.encoding, b.size]
    if b.envelope is not None and b.body is not None:
        out += [envelope_value(b.envelope), body_value(b.body, extended), b.lines or 0]
    elif b.lines is not None:
        out.append(b.lines)
    if extended and b.extension_count:
        ext = [b.md5]
        ext += _ext_value(b.disposition, b.language, b.location, b.extensions)
        out += ext[: b.extension_count]
    return tuple(out)
