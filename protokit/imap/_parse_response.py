"""Parse one framed response into a typed value (RFC 9051 section 7)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..errors import LocalProtocolError, RemoteProtocolError
from ._body import build_body, build_envelope
from ._fastfetch import fast_fetch
from ._fetch import build_fetch
from ._grammar import ATOM, FETCH_START, RESP_CODE, RESPONSE_START, TEXT
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
    QuotaResource,
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
from ._tokens import DEFAULT_MAX_DEPTH, tokenize
from ._types import Tag, _make, parsed
from ._values import (
    astring,
    err,
    flag_list,
    generic,
    mailbox,
    nstring,
    number,
    nz_number,
    sequence_set,
    string,
    word,
)

__all__ = ["MessageLike", "parse_response", "parse_response_code"]

_ = (build_body, build_envelope)


class MessageLike(Protocol):
    """What the parser reads: the framer's ``Message``."""

    @property
    def fragments(self) -> Sequence[Any]: ...


_NO_ARG_CODES = frozenset(
    {
        "ALERT", "PARSE", "READ-ONLY", "READ-WRITE", "TRYCREATE", "NOMODSEQ", "CLOSED",
        "UIDNOTSTICKY", "UNAVAILABLE", "AUTHENTICATIONFAILED", "AUTHORIZATIONFAILED",
        "EXPIRED", "PRIVACYREQUIRED", "CONTACTADMIN", "NOPERM", "INUSE", "EXPUNGEISSUED",
        "CORRUPTION", "SERVERBUG", "CLIENTBUG", "CANNOT", "LIMIT", "OVERQUOTA",
        "ALREADYEXISTS", "NONEXISTENT", "COMPRESSIONACTIVE", "NOTSAVED", "HASCHILDREN",
        "UNKNOWN-CTE", "TOOBIG", "USEATTR",
    }
)  # fmt: skip
_NUMBER_CODES = frozenset({"UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "APPENDLIMIT"})


def _code_value(name: str, args: bytes | None) -> Any:
    if name in _NUMBER_CODES:
        if args is None:
            raise err(f"{name} code")
        return number(args.decode("ascii", "replace").strip(), f"{name} code")
    if name == "CAPABILITY":
        if args is None:
            raise err("CAPABILITY code")
        return tuple(word(x) for x in tokenize([args]))
    if name == "PERMANENTFLAGS":
        toks = tokenize([args or b""])
        if len(toks) != 1:
            raise err("PERMANENTFLAGS code")
        return flag_list(toks[0])
    if name == "BADCHARSET":
        if args is None:
            return ()
        toks = tokenize([args])
        if len(toks) != 1 or not isinstance(toks[0], list):
            raise err("BADCHARSET code")
        charsets = tuple(astring(x, "charset") for x in toks[0])
        # A charset name is US-ASCII (RFC 2978): 8-bit bytes in one are no
        # charset, and no valid writing of them exists.
        if not all(cs.isascii() for cs in charsets):
            raise err("BADCHARSET code")
        return charsets
    if name in ("APPENDUID", "COPYUID"):
        parts = (args or b"").split(b" ")
        if len(parts) != (2 if name == "APPENDUID" else 3):
            raise err(f"{name} code")
        validity = nz_number(parts[0].decode("ascii", "replace"), f"{name} code")
        sets = tuple(sequence_set(p.decode("ascii", "replace"), f"{name} code") for p in parts[1:])
        return (validity, *sets)
    if name == "MODIFIED":
        return sequence_set((args or b"").decode("ascii", "replace"), "MODIFIED code")
    if name in _NO_ARG_CODES and args is None:
        return None
    return args


def parse_response_code(rest: bytes) -> tuple[ResponseCode | None, str]:
    """resp-text: the optional code and the text, from the bytes after the
    status word."""
    code = None
    if rest.startswith(b"["):
        m = RESP_CODE.match(rest)
        if m is None:
            raise err("response code")
        name = m.group(1).decode("ascii").upper()
        args = m.group(2)
        code = object.__new__(ResponseCode)
        object.__setattr__(code, "name", name)
        object.__setattr__(code, "value", _code_value(name, args))
        rest = rest[m.end() :]
    if TEXT.match(rest) is None:
        raise err("response text")
    # LENIENT-TRAILING-SPACE applies to text too: kept as sent, it is text
    return code, rest.decode("utf-8", "surrogateescape")


def _status(tag: Tag | None, status: str, rest: bytes) -> Status:
    code, text = parse_response_code(rest)
    st = object.__new__(Status)
    object.__setattr__(st, "tag", tag)
    object.__setattr__(st, "status", status)
    object.__setattr__(st, "code", code)
    object.__setattr__(st, "text", text)
    return st


def _exactly(v: list[Any], n: int, what: str) -> None:
    if len(v) != n:
        raise err(what)


def _capability(v: list[Any], utf8: bool) -> Capability:
    return parsed(Capability, capabilities=tuple(word(x, "capability") for x in v))


def _enabled(v: list[Any], utf8: bool) -> Enabled:
    return parsed(Enabled, capabilities=tuple(word(x, "capability") for x in v))


def _flags(v: list[Any], utf8: bool) -> Flags:
    _exactly(v, 1, "FLAGS response")
    return parsed(Flags, flags=flag_list(v[0]))


def _list(kind: str) -> Callable[[list[Any], bool], ListResponse]:
    def build(v: list[Any], utf8: bool) -> ListResponse:
        # mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil)
        #                SP mailbox [SP mbox-list-extended]
        if len(v) not in (3, 4) or not isinstance(v[0], list):
            raise err(f"{kind} response")
        attrs = tuple(word(x, "mailbox attribute") for x in v[0])
        delim = v[1]
        if delim is not None:
            if not isinstance(delim, bytes) or len(delim) != 1 or not delim.isascii():
                raise err("hierarchy delimiter")  # one octet is 8-bit only when not UTF-8
            delim = delim.decode("ascii")
        extended: tuple[tuple[str, Any], ...] = ()
        if len(v) == 4:
            ext = v[3]
            if not isinstance(ext, list) or len(ext) % 2:
                raise err("mbox-list-extended")
            tags = [astring(ext[k]) for k in range(0, len(ext), 2)]
            # mbox-list-extended-item-tag = astring whose content is an atom
            # (RFC 5258 9: eitem-standard-tag / eitem-vendor-tag)
            if not all(ATOM.match(t) for t in tags):
                raise err("mbox-list-extended")
            extended = tuple(
                (t.decode("ascii").upper(), generic(ext[k + 1]))
                for t, k in zip(tags, range(0, len(ext), 2), strict=True)
            )
        try:  # the constructor validates: what it refuses, the peer sent
            return ListResponse(
                kind=kind,
                attributes=attrs,
                delimiter=delim,
                mailbox=mailbox(v[2], utf8),
                extended=extended,
            )
        except LocalProtocolError as exc:
            raise err(f"{kind} response") from exc

    return build


def _status_response(v: list[Any], utf8: bool) -> StatusResponse:
    _exactly(v, 2, "STATUS response")
    items = v[1]
    if not isinstance(items, list) or len(items) % 2:
        raise err("STATUS response")
    return StatusResponse(
        mailbox=mailbox(v[0], utf8),
        items=tuple(
            (word(items[k]).upper(), number(items[k + 1])) for k in range(0, len(items), 2)
        ),
    )


def _ids(v: list[Any], what: str) -> tuple[tuple[int, ...], int | None]:
    modseq = None
    if v and isinstance(v[-1], list):
        tail = v.pop()
        if len(tail) != 2 or word(tail[0]).upper() != "MODSEQ":
            raise err(what)
        modseq = number(tail[1], what)
    return tuple(nz_number(x, what) for x in v), modseq


def _search(v: list[Any], utf8: bool) -> Search:
    ids, modseq = _ids(v, "SEARCH response")
    return parsed(Search, ids=ids, modseq=modseq)


def _sort(v: list[Any], utf8: bool) -> Sort:
    ids, modseq = _ids(v, "SORT response")
    return parsed(Sort, ids=ids, modseq=modseq)


def _thread(v: list[Any], utf8: bool) -> Thread:
    def conv(x: Any) -> Any:
        if isinstance(x, list):
            if not x:  # thread-list = "(" (thread-members / thread-nested) ")"
                raise err("THREAD response")
            return tuple(conv(y) for y in x)
        return nz_number(x, "THREAD response")

    for t in v:
        if not isinstance(t, list):
            raise err("THREAD response")
    return parsed(Thread, threads=tuple(conv(t) for t in v))


def _esearch(v: list[Any], utf8: bool) -> ESearch:
    # esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)
    tag = None
    if v and isinstance(v[0], list):
        c = v.pop(0)
        if len(c) != 2 or word(c[0]).upper() != "TAG":
            raise err("ESEARCH correlator")
        raw = astring(c[1])
        if not raw.isascii():  # tag-string: a command tag, ASCII only
            raise err("ESEARCH correlator")
        tag = raw.decode("ascii")
    uid = False
    if v and isinstance(v[0], str) and v[0].upper() == "UID":
        uid = True
        v.pop(0)
    if len(v) % 2:
        raise err("ESEARCH response")
    items: list[tuple[str, Any]] = []
    for k in range(0, len(v), 2):
        if v[k] is None:  # NIL is no return-data name (the writer cannot send it)
            raise err("ESEARCH response")
        name = word(v[k]).upper()
        val = v[k + 1]
        if name in ("MIN", "MAX", "COUNT", "MODSEQ"):
            items.append((name, number(val, "ESEARCH " + name)))
        elif name == "ALL":
            items.append((name, sequence_set(val, "ESEARCH ALL")))
        else:
            items.append((name, generic(val)))
    return parsed(ESearch, tag=tag, uid=uid, items=tuple(items))


def _vanished(v: list[Any], utf8: bool) -> Vanished:
    earlier = False
    if len(v) == 2:
        if v[0] != ["EARLIER"] and not (
            isinstance(v[0], list) and len(v[0]) == 1 and word(v[0][0]).upper() == "EARLIER"
        ):
            raise err("VANISHED response")
        earlier = True
        v = v[1:]
    _exactly(v, 1, "VANISHED response")
    return parsed(Vanished, uids=sequence_set(v[0], "VANISHED response"), earlier=earlier)


def _namespace_part(x: Any) -> tuple[NamespaceEntry, ...] | None:
    if x is None:
        return None
    if not isinstance(x, list) or not x:
        raise err("NAMESPACE response")
    out = []
    for e in x:
        if not isinstance(e, list) or len(e) < 2 or len(e) % 2:
            raise err("NAMESPACE entry")
        delim = e[1]
        if delim is not None:
            if not isinstance(delim, bytes) or len(delim) != 1:
                raise err("NAMESPACE delimiter")
            delim = delim.decode("ascii", "replace")
        exts = []
        for k in range(2, len(e), 2):
            vals = e[k + 1]
            if not isinstance(vals, list):
                raise err("NAMESPACE extension")
            exts.append((string(e[k]), tuple(string(y) for y in vals)))
        out.append(NamespaceEntry(prefix=string(e[0]), delimiter=delim, extensions=tuple(exts)))
    return tuple(out)


def _namespace(v: list[Any], utf8: bool) -> Namespace:
    _exactly(v, 3, "NAMESPACE response")
    return Namespace(
        personal=_namespace_part(v[0]), other=_namespace_part(v[1]), shared=_namespace_part(v[2])
    )


def _id(v: list[Any], utf8: bool) -> Id:
    _exactly(v, 1, "ID response")
    if v[0] is None:
        return parsed(Id, params=None)
    p = v[0]
    if not isinstance(p, list) or len(p) % 2:
        raise err("ID response")
    return parsed(Id, params=tuple((string(p[k]), nstring(p[k + 1])) for k in range(0, len(p), 2)))


def _quota(v: list[Any], utf8: bool) -> Quota:
    _exactly(v, 2, "QUOTA response")
    r = v[1]
    if not isinstance(r, list) or len(r) % 3:
        raise err("QUOTA response")
    return Quota(
        root=astring(v[0]),
        resources=tuple(
            QuotaResource(name=word(r[k]).upper(), usage=number(r[k + 1]), limit=number(r[k + 2]))
            for k in range(0, len(r), 3)
        ),
    )


def _quotaroot(v: list[Any], utf8: bool) -> QuotaRoot:
    if not v:
        raise err("QUOTAROOT response")
    return parsed(QuotaRoot, mailbox=mailbox(v[0], utf8), roots=tuple(astring(x) for x in v[1:]))


_BUILDERS: dict[str, Callable[[list[Any], bool], Response]] = {
    "CAPABILITY": _capability,
    "ENABLED": _enabled,
    "FLAGS": _flags,
    "LIST": _list("LIST"),
    "LSUB": _list("LSUB"),
    "STATUS": _status_response,
    "SEARCH": _search,
    "SORT": _sort,
    "THREAD": _thread,
    "ESEARCH": _esearch,
    "VANISHED": _vanished,
    "NAMESPACE": _namespace,
    "ID": _id,
    "QUOTA": _quota,
    "QUOTAROOT": _quotaroot,
}
_UNTAGGED_STATUS = frozenset({"OK", "NO", "BAD", "PREAUTH", "BYE"})
_TAGGED_STATUS = frozenset({"OK", "NO", "BAD"})


def parse_response(
    message: MessageLike, *, utf8: bool = False, max_depth: int = DEFAULT_MAX_DEPTH
) -> Response:
    """Parse one complete response (a framer ``Message``).

    ``utf8``: mailbox names are UTF-8 (UTF8=ACCEPT enabled, or IMAP4rev2),
    not modified UTF-7.  Raises :class:`RemoteProtocolError` and nothing else.
    """
    try:
        return _parse(message.fragments, utf8, max_depth)
    except RemoteProtocolError:
        raise
    except (ValueError, TypeError, IndexError, UnicodeError, OverflowError) as exc:
        # A safety net: the builders check every position, so this is a bug
        # if reached, but the contract (our error type only) must hold.
        raise RemoteProtocolError(f"malformed response ({type(exc).__name__})") from exc


def _fetch(n: int, fragments: Sequence[Any], pos: int, utf8: bool, max_depth: int) -> Fetch:
    """``* n FETCH`` from ``pos``: the fast path, else the generic one."""
    fast = fast_fetch(n, fragments, pos, max_depth)
    if fast is not None:
        return fast
    return build_fetch(n, tokenize(fragments, pos, max_depth=max_depth), utf8)


def _parse(fragments: Sequence[Any], utf8: bool, max_depth: int) -> Response:
    line = fragments[0] if fragments else None
    if not isinstance(line, bytes):
        raise RemoteProtocolError("empty response")
    m = FETCH_START.match(line)
    if m is not None:
        # a numbered FETCH as servers send it (most of a mailbox's traffic),
        # without reading the response name in general
        return _fetch(int(m.group(1)), fragments, m.end(), utf8, max_depth)
    m = RESPONSE_START.match(line)
    if m is None:
        raise RemoteProtocolError("not an IMAP response")
    pos = m.end()
    if m.group(1):
        # LENIENT-BARE-PLUS: "+" with no text is a continuation with no data
        if len(fragments) != 1 or TEXT.match(line, pos) is None:
            raise err("continuation request")
        cont = object.__new__(ContinuationRequest)
        object.__setattr__(cont, "data", line[pos:])
        return cont
    if m.group(2):
        name = m.group(4).decode("ascii").upper()
        if name == "NIL":  # NIL is no response name (nor atom), numbered or not
            raise err("response name")
        num = m.group(3)
        if num is not None:
            n = int(num)
            if name == "FETCH":
                return _fetch(n, fragments, pos, utf8, max_depth)
            if len(fragments) == 1 and pos >= len(line.rstrip(b" ")):
                # number (EXISTS, RECENT): 0 to 2^32 - 1; nz-number
                # (EXPUNGE): 1 to 2^32 - 1
                if name == "EXISTS" or name == "RECENT":
                    if n >= 2**32:
                        raise err(f"{name} response")
                    if name == "EXISTS":
                        return parsed(Exists, count=n)
                    return parsed(Recent, count=n)
                if name == "EXPUNGE":
                    if not 0 < n < 2**32:
                        raise err("EXPUNGE response")
                    return parsed(Expunge, seq=n)
            values = tokenize(fragments, pos, max_depth=max_depth)
            return parsed(GenericResponse, name=name, number=n, values=generic(values))
        if name in _UNTAGGED_STATUS:
            if len(fragments) != 1:
                raise err("status response")
            return _status(None, name, line[pos:])
        values = tokenize(fragments, pos, max_depth=max_depth)
        builder = _BUILDERS.get(name)
        if builder is None:
            return parsed(GenericResponse, name=name, values=generic(values))
        return builder(values, utf8)
    status = m.group(6).decode("ascii").upper()
    if status not in _TAGGED_STATUS or len(fragments) != 1:
        raise err("tagged response")
    return _status(_make(Tag, m.group(5).decode("ascii")), status, line[pos:])
