"""FETCH responses (RFC 9051 section 7.5.2): msg-att items, built and written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..errors import LocalProtocolError
from ._body import body_value, build_body, build_envelope, envelope_value
from ._grammar import FETCH_ITEM
from ._responses import BodySection, Fetch, Section
from ._tokens import Bin
from ._types import format_datetime
from ._values import datetime, err, flag_list, generic, number, section, section_bytes
from ._write import Writer

__all__ = ["build_fetch", "labels_out", "write_fetch_items"]

_FIELDS: Final = Fetch.__dataclass_fields__
_DEFAULTS: Final = {name: f.default for name, f in _FIELDS.items() if name != "seq"}


def _labels(v: Any) -> tuple[bytes, ...]:
    # LENIENT-GMAIL-LABELS: X-GM-LABELS lists mix quoted strings and bare
    # tokens (\Inbox, \Important, plain atoms); each reads as its text.
    if not isinstance(v, list):
        raise err("X-GM-LABELS")
    out = []
    for x in v:
        if isinstance(x, bytes):
            out.append(bytes(x))
        elif type(x) is str:
            out.append(x.encode("ascii"))
        elif x is None:
            out.append(b"NIL")
        else:
            raise err("X-GM-LABELS")
    return tuple(out)


def _uid(d: dict[str, Any], v: Any) -> None:
    d["uid"] = number(v, "UID")


def _flags(d: dict[str, Any], v: Any) -> None:
    d["flags"] = flag_list(v)


def _internaldate(d: dict[str, Any], v: Any) -> None:
    d["internaldate"] = datetime(v)


def _size(d: dict[str, Any], v: Any) -> None:
    d["rfc822_size"] = number(v, "RFC822.SIZE")


def _envelope(d: dict[str, Any], v: Any) -> None:
    d["envelope"] = build_envelope(v)


def _bodystructure(d: dict[str, Any], v: Any) -> None:
    d["bodystructure"] = build_body(v)


def _body(d: dict[str, Any], v: Any) -> None:
    d["body"] = build_body(v)


def _modseq(d: dict[str, Any], v: Any) -> None:
    if not isinstance(v, list) or len(v) != 1:
        raise err("MODSEQ")
    d["modseq"] = number(v[0], "MODSEQ")


def _msgid(d: dict[str, Any], v: Any) -> None:
    d["gm_msgid"] = number(v, "X-GM-MSGID")


def _thrid(d: dict[str, Any], v: Any) -> None:
    d["gm_thrid"] = number(v, "X-GM-THRID")


def _gm_labels(d: dict[str, Any], v: Any) -> None:
    d["gm_labels"] = _labels(v)


def _streamable(v: Any, what: str) -> Any:
    if v is None or isinstance(v, bytes):
        return None if v is None else (v if type(v) is bytes else bytes(v))
    if isinstance(v, list | str):
        raise err(what)
    return v  # the framer's StreamedLiteral


def _rfc822(name: str) -> Callable[[dict[str, Any], Any], None]:
    def build(d: dict[str, Any], v: Any) -> None:
        d[name] = _streamable(v, name)

    return build


# RFC822, RFC822.HEADER and RFC822.TEXT are nstrings: sent as NIL, the item
# is kept in ``other`` as (name, None), since its field's None means "not
# sent" (and a FETCH of that item alone would otherwise be empty).
_RFC822_ITEMS: Final = frozenset({"RFC822", "RFC822.HEADER", "RFC822.TEXT"})


_SIMPLE: Final[dict[str, Callable[[dict[str, Any], Any], None]]] = {
    "UID": _uid,
    "FLAGS": _flags,
    "INTERNALDATE": _internaldate,
    "RFC822.SIZE": _size,
    "ENVELOPE": _envelope,
    "BODYSTRUCTURE": _bodystructure,
    "BODY": _body,
    "MODSEQ": _modseq,
    "X-GM-MSGID": _msgid,
    "X-GM-THRID": _thrid,
    "X-GM-LABELS": _gm_labels,
    "RFC822": _rfc822("rfc822"),
    "RFC822.HEADER": _rfc822("rfc822_header"),
    "RFC822.TEXT": _rfc822("rfc822_text"),
}


def _section_item(d: dict[str, Any], name: str, v: Any) -> bool:
    m = FETCH_ITEM.match(name.encode("ascii"))
    if m is None or m.group(2) is None:
        return False
    base = m.group(1).upper()
    # the section keeps the case of header field names; section() upper-cases
    # the keywords
    spec = m.group(2).decode("ascii")
    if m.group(4) is not None:
        raise err("fetch item origin")
    origin = int(m.group(3)) if m.group(3) is not None else None
    if base == b"BODY":
        sec = section(spec)
        binary = False
    elif base == b"BINARY" or base == b"BINARY.SIZE":
        sec = section(spec)
        if sec.text is not None:
            raise err("BINARY section")
        if base == b"BINARY.SIZE":
            if origin is not None:
                raise err("BINARY.SIZE")
            d["binary_sizes"] = (*d["binary_sizes"], (sec.part, number(v, "BINARY.SIZE")))
            return True
        binary = True
    else:
        return False
    data = _streamable(v, name)
    if isinstance(data, Bin):
        data = bytes(data)
    bs = object.__new__(BodySection)
    object.__setattr__(bs, "section", sec)
    object.__setattr__(bs, "origin", origin)
    object.__setattr__(bs, "data", data)
    object.__setattr__(bs, "binary", binary)
    d["sections"] = (*d["sections"], bs)
    return True


def build_fetch(seq: int, tokens: list[Any], utf8: bool) -> Fetch:
    """msg-att = "(" (msg-att-dynamic / msg-att-static) *(SP ...) ")" """
    # (nz-number: 1 to 2^32 - 1)
    if not 0 < seq < 2**32 or len(tokens) != 1 or not isinstance(tokens[0], list):
        raise err("FETCH response")
    items = tokens[0]
    if len(items) % 2 or not items:
        raise err("FETCH response")
    d = dict(_DEFAULTS)
    other: list[tuple[str, Any]] = []
    simple = _SIMPLE
    for k in range(0, len(items), 2):
        name = items[k]
        if type(name) is not str:
            raise err("FETCH item name")
        key = name.upper()
        fn = simple.get(key)
        if fn is not None:
            if items[k + 1] is None and key in _RFC822_ITEMS:
                other.append((key, None))
                continue
            fn(d, items[k + 1])
        elif "[" not in key or not _section_item(d, name, items[k + 1]):
            other.append((key, generic(items[k + 1])))
    if other:
        d["other"] = tuple(other)
    f = object.__new__(Fetch)
    s = object.__setattr__
    s(f, "seq", seq)
    for name, value in d.items():
        s(f, name, value)
    return f


def _literal_or_string(w: Writer, data: Any) -> None:
    if data is None:
        w.raw(b"NIL")
    elif isinstance(data, bytes):
        w.literal(data) if (13 in data or 10 in data or len(data) > 256) else w.string(data)
    elif w.check and isinstance(getattr(data, "length", None), int):
        return  # a streamed literal's stand-in: valid, but not writable as bytes
    else:
        raise LocalProtocolError("a streamed literal cannot be written back as bytes")


def write_fetch_items(w: Writer, f: Fetch) -> None:
    """Write the parenthesized msg-att of ``f``."""
    n = 0

    def item(name: bytes) -> None:
        nonlocal n
        w.raw(b" " + name + b" " if n else b"(" + name + b" ")
        n += 1

    if f.uid is not None:
        item(b"UID")
        w.number(f.uid)
    if f.flags is not None:
        item(b"FLAGS")
        w.value(tuple(f.flags))
    if f.internaldate is not None:
        item(b"INTERNALDATE")
        w.raw(b'"' + format_datetime(f.internaldate) + b'"')
    if f.rfc822_size is not None:
        item(b"RFC822.SIZE")
        w.number(f.rfc822_size)
    if f.envelope is not None:
        item(b"ENVELOPE")
        w.value(envelope_value(f.envelope))
    if f.body is not None:
        item(b"BODY")
        w.value(body_value(f.body, False))
    if f.bodystructure is not None:
        item(b"BODYSTRUCTURE")
        w.value(body_value(f.bodystructure, True))
    for bs in f.sections:
        if not isinstance(bs.section, Section):
            raise LocalProtocolError("BodySection.section must be a Section")
        name = (b"BINARY[" if bs.binary else b"BODY[") + section_bytes(bs.section) + b"]"
        if bs.origin is not None:
            name += b"<%d>" % bs.origin
        item(name)
        if bs.binary and isinstance(bs.data, bytes) and b"\x00" in bs.data:
            w.literal(bs.data, True)
        else:
            _literal_or_string(w, bs.data)
    for name, data in (
        (b"RFC822", f.rfc822),
        (b"RFC822.HEADER", f.rfc822_header),
        (b"RFC822.TEXT", f.rfc822_text),
    ):
        if data is not None:
            item(name)
            _literal_or_string(w, data)
    for part, size in f.binary_sizes:
        item(b"BINARY.SIZE[" + section_bytes(Section(part=part)) + b"]")
        w.number(size)
    if f.modseq is not None:
        item(b"MODSEQ")
        w.value((f.modseq,))
    if f.gm_msgid is not None:
        item(b"X-GM-MSGID")
        w.number(f.gm_msgid)
    if f.gm_thrid is not None:
        item(b"X-GM-THRID")
        w.number(f.gm_thrid)
    if f.gm_labels is not None:
        item(b"X-GM-LABELS")
        labels_out(w, f.gm_labels)
    for oname, value in f.other:
        w.raw(b" " if n else b"(")
        n += 1
        w.word(oname)
        w.raw(b" ")
        w.value(value)
    if not n:
        raise LocalProtocolError("a FETCH response needs at least one item")
    w.raw(b")")


def labels_out(w: Writer, labels: tuple[bytes, ...]) -> None:
    w.raw(b"(")
    for i, label in enumerate(labels):
        if i:
            w.raw(b" ")
        if label.startswith(b"\\") and label[1:].isalnum():
            w.raw(label)
        else:
            w.astring(label)
    w.raw(b")")
