"""Parse one framed command into a typed value (RFC 9051 section 6).

Errors are :class:`RemoteProtocolError` carrying ``reply = b"tag BAD ...\\r\\n"``
(the tag recovered from the line whenever it has one), so a server can
answer and carry on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import RemoteProtocolError
from ..wire._sasl import parse_initial_response
from ..wire._secret import Secret
from ._commands import (
    Append,
    AppendMessage,
    Authenticate,
    CapabilityCommand,
    Check,
    Close,
    Command,
    Compress,
    Copy,
    Create,
    Delete,
    Done,
    Enable,
    Examine,
    ExpungeCommand,
    FetchBody,
    FetchCommand,
    GenericCommand,
    GetQuota,
    GetQuotaRoot,
    IdCommand,
    Idle,
    List,
    Login,
    Logout,
    Lsub,
    Move,
    NamespaceCommand,
    Noop,
    Rename,
    SearchCommand,
    Select,
    SetQuota,
    SortCommand,
    StartTLS,
    StatusCommand,
    Store,
    Subscribe,
    ThreadCommand,
    Unselect,
    Unsubscribe,
)
from ._grammar import COMMAND_START, FETCH_ITEM, PARAM_NAME, RECOVER_TAG
from ._parse_response import MessageLike
from ._search import parse_search_keys
from ._tokens import DEFAULT_MAX_DEPTH, Bin, tokenize
from ._types import Tag, _make, parse_datetime, parsed
from ._values import (
    astring,
    err,
    flag_list,
    generic,
    mailbox,
    nstring,
    number,
    section,
    sequence_set,
    string,
    word,
)

__all__ = ["parse_command"]

_Builder = Callable[[Tag, list[Any], bool, int], Command]


def _none(cls: Any) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        if v:
            raise err(f"{cls.__name__}: no arguments expected")
        return parsed(cls, tag=tag)  # type: ignore[no-any-return]

    return build


def _n(v: list[Any], n: int, what: str) -> None:
    if len(v) != n:
        raise err(f"{what} arguments")


def _params(v: list[Any], what: str) -> tuple[tuple[str, Any], ...]:
    """select-params / create-params / fetch-modifiers: "(" name [SP value] ... ")".

    A value that is a bare number reads as ``int``; any other value is kept
    as a generic value."""
    out: list[tuple[str, Any]] = []
    i = 0
    while i < len(v):
        name = word(v[i], what).upper()
        if PARAM_NAME.match(name) is None:  # tagged-ext-label (the writer's rule too)
            raise err(what)
        i += 1
        value = None
        if i < len(v) and not (type(v[i]) is str and PARAM_NAME.match(v[i])):
            value = _param_value(v[i])
            i += 1
        out.append((name, value))
    return tuple(out)


def _param_value(v: Any) -> Any:
    # a number is an int (CHANGEDSINCE 5, QRESYNC (67890007 ...)); anything
    # else is a generic value
    if type(v) is str and v.isdigit() and len(v) <= 20:
        n = int(v)
        if n < 2**63:  # number64; a larger one stays a generic value, as sent
            return n
    if type(v) is list:
        return tuple([_param_value(x) for x in v])
    return generic(v)


def _authenticate(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    if len(v) not in (1, 2):
        raise err("AUTHENTICATE arguments")
    ir = None
    if len(v) == 2:
        if type(v[1]) is not str:
            raise err("AUTHENTICATE initial response")
        ir = Secret(parse_initial_response(v[1].encode("ascii")) or b"")
    return parsed(Authenticate, tag=tag, mechanism=word(v[0]).upper(), initial_response=ir)


def _login(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 2, "LOGIN")
    return parsed(Login, tag=tag, username=astring(v[0]), password=Secret(astring(v[1])))


def _enable(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    if not v:
        raise err("ENABLE arguments")
    return parsed(Enable, tag=tag, capabilities=tuple(word(x).upper() for x in v))


def _id(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 1, "ID")
    if v[0] is None:
        return parsed(IdCommand, tag=tag, params=None)
    p = v[0]
    if not isinstance(p, list) or len(p) % 2:
        raise err("ID arguments")
    return parsed(
        IdCommand,
        tag=tag,
        params=tuple((string(p[k]), nstring(p[k + 1])) for k in range(0, len(p), 2)),
    )


def _compress(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 1, "COMPRESS")
    return parsed(Compress, tag=tag, mechanism=word(v[0]).upper())


def _with_params(cls: Any) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        if len(v) == 2 and isinstance(v[1], list):
            return parsed(  # type: ignore[no-any-return]
                cls, tag=tag, mailbox=mailbox(v[0], utf8), params=_params(v[1], cls.__name__)
            )
        _n(v, 1, cls.__name__)
        return parsed(cls, tag=tag, mailbox=mailbox(v[0], utf8))  # type: ignore[no-any-return]

    return build


def _one_mailbox(cls: Any) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        _n(v, 1, cls.__name__)
        return parsed(cls, tag=tag, mailbox=mailbox(v[0], utf8))  # type: ignore[no-any-return]

    return build


def _rename(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 2, "RENAME")
    return parsed(Rename, tag=tag, mailbox=mailbox(v[0], utf8), new_name=mailbox(v[1], utf8))


def _list(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    # list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
    #        [SP list-return-opts]
    # list-mailbox = 1*list-char / string  (list-char includes "%" and "*")
    selection: tuple[str, ...] = ()
    if v and isinstance(v[0], list):
        selection = tuple(word(x).upper() for x in v.pop(0))
    if len(v) < 2:
        raise err("LIST arguments")
    reference = _pattern(v[0], utf8)
    pats = v[1]
    patterns = (
        tuple(_pattern(p, utf8) for p in pats)
        if isinstance(pats, list)
        else (_pattern(pats, utf8),)
    )
    if not patterns:
        raise err("LIST patterns")
    ret: tuple[tuple[str, Any], ...] = ()
    if len(v) == 4:
        if type(v[2]) is not str or v[2].upper() != "RETURN" or not isinstance(v[3], list):
            raise err("LIST RETURN")
        ret = _params(v[3], "LIST RETURN")
    elif len(v) != 2:
        raise err("LIST arguments")
    return parsed(
        List,
        tag=tag,
        reference=reference,
        patterns=patterns,
        selection=selection,
        return_options=ret,
    )


def _pattern(v: Any, utf8: bool) -> Any:
    if type(v) is str:
        # list-char = ATOM-CHAR / list-wildcards / resp-specials
        return mailbox(v.encode("ascii"), utf8)
    return mailbox(v, utf8)


def _lsub(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 2, "LSUB")
    return parsed(Lsub, tag=tag, reference=_pattern(v[0], utf8), pattern=_pattern(v[1], utf8))


def _status(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 2, "STATUS")
    if not isinstance(v[1], list) or not v[1]:
        raise err("STATUS items")
    return parsed(
        StatusCommand,
        tag=tag,
        mailbox=mailbox(v[0], utf8),
        items=tuple(word(x).upper() for x in v[1]),
    )


def _append(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    # append = "APPEND" SP mailbox 1*append-message            (MULTIAPPEND)
    # append-message = append-opts SP append-data
    # append-opts = [SP flag-list] [SP date-time]
    # append-data = literal / literal8 / append-data-ext ("UTF8" SP "(" literal8 ")")
    if len(v) < 2:
        raise err("APPEND arguments")
    box = mailbox(v[0], utf8)
    msgs = []
    i = 1
    while i < len(v):
        flags = None
        date = None
        if isinstance(v[i], list):
            flags = flag_list(v[i])
            i += 1
        # the tree does not tell a quoted date-time from a literal: a string
        # followed by more data is the date when it reads as one
        if i + 1 < len(v) and type(v[i]) is bytes:
            date = parse_datetime(v[i])
            if date is not None:
                i += 1
        if i >= len(v):
            raise err("APPEND message")
        data = v[i]
        if type(data) is str and data.upper() == "UTF8":
            i += 1
            if i >= len(v) or not isinstance(v[i], list) or len(v[i]) != 1:
                raise err("APPEND UTF8")
            data = v[i][0]
        if isinstance(data, str | list) or data is None:
            raise err("APPEND message data")
        binary = type(data) is Bin
        if binary:
            data = bytes(data)
        msgs.append(AppendMessage(flags=flags, date=date, data=data, binary=binary))
        i += 1
    return parsed(Append, tag=tag, mailbox=box, messages=tuple(msgs))


def _expunge(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    if v:
        raise err("EXPUNGE arguments")
    return parsed(ExpungeCommand, tag=tag)


def _uid_expunge(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 1, "UID EXPUNGE")
    return parsed(ExpungeCommand, tag=tag, uids=sequence_set(v[0]))


def _charset(v: list[Any]) -> tuple[bytes | None, list[Any]]:
    if len(v) >= 2 and type(v[0]) is str and v[0].upper() == "CHARSET":
        return astring(v[1], "charset"), v[2:]
    return None, v


def _search(uid: bool) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        # search = "SEARCH" [search-return-opts] SP search-program
        ret = None
        if len(v) >= 2 and type(v[0]) is str and v[0].upper() == "RETURN":
            if not isinstance(v[1], list):
                raise err("SEARCH RETURN")
            ret = tuple(word(x).upper() for x in v[1])
            v = v[2:]
        charset, v = _charset(v)
        return parsed(
            SearchCommand,
            tag=tag,
            keys=parse_search_keys(v, depth),
            charset=charset,
            return_options=ret,
            uid=uid,
        )

    return build


_MACROS = ("ALL", "FAST", "FULL")


def _fetch_attr(x: Any) -> Any:
    if type(x) is not str:
        raise err("fetch attribute")
    name = x.upper()
    if "[" not in name:
        if "<" in name or "%" in name or "*" in name or "\\" in name or "]" in name:
            raise err("fetch attribute")
        return name
    m = FETCH_ITEM.match(x.encode("ascii"))
    if m is None:
        raise err("fetch attribute")
    base = m.group(1).upper()
    kinds = {
        b"BODY": (False, False, False),
        b"BODY.PEEK": (True, False, False),
        b"BINARY": (False, True, False),
        b"BINARY.PEEK": (True, True, False),
        b"BINARY.SIZE": (False, True, True),
    }
    kind = kinds.get(base)
    if kind is None:
        raise err("fetch attribute")
    peek, binary, size = kind
    sec = section(m.group(2).decode("ascii"))
    if binary and sec.text is not None:
        raise err("BINARY section")
    partial = None
    if m.group(3) is not None:
        if m.group(4) is None or size:
            raise err("partial")
        partial = (int(m.group(3)), int(m.group(4)))
        if partial[1] == 0:
            raise err("partial")
    return FetchBody(section=sec, peek=peek, partial=partial, binary=binary, size=size)


def _fetch(uid: bool) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        if len(v) not in (2, 3):
            raise err("FETCH arguments")
        seq = sequence_set(v[0])
        items = v[1]
        macro = False
        if isinstance(items, list):
            if not items:
                raise err("FETCH attributes")
            attrs = tuple(_fetch_attr(x) for x in items)
        elif type(items) is str and items.upper() in _MACROS:
            attrs = (items.upper(),)
            macro = True
        else:
            attrs = (_fetch_attr(items),)
        mods: tuple[tuple[str, Any], ...] = ()
        if len(v) == 3:
            if not isinstance(v[2], list):
                raise err("FETCH modifiers")
            mods = _params(v[2], "FETCH modifiers")
        return parsed(
            FetchCommand,
            tag=tag,
            sequence_set=seq,
            items=attrs,
            modifiers=mods,
            uid=uid,
            macro=macro,
        )

    return build


def _store(uid: bool) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        # store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
        if len(v) < 3:
            raise err("STORE arguments")
        seq = sequence_set(v[0])
        unchanged = None
        i = 1
        if isinstance(v[1], list):
            mods = v[1]
            if len(mods) != 2 or word(mods[0]).upper() != "UNCHANGEDSINCE":
                raise err("STORE modifiers")
            unchanged = number(mods[1], "UNCHANGEDSINCE")
            i = 2
        if len(v) != i + 2 or type(v[i]) is not str:
            raise err("STORE arguments")
        op = v[i].upper()
        mode = op[0] if op[:1] in ("+", "-") else ""
        op = op[len(mode) :]
        silent = op.endswith(".SILENT")
        if silent:
            op = op[: -len(".SILENT")]
        vals = v[i + 1] if isinstance(v[i + 1], list) else [v[i + 1]]
        if op == "FLAGS":
            return parsed(Store,
                tag=tag, sequence_set=seq, mode=mode, silent=silent, flags=flag_list(vals),
                unchangedsince=unchanged, uid=uid,
            )  # fmt: skip
        if op == "X-GM-LABELS":
            labels = tuple(astring(x) if type(x) is not str else x.encode() for x in vals)
            return parsed(Store,
                tag=tag, sequence_set=seq, mode=mode, silent=silent, gm_labels=labels,
                unchangedsince=unchanged, uid=uid,
            )  # fmt: skip
        raise err("STORE item")

    return build


def _copy_move(cls: Any, uid: bool) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        _n(v, 2, cls.__name__)
        return parsed(  # type: ignore[no-any-return]
            cls, tag=tag, sequence_set=sequence_set(v[0]), mailbox=mailbox(v[1], utf8), uid=uid
        )

    return build


def _sort(uid: bool) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        if len(v) < 3 or not isinstance(v[0], list) or not v[0]:
            raise err("SORT arguments")
        return parsed(
            SortCommand,
            tag=tag,
            criteria=tuple(word(x).upper() for x in v[0]),
            charset=astring(v[1], "charset"),
            keys=parse_search_keys(v[2:], depth),
            uid=uid,
        )

    return build


def _thread(uid: bool) -> _Builder:
    def build(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
        if len(v) < 3:
            raise err("THREAD arguments")
        return parsed(
            ThreadCommand,
            tag=tag,
            algorithm=word(v[0]).upper(),
            charset=astring(v[1], "charset"),
            keys=parse_search_keys(v[2:], depth),
            uid=uid,
        )

    return build


def _getquota(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 1, "GETQUOTA")
    return parsed(GetQuota, tag=tag, root=astring(v[0]))


def _setquota(tag: Tag, v: list[Any], utf8: bool, depth: int) -> Command:
    _n(v, 2, "SETQUOTA")
    lim = v[1]
    if not isinstance(lim, list) or len(lim) % 2:
        raise err("SETQUOTA limits")
    return parsed(
        SetQuota,
        tag=tag,
        root=astring(v[0]),
        limits=tuple((word(lim[k]).upper(), number(lim[k + 1])) for k in range(0, len(lim), 2)),
    )


_COMMANDS: dict[str, _Builder] = {
    "CAPABILITY": _none(CapabilityCommand),
    "NOOP": _none(Noop),
    "LOGOUT": _none(Logout),
    "STARTTLS": _none(StartTLS),
    "AUTHENTICATE": _authenticate,
    "LOGIN": _login,
    "ENABLE": _enable,
    "ID": _id,
    "COMPRESS": _compress,
    "SELECT": _with_params(Select),
    "EXAMINE": _with_params(Examine),
    "CREATE": _with_params(Create),
    "DELETE": _one_mailbox(Delete),
    "RENAME": _rename,
    "SUBSCRIBE": _one_mailbox(Subscribe),
    "UNSUBSCRIBE": _one_mailbox(Unsubscribe),
    "LIST": _list,
    "LSUB": _lsub,
    "NAMESPACE": _none(NamespaceCommand),
    "STATUS": _status,
    "APPEND": _append,
    "IDLE": _none(Idle),
    "CHECK": _none(Check),
    "CLOSE": _none(Close),
    "UNSELECT": _none(Unselect),
    "EXPUNGE": _expunge,
    "SEARCH": _search(False),
    "FETCH": _fetch(False),
    "STORE": _store(False),
    "COPY": _copy_move(Copy, False),
    "MOVE": _copy_move(Move, False),
    "SORT": _sort(False),
    "THREAD": _thread(False),
    "GETQUOTA": _getquota,
    "GETQUOTAROOT": _one_mailbox(GetQuotaRoot),
    "SETQUOTA": _setquota,
}
_UID_COMMANDS: dict[str, _Builder] = {
    "SEARCH": _search(True),
    "FETCH": _fetch(True),
    "STORE": _store(True),
    "COPY": _copy_move(Copy, True),
    "MOVE": _copy_move(Move, True),
    "SORT": _sort(True),
    "THREAD": _thread(True),
    "EXPUNGE": _uid_expunge,
}


def _bad(tag: bytes | None, message: str) -> RemoteProtocolError:
    t = tag if tag is not None else b"*"
    return RemoteProtocolError(message, reply=b"%s BAD %s\r\n" % (t, message.encode("ascii")))


def parse_command(
    message: MessageLike, *, utf8: bool = False, max_depth: int = DEFAULT_MAX_DEPTH
) -> Command:
    """Parse one complete command (a framer ``Message``).

    Raises :class:`RemoteProtocolError` only, with ``.reply`` set to
    ``tag BAD ...`` (``* BAD ...`` when no tag could be recovered).
    """
    fragments = message.fragments
    first = fragments[0] if fragments else b""
    if not isinstance(first, bytes):
        raise _bad(None, "empty command")
    m = COMMAND_START.match(first)
    tag = m.group(1) if m else None
    if tag is None:
        if len(fragments) == 1 and first.upper() == b"DONE":
            return parsed(Done)
        t = RECOVER_TAG.match(first)
        raise _bad(t.group(1) if t else None, "invalid command")
    try:
        return _parse(_make(Tag, tag.decode("ascii")), m, fragments, utf8, max_depth)
    except RemoteProtocolError as exc:
        raise _bad(tag, exc.message) from exc
    except (ValueError, TypeError, IndexError, UnicodeError, OverflowError) as exc:
        # safety net: our error type only, whatever the input
        raise _bad(tag, "invalid command") from exc


def _parse(tag: Tag, m: Any, fragments: Sequence[Any], utf8: bool, max_depth: int) -> Command:
    name = m.group(2).decode("ascii").upper()
    v = tokenize(fragments, m.end(), max_depth=max_depth)
    table = _COMMANDS
    if name == "UID":
        if not v or type(v[0]) is not str:
            raise err("UID command")
        name = v.pop(0).upper()
        table = _UID_COMMANDS
    builder = table.get(name)
    if builder is None:
        if table is _UID_COMMANDS or name == "NIL":  # NIL is no command name (nor atom)
            raise err("UID command" if table is _UID_COMMANDS else "command name")
        return parsed(GenericCommand, tag=tag, name=name, values=generic(v))
    return builder(tag, v, utf8, max_depth)
