"""Write a typed command as pieces (see :class:`~._write.LinePiece` and
:class:`~._write.LiteralPiece`): the client sends a line piece, and before a
synchronizing literal piece waits for the server's "+".

Every argument is validated here: tags, atoms and flags by their types,
strings by the cheapest-form choice (a value with CR, LF or 8-bit bytes
becomes a literal; NUL is refused outside a binary APPEND).
"""

from __future__ import annotations

from typing import Any

from ..errors import LocalProtocolError
from ..wire._sasl import format_initial_response
from ..wire._secret import Secret
from ._commands import (
    Append,
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
from ._grammar import PARAM_NAME
from ._search import write_search_keys
from ._types import Flag, Mailbox, SequenceSet, Tag, format_datetime
from ._values import section_bytes
from ._write import Piece, Writer

__all__ = ["check_command", "write_command"]

_NO_ARGS: dict[type, bytes] = {
    CapabilityCommand: b"CAPABILITY",
    Noop: b"NOOP",
    Logout: b"LOGOUT",
    StartTLS: b"STARTTLS",
    NamespaceCommand: b"NAMESPACE",
    Idle: b"IDLE",
    Check: b"CHECK",
    Close: b"CLOSE",
    Unselect: b"UNSELECT",
}
_MAILBOX_ONLY: dict[type, bytes] = {
    Delete: b"DELETE",
    Subscribe: b"SUBSCRIBE",
    Unsubscribe: b"UNSUBSCRIBE",
    GetQuotaRoot: b"GETQUOTAROOT",
}


def _seq(w: Writer, s: SequenceSet) -> None:
    if not isinstance(s, SequenceSet):
        raise LocalProtocolError("sequence_set must be a SequenceSet")
    w.raw(s.to_bytes())


def _mailbox(w: Writer, name: str) -> None:
    w.mailbox(Mailbox(name))


def _params(w: Writer, params: tuple[tuple[str, Any], ...]) -> None:
    if not params:
        return
    w.raw(b" (")
    for i, (name, value) in enumerate(params):
        if i:
            w.raw(b" ")
        if not isinstance(name, str) or PARAM_NAME.match(name) is None:
            raise LocalProtocolError(f"invalid parameter name: {name!r}")
        w.raw(name.encode("ascii"))
        if value is not None:
            if isinstance(value, str) and PARAM_NAME.match(value):
                raise LocalProtocolError(f"parameter value reads as a name: {value!r}")
            w.raw(b" ")
            w.value(value)
    w.raw(b")")


def _words(w: Writer, words: tuple[str, ...], parens: bool) -> None:
    if parens:
        w.raw(b"(")
    for i, x in enumerate(words):
        if i:
            w.raw(b" ")
        w.word(x, nil=True)
    if parens:
        w.raw(b")")


def _flags(w: Writer, flags: tuple[Flag, ...]) -> None:
    w.raw(b"(")
    for i, f in enumerate(flags):
        if i:
            w.raw(b" ")
        w.raw(Flag(f).encode("ascii"))
    w.raw(b")")


def _fetch_attr(w: Writer, a: Any) -> None:
    if isinstance(a, FetchBody):
        if a.size:
            name = b"BINARY.SIZE"
        else:
            name = (b"BINARY" if a.binary else b"BODY") + (b".PEEK" if a.peek else b"")
        w.raw(name + b"[" + section_bytes(a.section) + b"]")
        if a.partial is not None:
            origin, length = a.partial
            if length < 1 or origin < 0:
                raise LocalProtocolError("invalid partial range")
            w.raw(b"<%d.%d>" % (origin, length))
    elif isinstance(a, str) and "[" not in a and "<" not in a:
        w.word(a)
    else:
        raise LocalProtocolError(f"invalid fetch attribute: {a!r}")


def _uid(w: Writer, uid: bool) -> None:
    if uid:
        w.raw(b"UID ")


def _body(w: Writer, c: Any) -> None:
    kind = type(c)
    if kind in _NO_ARGS:
        w.raw(_NO_ARGS[kind])
    elif kind in _MAILBOX_ONLY:
        w.raw(_MAILBOX_ONLY[kind] + b" ")
        _mailbox(w, c.mailbox)
    elif isinstance(c, Login):
        w.raw(b"LOGIN ")
        w.astring(c.username)
        w.raw(b" ")
        if not isinstance(c.password, Secret):
            raise LocalProtocolError("LOGIN password must be a Secret")
        w.astring(c.password.expose())
    elif isinstance(c, Authenticate):
        w.raw(b"AUTHENTICATE ")
        w.word(c.mechanism, nil=True)
        if c.initial_response is not None:
            if not isinstance(c.initial_response, Secret):
                raise LocalProtocolError("initial response must be a Secret")
            w.raw(b" " + (format_initial_response(c.initial_response.expose()) or b"="))
    elif isinstance(c, Enable):
        if not c.capabilities:
            raise LocalProtocolError("ENABLE needs a capability")
        w.raw(b"ENABLE ")
        _words(w, c.capabilities, False)
    elif isinstance(c, IdCommand):
        w.raw(b"ID ")
        if c.params is None:
            w.raw(b"NIL")
        else:
            w.value(tuple(x for kv in c.params for x in kv))
    elif isinstance(c, Compress):
        w.raw(b"COMPRESS ")
        w.word(c.mechanism, nil=True)
    elif isinstance(c, Select | Examine | Create):
        w.raw({Select: b"SELECT ", Examine: b"EXAMINE ", Create: b"CREATE "}[type(c)])
        _mailbox(w, c.mailbox)
        _params(w, c.params)
    elif isinstance(c, Rename):
        w.raw(b"RENAME ")
        _mailbox(w, c.mailbox)
        w.raw(b" ")
        _mailbox(w, c.new_name)
    elif isinstance(c, List):
        w.raw(b"LIST ")
        if c.selection:
            _words(w, c.selection, True)
            w.raw(b" ")
        w.list_mailbox(Mailbox(c.reference))
        w.raw(b" ")
        if not c.patterns:
            raise LocalProtocolError("LIST needs a pattern")
        if len(c.patterns) == 1:
            w.list_mailbox(Mailbox(c.patterns[0]))
        else:
            w.raw(b"(")
            for i, p in enumerate(c.patterns):
                if i:
                    w.raw(b" ")
                w.list_mailbox(Mailbox(p))
            w.raw(b")")
        if c.return_options:
            w.raw(b" RETURN")
            _params(w, c.return_options)
    elif isinstance(c, Lsub):
        w.raw(b"LSUB ")
        w.list_mailbox(Mailbox(c.reference))
        w.raw(b" ")
        w.list_mailbox(Mailbox(c.pattern))
    elif isinstance(c, StatusCommand):
        if not c.items:
            raise LocalProtocolError("STATUS needs items")
        w.raw(b"STATUS ")
        _mailbox(w, c.mailbox)
        w.raw(b" ")
        _words(w, c.items, True)
    elif isinstance(c, Append):
        if not c.messages:
            raise LocalProtocolError("APPEND needs a message")
        w.raw(b"APPEND ")
        _mailbox(w, c.mailbox)
        for m in c.messages:
            if m.flags is not None:
                w.raw(b" ")
                _flags(w, m.flags)
            if m.date is not None:
                w.raw(b' "' + format_datetime(m.date) + b'"')
            w.raw(b" ")
            if not isinstance(m.data, bytes):
                raise LocalProtocolError("APPEND data must be bytes")
            w.literal(m.data, m.binary)
    elif isinstance(c, ExpungeCommand):
        if c.uids is None:
            w.raw(b"EXPUNGE")
        else:
            w.raw(b"UID EXPUNGE ")
            _seq(w, c.uids)
    elif isinstance(c, SearchCommand):
        _uid(w, c.uid)
        w.raw(b"SEARCH")
        if c.return_options is not None:
            w.raw(b" RETURN ")
            _words(w, c.return_options, True)
        if c.charset is not None:
            w.raw(b" CHARSET ")
            w.astring(c.charset)
        w.raw(b" ")
        write_search_keys(w, c.keys)
    elif isinstance(c, FetchCommand):
        _uid(w, c.uid)
        w.raw(b"FETCH ")
        _seq(w, c.sequence_set)
        w.raw(b" ")
        if c.macro:
            if len(c.items) != 1 or c.items[0] not in ("ALL", "FAST", "FULL"):
                raise LocalProtocolError("a FETCH macro is ALL, FAST or FULL")
            w.raw(str(c.items[0]).encode())
        else:
            if not c.items:
                raise LocalProtocolError("FETCH needs items")
            w.raw(b"(")
            for i, a in enumerate(c.items):
                if i:
                    w.raw(b" ")
                _fetch_attr(w, a)
            w.raw(b")")
        _params(w, c.modifiers)
    elif isinstance(c, Store):
        _uid(w, c.uid)
        w.raw(b"STORE ")
        _seq(w, c.sequence_set)
        if c.unchangedsince is not None:
            w.raw(b" (UNCHANGEDSINCE ")
            w.number(c.unchangedsince)
            w.raw(b")")
        if c.mode not in ("", "+", "-"):
            raise LocalProtocolError("STORE mode is '', '+' or '-'")
        item = b"X-GM-LABELS" if c.gm_labels is not None else b"FLAGS"
        w.raw(b" " + c.mode.encode() + item + (b".SILENT " if c.silent else b" "))
        if c.gm_labels is not None:
            w.raw(b"(")
            for i, label in enumerate(c.gm_labels):
                if i:
                    w.raw(b" ")
                w.astring(label)
            w.raw(b")")
        else:
            _flags(w, c.flags)
    elif isinstance(c, Copy | Move):
        _uid(w, c.uid)
        w.raw(b"COPY " if isinstance(c, Copy) else b"MOVE ")
        _seq(w, c.sequence_set)
        w.raw(b" ")
        _mailbox(w, c.mailbox)
    elif isinstance(c, SortCommand):
        _uid(w, c.uid)
        w.raw(b"SORT ")
        if not c.criteria:
            raise LocalProtocolError("SORT needs criteria")
        _words(w, c.criteria, True)
        w.raw(b" ")
        w.astring(c.charset)
        w.raw(b" ")
        write_search_keys(w, c.keys)
    elif isinstance(c, ThreadCommand):
        _uid(w, c.uid)
        w.raw(b"THREAD ")
        w.word(c.algorithm, nil=True)
        w.raw(b" ")
        w.astring(c.charset)
        w.raw(b" ")
        write_search_keys(w, c.keys)
    elif isinstance(c, GetQuota):
        w.raw(b"GETQUOTA ")
        w.astring(c.root)
    elif isinstance(c, SetQuota):
        w.raw(b"SETQUOTA ")
        w.astring(c.root)
        w.raw(b" (")
        for i, (name, limit) in enumerate(c.limits):
            if i:
                w.raw(b" ")
            w.word(name, nil=True)
            w.raw(b" ")
            w.number(limit)
        w.raw(b")")
    elif isinstance(c, GenericCommand):
        w.word(c.name)
        for v in c.values:
            w.raw(b" ")
            w.value(v)
    else:
        raise LocalProtocolError(f"not a command: {type(c).__name__}")


def write_command(
    cmd: Command, *, literal_plus: bool = False, literal_minus: bool = False, utf8: bool = False
) -> list[Piece]:
    """The pieces of one command.  ``literal_plus`` / ``literal_minus``: the
    server advertised LITERAL+ / LITERAL- (non-synchronizing literals, for
    LITERAL- only up to 4096 octets); ``utf8``: UTF8=ACCEPT is enabled or
    IMAP4rev2 is in use (mailbox names and quoted strings in UTF-8)."""
    w = Writer(server=False, literal_plus=literal_plus, literal_minus=literal_minus, utf8=utf8)
    _write(w, cmd)
    return w.finish_pieces()


def check_command(cmd: Command) -> None:
    """Raise LocalProtocolError unless ``cmd`` can be written validly (what a
    user-built command's constructor runs)."""
    w = Writer(server=False)
    w.check = True
    _write(w, cmd)


def _write(w: Writer, cmd: Command) -> None:
    if isinstance(cmd, Done):
        w.raw(b"DONE")
        return
    w.raw(Tag(cmd.tag).encode("ascii") + b" ")
    _body(w, cmd)
