"""Write a typed response back to bytes (literals inline: a server never
waits for a continuation)."""

from __future__ import annotations

from typing import Any

from ..errors import LocalProtocolError
from ._fetch import write_fetch_items
from ._grammar import ATOM
from ._responses import (
    Capability,
    ContinuationRequest,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    Fetch,
    Flags,
    GenericResponse,
    Id,
    ListResponse,
    Namespace,
    NamespaceEntry,
    Quota,
    QuotaRoot,
    Recent,
    Response,
    ResponseCode,
    Search,
    Sort,
    Status,
    StatusResponse,
    Thread,
    Vanished,
)
from ._types import Flag, Mailbox, SequenceSet, Tag, is_nz_number
from ._write import Adjacent, Writer, _quotable

__all__ = ["check_response", "write_response", "write_response_code"]

_TAGGED = ("OK", "NO", "BAD")
_UNTAGGED = ("OK", "NO", "BAD", "PREAUTH", "BYE")


def _flags(w: Writer, flags: tuple[Flag, ...]) -> None:
    w.raw(b"(")
    for i, f in enumerate(flags):
        if i:
            w.raw(b" ")
        w.raw(Flag(f).encode("ascii"))
    w.raw(b")")


def _words(w: Writer, words: tuple[str, ...]) -> None:
    for x in words:
        w.raw(b" ")
        w.word(x, nil=True)


def write_response_code(w: Writer, code: ResponseCode) -> None:
    """ "[" resp-text-code "]" """
    name = code.name.upper()
    w.raw(b"[")
    w.word(name, nil=True)
    v = code.value
    if v is None:
        pass
    elif name == "CAPABILITY":
        _words(w, v)
    elif name == "PERMANENTFLAGS":
        w.raw(b" ")
        _flags(w, v)
    elif name == "BADCHARSET":
        if v:
            w.raw(b" (")
            for i, cs in enumerate(v):
                if i:
                    w.raw(b" ")
                # charset = atom / quoted (RFC 9051 7.1): an astring's "]"
                # would end the response code, so such names are quoted.
                # Never a literal: a charset name is US-ASCII (RFC 2978).
                if isinstance(cs, bytes) and ATOM.match(cs) and b"[" not in cs:
                    w.raw(cs)
                elif isinstance(cs, bytes) and _quotable(cs, False):
                    w.string(cs)
                else:
                    raise LocalProtocolError(
                        f"BADCHARSET: {cs!r} is not a charset name "
                        "(an atom or an ASCII quoted string)"
                    )
            w.raw(b")")
    elif isinstance(v, int):
        w.raw(b" ")
        w.number(v)
    elif isinstance(v, SequenceSet):
        w.raw(b" " + v.to_bytes())
    elif isinstance(v, tuple) and name in ("APPENDUID", "COPYUID"):
        w.raw(b" ")
        w.number(v[0])
        for s in v[1:]:
            if not isinstance(s, SequenceSet):
                raise LocalProtocolError(f"{name} needs sequence sets")
            w.raw(b" " + s.to_bytes())
    elif isinstance(v, bytes):
        if b"]" in v.replace(b'\\"', b"").split(b'"')[0::2][-1] or b"\r" in v or b"\n" in v:
            raise LocalProtocolError("response code text contains ']' or CR/LF")
        w.raw(b" " + v)
    else:
        raise LocalProtocolError(f"cannot write the value of response code {name}")
    w.raw(b"]")


def _status(w: Writer, r: Status) -> None:
    if r.tag is None:
        if r.status not in _UNTAGGED:
            raise LocalProtocolError(f"invalid untagged status {r.status!r}")
        w.raw(b"* ")
    else:
        if r.status not in _TAGGED:
            raise LocalProtocolError(f"invalid tagged status {r.status!r}")
        w.raw(Tag(r.tag).encode("ascii") + b" ")
    w.raw(r.status.encode("ascii"))
    if r.code is not None:
        w.raw(b" ")
        write_response_code(w, r.code)
    # resp-text = ["[" resp-text-code "]" SP] [text] (RFC 9051): after a code
    # the text may be empty; without one, an empty text is refused (RFC 3501
    # requires text, and the writer never relies on LENIENT-CODE-NO-TEXT)
    if not r.text and r.code is None:
        raise LocalProtocolError("a status response needs a code or text")
    if r.code is None and r.text.startswith("["):
        raise LocalProtocolError("response text must not start with '['")
    w.raw(b" ")
    w.text(r.text)


def _mailbox(w: Writer, name: str) -> None:
    w.mailbox(Mailbox(name))


def _check_seq(name: str, n: object) -> None:
    if not is_nz_number(n):
        raise LocalProtocolError(f"{name} needs a sequence number from 1 to 2^32 - 1, not {n!r}")


def _body(w: Writer, r: Any) -> None:
    if isinstance(r, Fetch):
        _check_seq("FETCH", r.seq)
        w.raw(b"* %d FETCH " % r.seq)
        write_fetch_items(w, r)
    elif isinstance(r, Exists | Recent):
        name = "EXISTS" if isinstance(r, Exists) else "RECENT"
        # number: 0 to 2^32 - 1
        if not isinstance(r.count, int) or isinstance(r.count, bool) or not 0 <= r.count < 2**32:
            raise LocalProtocolError(f"{name} needs a count from 0 to 2^32 - 1, not {r.count!r}")
        w.number(r.count)
        w.raw(b" " + name.encode())
        w.parts.insert(0, b"* ")
    elif isinstance(r, Expunge):
        _check_seq("EXPUNGE", r.seq)
        w.raw(b"* ")
        w.number(r.seq)
        w.raw(b" EXPUNGE")
    elif isinstance(r, Capability | Enabled):
        w.raw(b"* CAPABILITY" if isinstance(r, Capability) else b"* ENABLED")
        _words(w, r.capabilities)
    elif isinstance(r, Flags):
        w.raw(b"* FLAGS ")
        _flags(w, r.flags)
    elif isinstance(r, ListResponse):
        if r.kind not in ("LIST", "LSUB"):
            raise LocalProtocolError("ListResponse.kind is LIST or LSUB")
        w.raw(b"* " + r.kind.encode() + b" (")
        for i, a in enumerate(r.attributes):
            if i:
                w.raw(b" ")
            w.word(a)
        w.raw(b") ")
        if r.delimiter is None:
            w.raw(b"NIL")
        else:
            d = r.delimiter.encode("ascii", "replace")
            if len(d) != 1 or d in b"\r\n\x00":
                raise LocalProtocolError("hierarchy delimiter must be one ASCII character")
            w.string(d)
        w.raw(b" ")
        _mailbox(w, r.mailbox)
        if r.extended:
            w.raw(b" (")
            for i, (tag, val) in enumerate(r.extended):
                if i:
                    w.raw(b" ")
                w.word(tag)
                w.raw(b" ")
                w.value(val)
            w.raw(b")")
    elif isinstance(r, StatusResponse):
        w.raw(b"* STATUS ")
        _mailbox(w, r.mailbox)
        w.raw(b" (")
        for i, (name, n) in enumerate(r.items):
            if i:
                w.raw(b" ")
            w.word(name)
            w.raw(b" ")
            w.number(n)
        w.raw(b")")
    elif isinstance(r, Search | Sort):
        w.raw(b"* SEARCH" if isinstance(r, Search) else b"* SORT")
        for n in r.ids:
            if n < 1:
                raise LocalProtocolError("message numbers are positive")
            w.raw(b" ")
            w.number(n)
        if r.modseq is not None:
            w.raw(b" (MODSEQ ")
            w.number(r.modseq)
            w.raw(b")")
    elif isinstance(r, Thread):
        w.raw(b"* THREAD")
        if r.threads:
            w.raw(b" ")
        for t in r.threads:
            if not isinstance(t, tuple) or not t:
                raise LocalProtocolError("each thread is a non-empty tuple")
            w.value(_adjacent(t))
    elif isinstance(r, ESearch):
        w.raw(b"* ESEARCH")
        if r.tag is not None:
            w.raw(b" (TAG ")
            if not r.tag.isascii():
                # tag-string is a tag: ASCII only (RFC 4731 / RFC 9051 7.3.4)
                raise LocalProtocolError("an ESEARCH tag is ASCII")
            w.string(r.tag.encode("ascii"))
            w.raw(b")")
        if r.uid:
            w.raw(b" UID")
        for name, val in r.items:
            w.raw(b" ")
            w.word(name)
            w.raw(b" ")
            w.value(val)
    elif isinstance(r, Vanished):
        w.raw(b"* VANISHED (EARLIER) " if r.earlier else b"* VANISHED ")
        w.raw(r.uids.to_bytes())
    elif isinstance(r, Namespace):
        w.raw(b"* NAMESPACE")
        for part in (r.personal, r.other, r.shared):
            w.raw(b" ")
            _namespace_part(w, part)
    elif isinstance(r, Id):
        w.raw(b"* ID ")
        if r.params is None:
            w.raw(b"NIL")
        else:
            w.value(tuple(x for kv in r.params for x in kv))
    elif isinstance(r, Quota):
        w.raw(b"* QUOTA ")
        w.astring(r.root)
        w.raw(b" (")
        for i, res in enumerate(r.resources):
            if i:
                w.raw(b" ")
            w.word(res.name)
            w.raw(b" ")
            w.number(res.usage)
            w.raw(b" ")
            w.number(res.limit)
        w.raw(b")")
    elif isinstance(r, QuotaRoot):
        w.raw(b"* QUOTAROOT ")
        _mailbox(w, r.mailbox)
        for root in r.roots:
            w.raw(b" ")
            w.astring(root)
    elif isinstance(r, GenericResponse):
        w.raw(b"* ")
        if r.number is not None:
            w.number(r.number)
            w.raw(b" ")
        w.word(r.name)
        for v in r.values:
            w.raw(b" ")
            w.value(v)
    else:
        raise LocalProtocolError(f"not a response: {type(r).__name__}")


def _adjacent(t: tuple[Any, ...]) -> Adjacent:
    return Adjacent(_adjacent(x) if isinstance(x, tuple) else x for x in t)


def _namespace_part(w: Writer, part: tuple[NamespaceEntry, ...] | None) -> None:
    if part is None:
        w.raw(b"NIL")
        return
    if not part:
        raise LocalProtocolError("a namespace list is NIL or non-empty")
    w.raw(b"(")
    for e in part:
        w.raw(b"(")
        w.string(e.prefix)
        w.raw(b" ")
        if e.delimiter is None:
            w.raw(b"NIL")
        else:
            w.string(e.delimiter.encode("ascii"))
        for name, values in e.extensions:
            w.raw(b" ")
            w.string(name)
            w.raw(b" ")
            w.value(values)
        w.raw(b")")
    w.raw(b")")


def check_response(response: Response) -> None:
    """Raise LocalProtocolError unless ``response`` can be written validly
    (what a user-built response's constructor runs)."""
    w = Writer(server=True)
    w.check = True
    _write(w, response)


def write_response(response: Response, *, utf8: bool = False) -> bytes:
    """The bytes of one response, CRLF included; raises LocalProtocolError
    for a value that cannot be written validly."""
    w = Writer(server=True, utf8=utf8)
    _write(w, response)
    return w.finish_bytes()


def _write(w: Writer, response: Response) -> None:
    if isinstance(response, Status):
        _status(w, response)
    elif isinstance(response, ContinuationRequest):
        # "+ " with empty data is valid (an empty base64 challenge); the
        # writer never produces LENIENT-BARE-PLUS's "+" without the space
        w.raw(b"+ ")
        w.text(response.data.decode("utf-8", "surrogateescape"))
    else:
        _body(w, response)
