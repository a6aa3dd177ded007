"""The message commands of the async IMAP client: SEARCH, FETCH, STORE,
COPY, MOVE, EXPUNGE, APPEND and IDLE."""

from __future__ import annotations

import builtins
import datetime as _dt
import logging
from collections.abc import AsyncIterable, Iterable, Sequence
from typing import Any, Final

from ..errors import LocalProtocolError, RemoteProtocolError
from ..imap import (
    Continued,
    Copy,
    ESearch,
    Expunge,
    ExpungeCommand,
    Fetch,
    FetchAttr,
    Flag,
    Mailbox,
    Move,
    Search,
    SearchCommand,
    SearchKey,
    Status,
    Store,
    Untagged,
    Vanished,
)
from ._imap_client_base import IMAPClientBase, Messages, _key, _seqset
from ._imap_client_fetch import FetchResults, IdleSession
from ._imap_client_types import (
    AppendUID,
    CopyUID,
    IMAPError,
    StoreChanges,
    code_of,
    expand,
)

__all__ = ["MessageCommands"]

log = logging.getLogger("protokit.net.imap")

#: APPEND streams are written in pieces of at most this size.
APPEND_CHUNK: Final = 256 * 1024


class MessageCommands(IMAPClientBase):
    """SEARCH, FETCH, STORE, COPY, MOVE, EXPUNGE, APPEND, IDLE (UIDs by default)."""

    # -- messages -------------------------------------------------------------------------

    async def search(
        self,
        *criteria: SearchKey | str,
        uid: bool = True,
        charset: str | None = None,
    ) -> builtins.list[int]:
        """SEARCH (UID SEARCH by default) with typed keys (or names of keys
        without argument, e.g. "UNSEEN"); the matching numbers, ascending.
        ESEARCH's ``RETURN (ALL)`` is used when the server offers it."""
        conn = await self._begin()
        keys = tuple(_key(k) for k in criteria) or (SearchKey(name="ALL"),)
        esearch = self.has("ESEARCH")
        handle = conn.issue(
            SearchCommand,
            keys=keys,
            charset=charset.encode("ascii") if charset else None,
            return_options=("ALL",) if esearch else None,
            uid=uid,
        )
        out: builtins.list[int] = []
        for r in await self._simple(handle, "SEARCH"):
            if isinstance(r, Search):
                out.extend(r.ids)
            elif isinstance(r, ESearch) and (r.tag is None or r.tag == handle.tag):
                for name, value in r.items:
                    if name == "ALL":
                        out.extend(expand(value))
        return sorted(set(out))

    async def search_extended(
        self,
        *criteria: SearchKey | str,
        returns: Sequence[str] = ("MIN", "MAX", "COUNT"),
        uid: bool = True,
    ) -> dict[str, Any]:
        """ESEARCH (RFC 4731) with RETURN options: ``{"MIN": 1, "COUNT": 3,
        "ALL": SequenceSet}`` as the server answered."""
        if not self.has("ESEARCH"):
            raise LocalProtocolError("the server does not offer ESEARCH")
        conn = await self._begin()
        keys = tuple(_key(k) for k in criteria) or (SearchKey(name="ALL"),)
        handle = conn.issue(
            SearchCommand, keys=keys, return_options=tuple(r.upper() for r in returns), uid=uid
        )
        out: dict[str, Any] = {}
        for r in await self._simple(handle, "SEARCH"):
            if isinstance(r, ESearch) and (r.tag is None or r.tag == handle.tag):
                out.update(r.items)
        return out

    def fetch(
        self,
        messages: Messages,
        items: Sequence[FetchAttr],
        *,
        uid: bool = True,
        changedsince: int | None = None,
        vanished: bool = False,
    ) -> FetchResults:
        """FETCH (UID FETCH by default): ``async for msg in client.fetch(...)``.

        ``items`` are names ("FLAGS", "UID", "X-GM-LABELS" ...) and
        :class:`~protokit.imap.FetchBody` values.  Large bodies stream:
        ``async for chunk in msg.chunks()``.  ``changedsince`` (CONDSTORE)
        and ``vanished`` (QRESYNC, UID FETCH only) are modifiers."""
        mods: builtins.list[tuple[str, Any]] = []
        if changedsince is not None:
            mods.append(("CHANGEDSINCE", changedsince))
        if vanished:
            mods.append(("VANISHED", None))
        return FetchResults(
            self,
            {
                "sequence_set": _seqset(messages),
                "items": tuple(items),
                "modifiers": tuple(mods),
                "uid": uid,
            },
        )

    async def store(
        self,
        messages: Messages,
        flags: Iterable[str] = (),
        *,
        mode: str = "+",
        silent: bool = False,
        uid: bool = True,
        unchangedsince: int | None = None,
        gm_labels: Iterable[str | bytes] | None = None,
    ) -> StoreChanges:
        """STORE (UID STORE by default): ``mode`` "+" adds, "-" removes, ""
        replaces ``flags`` (or Gmail's ``gm_labels``).  With
        ``unchangedsince`` (CONDSTORE) the messages changed since are not
        stored and come back in ``modified``."""
        if mode not in ("+", "-", ""):
            raise LocalProtocolError(f"invalid STORE mode: {mode!r}")
        conn = await self._begin()
        labels = (
            None
            if gm_labels is None
            else tuple(x.encode("utf-8") if isinstance(x, str) else x for x in gm_labels)
        )
        handle = conn.issue(
            Store,
            sequence_set=_seqset(messages),
            mode=mode,
            silent=silent,
            flags=tuple(Flag(f) for f in flags),
            unchangedsince=unchangedsince,
            gm_labels=labels,
            uid=uid,
        )
        untagged, status = await self._run(handle, "STORE")
        modified: tuple[int, ...] = ()
        if status.code is not None and status.code.name == "MODIFIED":
            modified = tuple(expand(status.code.value))
        return StoreChanges(
            fetches=tuple(r for r in untagged if isinstance(r, Fetch)), modified=modified
        )

    async def add_flags(self, messages: Messages, flags: Iterable[str], **kw: Any) -> StoreChanges:
        return await self.store(messages, flags, mode="+", **kw)

    async def remove_flags(
        self, messages: Messages, flags: Iterable[str], **kw: Any
    ) -> StoreChanges:
        return await self.store(messages, flags, mode="-", **kw)

    async def set_flags(self, messages: Messages, flags: Iterable[str], **kw: Any) -> StoreChanges:
        return await self.store(messages, flags, mode="", **kw)

    async def _copy_or_move(
        self, cls: type[Copy] | type[Move], messages: Messages, mailbox: str, uid: bool
    ) -> CopyUID:
        conn = await self._begin()
        what = "MOVE" if cls is Move else "COPY"
        handle = conn.issue(cls, sequence_set=_seqset(messages), mailbox=Mailbox(mailbox), uid=uid)
        untagged, status = await self._run(handle, what)
        statuses = [r for r in untagged if isinstance(r, Status)] + [status]
        code = code_of(statuses, "COPYUID")
        expunged: builtins.list[int] = []
        for r in untagged:
            if isinstance(r, Expunge):
                expunged.append(r.seq)
            elif isinstance(r, Vanished):
                expunged.extend(expand(r.uids))
        if code is None:
            return CopyUID(expunged=tuple(expunged))
        validity, src, dst = code.value
        sources, targets = expand(src), expand(dst)
        if len(sources) != len(targets):
            raise RemoteProtocolError("COPYUID with sets of different sizes")
        return CopyUID(
            uidvalidity=validity,
            mapping=dict(zip(sources, targets, strict=True)),
            expunged=tuple(expunged),
        )

    async def copy(self, messages: Messages, mailbox: str, *, uid: bool = True) -> CopyUID:
        """COPY (UID COPY by default); the UIDPLUS mapping when sent."""
        return await self._copy_or_move(Copy, messages, mailbox, uid)

    async def move(self, messages: Messages, mailbox: str, *, uid: bool = True) -> CopyUID:
        """MOVE (RFC 6851; UID MOVE by default); the UIDPLUS mapping."""
        if not self.has("MOVE"):
            raise LocalProtocolError("the server does not offer MOVE")
        return await self._copy_or_move(Move, messages, mailbox, uid)

    async def expunge(self) -> builtins.list[int]:
        """EXPUNGE: the sequence numbers expunged, in the order reported (or
        the UIDs, under QRESYNC's VANISHED)."""
        conn = await self._begin()
        out: builtins.list[int] = []
        for r in await self._simple(conn.issue(ExpungeCommand), "EXPUNGE"):
            if isinstance(r, Expunge):
                out.append(r.seq)
            elif isinstance(r, Vanished):
                out.extend(expand(r.uids))
        return out

    async def uid_expunge(self, messages: Messages) -> builtins.list[int]:
        """UID EXPUNGE (UIDPLUS): expunge only these UIDs."""
        if not self.has("UIDPLUS"):
            raise LocalProtocolError("the server does not offer UIDPLUS")
        conn = await self._begin()
        out: builtins.list[int] = []
        handle = conn.issue(ExpungeCommand, uids=_seqset(messages))
        for r in await self._simple(handle, "UID EXPUNGE"):
            if isinstance(r, Expunge):
                out.append(r.seq)
            elif isinstance(r, Vanished):
                out.extend(expand(r.uids))
        return out

    async def append(
        self,
        mailbox: str,
        message: bytes | AsyncIterable[bytes],
        *,
        flags: Iterable[str] | None = None,
        date: _dt.datetime | None = None,
        size: int | None = None,
    ) -> AppendUID:
        """APPEND bytes, or an async byte stream of ``size`` octets (never
        held whole).  A synchronizing literal waits for the server's "+" (a
        NO instead sends nothing); LITERAL+ sends at once.  A stream that
        fails or gives other than ``size`` octets closes the connection (half
        a literal is on the wire).  Returns the UIDPLUS APPENDUID data when
        the server sent it."""
        conn = await self._begin()
        flag_t = None if flags is None else tuple(flags)
        if isinstance(message, bytes | bytearray | memoryview):
            handle = conn.append(mailbox, bytes(message), flags=flag_t, date=date)
        else:
            if size is None:
                raise LocalProtocolError("a streamed APPEND needs size=")
            handle = conn.append_stream(mailbox, size, flags=flag_t, date=date)
            if not self._literal_plus(size):
                # Wait for "+" (or the refusal: then nothing is sent).
                while not handle.done:
                    ev = await self._event()
                    if isinstance(ev, Continued) and ev.handle is handle:
                        break
                    if isinstance(ev, Untagged):
                        self._note(ev.response)
            if not handle.done:
                try:
                    async for chunk in message:
                        view = memoryview(chunk)
                        for i in range(0, len(view), APPEND_CHUNK):
                            conn.append_data(handle, view[i : i + APPEND_CHUNK].tobytes())
                            await self._pump.flush()
                    conn.append_end(handle)
                except BaseException:
                    # Part of the literal is on the wire: nothing can follow it.
                    await self.aclose()
                    raise
        if handle.done:
            assert handle.response is not None
            if not handle.ok:
                raise IMAPError.from_status("APPEND", handle.response)
            status = handle.response
        else:
            _, status = await self._run(handle, "APPEND")
        code = status.code
        if code is not None and code.name == "APPENDUID":
            validity, uids = code.value
            return AppendUID(uidvalidity=validity, uids=tuple(expand(uids)))
        return AppendUID()

    def _literal_plus(self, size: int) -> bool:
        return self.has("LITERAL+") or (self.has("LITERAL-") and size <= 4096)

    def idle(self, *, renew: float | None = None) -> IdleSession:
        """IDLE (RFC 2177): ``async with client.idle() as idle: async for
        update in idle`` (or ``await idle.check(timeout)``).  IDLE is
        re-issued every ``renew`` seconds (default :attr:`idle_renew`, 29
        minutes).  The next command ends an IDLE left running.  To wait a
        bounded time, use ``check(timeout)``: a wait cancelled from outside
        (``anyio.fail_after`` around the loop) leaves the connection unusable,
        as any read cancelled mid-reply does."""
        if not self.has("IDLE"):
            raise LocalProtocolError("the server does not offer IDLE")
        return IdleSession(self, self.idle_renew if renew is None else renew)
