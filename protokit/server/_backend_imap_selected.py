"""One session's selected mailbox on the store (:class:`protokit.net.SelectedMailbox`).

Changes reach it through an :class:`AsyncStore` subscription to the
account (so a message delivered over SMTP wakes an IDLE at once, with no
polling): EXISTS, EXPUNGE and FLAGS changes of this mailbox are queued, and
flag changes are turned into the messages' current flags when reported.
A flag change at or below the MODSEQ this session has already seen for the
message (its own STORE, the \\Seen of its own FETCH) is not reported again.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar

from ..imap import SearchKey
from ..net import CopyResult, MailboxChanges, MailboxError, MessageInfo, StoreResult
from ._async import Subscription
from ._backend_imap_search import search_mailbox, uid_ranges
from ._store import Store
from ._types import (
    SYSTEM_FLAGS,
    Change,
    ChangeKind,
    FlagMode,
    InvalidName,
    NoSuchMailbox,
    SelectInfo,
    StoreError,
)
from ._types import MessageInfo as StoredInfo

if TYPE_CHECKING:
    from ._backend_imap import _StoreIMAPSession

# Internal to the IMAP backend: nothing here is public.
__all__: list[str] = []

log = logging.getLogger("protokit.server.imap")

_P = ParamSpec("_P")
_T = TypeVar("_T")
_BODY_CHUNK: Final = 64 * 1024
# Read-ahead for FETCH of many small messages: bodies of up to this many
# messages (each at most one chunk), this many octets in all, in one store call.
_AHEAD_COUNT: Final = 64
_AHEAD_BYTES: Final = 1024 * 1024
_MODES = {"": FlagMode.SET, "+": FlagMode.ADD, "-": FlagMode.REMOVE}


def imap_info(info: StoredInfo) -> MessageInfo:
    """The store's view of a message as protokit.net's FETCH metadata."""
    return MessageInfo(
        uid=info.uid,
        flags=info.flags,
        internaldate=info.internal_date,
        size=info.size,
        modseq=info.modseq,
        gm_msgid=info.gm_msgid,
        gm_thrid=info.thread_id,
        gm_labels=tuple(label.encode("utf-8") for label in info.labels),
    )


def _storable(flags: Sequence[str]) -> list[str]:
    # \Recent is session state, never stored (RFC 9051 dropped it).
    return [f for f in flags if f.casefold() != "\\recent"]


class StoreSelectedMailbox:
    """A mailbox opened by SELECT/EXAMINE for one session."""

    def __init__(
        self,
        session: _StoreIMAPSession,
        selected: SelectInfo,
        subscription: Subscription,
        *,
        readonly: bool,
    ) -> None:
        mb = selected.mailbox
        self._session = session
        self._astore = session.backend.astore
        self._account_id = mb.account_id
        self._id = mb.id
        self._name = mb.name
        self._all_mail = mb.special_use == "\\All"
        self._uidvalidity = mb.uidvalidity
        self._uidnext = mb.uidnext
        self._highest = mb.highestmodseq
        # Changes at or below the snapshot's HIGHESTMODSEQ are in it already.
        self._base = mb.highestmodseq
        self._readonly = readonly
        self._flags = selected.flags
        self._uids = list(selected.uids)
        self._known = set(selected.uids)
        self._sub = subscription
        # What other sessions changed, not yet reported.
        self._added: list[int] = []
        self._expunged: list[int] = []
        self._flag_uids: set[int] = set()
        self._resolved: dict[int, MessageInfo] = {}
        # uid -> the highest MODSEQ this session has been told of.
        self._seen: dict[int, int] = {}
        # uid -> (X-GM-MSGID, size): what body() needs to read the message.
        self._msgids: dict[int, tuple[int, int]] = {}
        # The uids of the last fetch(), in the order the server goes through
        # them, and small bodies read ahead of it (bounded: _AHEAD_BYTES).
        self._order: dict[int, int] = {}
        self._ahead: list[int] = []
        self._cache: dict[int, bytes] = {}
        # The server's first changes() right after SELECT drops "what
        # happened before": the snapshot holds that already, so that call
        # keeps the queue instead (changes after the snapshot stay queued).
        self._fresh = True

    def __repr__(self) -> str:
        return f"<StoreSelectedMailbox {self._name!r}>"

    # -- properties ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def uidvalidity(self) -> int:
        return self._uidvalidity

    @property
    def uidnext(self) -> int:
        return self._uidnext

    @property
    def highest_modseq(self) -> int:
        return self._highest

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def flags(self) -> tuple[str, ...]:
        return self._flags

    @property
    def permanent_flags(self) -> tuple[str, ...]:
        return () if self._readonly else (*SYSTEM_FLAGS, "\\*")

    def uids(self) -> Sequence[int]:
        return list(self._uids)

    async def _call(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """A store call about this mailbox: if another session deleted it,
        the command fails "NO [NONEXISTENT]" (the session may select another)."""
        try:
            return await self._astore.call(fn, *args, **kwargs)
        except NoSuchMailbox:
            raise MailboxError("The mailbox no longer exists", "NONEXISTENT") from None

    # -- reading ---------------------------------------------------------------------

    def _remember(self, infos: Sequence[StoredInfo]) -> list[MessageInfo]:
        out = []
        for info in infos:
            self._msgids[info.uid] = (info.gm_msgid, info.size)
            self._seen[info.uid] = max(self._seen.get(info.uid, 0), info.modseq)
            out.append(imap_info(info))
        return out

    async def _fetch_stored(self, uids: Sequence[int]) -> list[StoredInfo]:
        if not uids:
            return []
        store = self._astore.store
        return await self._call(store.fetch, self._id, uid_ranges(uids))

    async def fetch(self, uids: Sequence[int]) -> Sequence[MessageInfo]:
        by_uid = {m.uid: m for m in self._remember(await self._fetch_stored(uids))}
        found = [by_uid[u] for u in uids if u in by_uid]
        self._ahead = [m.uid for m in found]
        self._order = {uid: i for i, uid in enumerate(self._ahead)}
        self._cache.clear()
        return found

    async def _read_ahead(self, uid: int) -> bytes | None:
        """The body of ``uid`` if it is small, reading the next small ones
        of the last fetch() in the same store call."""
        start = self._order.get(uid)
        if start is None:
            return None
        batch: list[tuple[int, int, int]] = []
        total = 0
        for next_uid in self._ahead[start : start + _AHEAD_COUNT]:
            known = self._msgids.get(next_uid)
            if known is None or known[1] > _BODY_CHUNK or total + known[1] > _AHEAD_BYTES:
                break
            batch.append((next_uid, *known))
            total += known[1]
        if not batch:
            return None
        store = self._astore.store
        items = [(msgid, size) for _, msgid, size in batch]
        bodies = await self._astore.call(_read_bodies, store, self._account_id, items)
        for (next_uid, _, size), data in zip(batch[1:], bodies[1:], strict=True):
            if len(data) == size:
                self._cache[next_uid] = data
        first = bodies[0]
        return first if len(first) == batch[0][2] else None

    async def body(self, uid: int) -> AsyncIterator[bytes]:
        known = self._msgids.get(uid)
        if known is None:
            found = await self._fetch_stored([uid])
            if not found:
                return
            known = self._msgids[uid]
        msgid, size = known
        data = self._cache.pop(uid, None)
        if data is None and size <= _BODY_CHUNK:
            data = await self._read_ahead(uid)
        if data is not None:
            yield data
            return
        store = self._astore.store
        offset = 0
        # Exactly ``size`` octets, a chunk per store call (a small message
        # is one call); the caller may stop early (a header-only FETCH).
        while offset < size:
            try:
                chunk = await self._astore.call(
                    store.body_chunk, self._account_id, msgid, offset, _BODY_CHUNK
                )
            except StoreError:
                chunk = b""
            if not chunk:
                # Deleted meanwhile by another session: the body ends short,
                # and the server closes the connection (half a literal is out).
                log.info("a message was deleted while being read")
                return
            offset += len(chunk)
            yield chunk

    async def search(self, keys: Sequence[SearchKey], view: Sequence[int]) -> Sequence[int]:
        store = self._astore.store
        now = _dt.datetime.now(_dt.UTC).timestamp()
        try:
            return await self._call(
                search_mailbox, store, self._account_id, self._id, keys, list(view), now
            )
        except InvalidName as exc:
            raise MailboxError(str(exc), "CANNOT") from None

    # -- writing ---------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._readonly:
            raise MailboxError("Mailbox is read-only", "READ-ONLY")

    async def store(
        self,
        uids: Sequence[int],
        mode: str,
        flags: Sequence[str],
        *,
        unchangedsince: int | None = None,
        gm_labels: Sequence[bytes] | None = None,
    ) -> StoreResult:
        self._check_writable()
        if not uids:
            return StoreResult()
        store = self._astore.store
        flag_mode = _MODES[mode]
        ranges = uid_ranges(uids)
        modified: tuple[int, ...] = ()
        try:
            if gm_labels is not None:
                labels = [label.decode("utf-8") for label in gm_labels]
                # A label without its mailbox (\\Starred ...) is NoSuchMailbox too.
                await self._astore.call(store.store_labels, self._id, ranges, flag_mode, labels)
            else:
                result = await self._call(
                    store.store_flags,
                    self._id,
                    ranges,
                    flag_mode,
                    _storable(flags),
                    unchanged_since=unchangedsince,
                )
                modified = result.modified
        except (InvalidName, NoSuchMailbox, UnicodeDecodeError):
            what = "label" if gm_labels is not None else "flag or keyword"
            raise MailboxError(f"Not a {what} this mailbox can store", "CANNOT") from None
        infos = self._remember(await self._fetch_stored(uids))
        skip = set(modified)
        return StoreResult(changed=tuple(i for i in infos if i.uid not in skip), modified=modified)

    async def _target(self, destination: str) -> int:
        store = self._astore.store
        try:
            mb = await self._astore.call(store.mailbox, self._account_id, destination)
        except (NoSuchMailbox, InvalidName):
            raise MailboxError("Mailbox does not exist", "TRYCREATE") from None
        return mb.id

    async def copy(self, uids: Sequence[int], destination: str) -> CopyResult:
        target = await self._target(destination)
        store = self._astore.store
        result = await self._call(store.copy, self._id, uid_ranges(uids), target)
        return _copy_result(result.uidvalidity, result.mapping)

    async def move(self, uids: Sequence[int], destination: str) -> CopyResult:
        self._check_writable()
        if self._all_mail:
            # Every message stays in All Mail (the store's label model): a
            # MOVE out of it could not expunge what it moved.
            raise MailboxError("Messages stay in All Mail: COPY adds a label", "CANNOT")
        target = await self._target(destination)
        store = self._astore.store
        result = await self._call(store.move, self._id, uid_ranges(uids), target)
        return _copy_result(result.uidvalidity, result.mapping)

    async def expunge(self, uids: Sequence[int] | None = None) -> Sequence[int]:
        self._check_writable()
        if uids is not None and not uids:
            return []
        store = self._astore.store
        ranges = None if uids is None else uid_ranges(uids)
        return await self._call(store.expunge, self._id, ranges)

    # -- changes -------------------------------------------------------------------

    def _absorb(self, change: Change) -> None:
        if change.mailbox_id != self._id or change.modseq is None:
            return
        if change.modseq <= self._base:
            return
        self._highest = max(self._highest, change.modseq)
        if change.kind is ChangeKind.EXISTS:
            self._uidnext = max(self._uidnext, max(change.uids, default=0) + 1)
            self._added.extend(u for u in change.uids if u not in self._known)
            self._known.update(change.uids)
        elif change.kind is ChangeKind.EXPUNGE:
            for uid in change.uids:
                if uid in self._known:
                    self._known.discard(uid)
                    self._expunged.append(uid)
                self._flag_uids.discard(uid)
                self._resolved.pop(uid, None)
                self._msgids.pop(uid, None)
        elif change.kind is ChangeKind.FLAGS:
            for uid in change.uids:
                if self._seen.get(uid, 0) < change.modseq:
                    self._flag_uids.add(uid)

    def _drain(self) -> None:
        if self._sub.overflowed:
            self._resync()
            return
        while (change := self._sub.receive_nowait()) is not None:
            self._absorb(change)

    def _resync(self) -> None:
        """Too many changes were queued and some were dropped: compare the
        mailbox with what the session knows (one read)."""
        log.info("change queue overflowed: re-reading the mailbox %r", self._name)
        self._sub.close()
        self._sub = self._astore.subscribe(
            self._account_id, max_buffer=self._session.backend.change_buffer
        )
        store = self._astore.store
        try:
            now = store.uids(self._id)
            changed = store.fetch(self._id, None, changed_since=self._highest)
        except StoreError:
            return
        current = set(now)
        new = [u for u in now if u not in self._known]
        self._expunged.extend(sorted(self._known - current))
        self._added.extend(new)
        self._known = current
        for info in changed:
            self._highest = max(self._highest, info.modseq)
            # New messages come with their flags when the client fetches them.
            if info.uid not in new and self._seen.get(info.uid, 0) < info.modseq:
                self._flag_uids.add(info.uid)

    def _take_resolved(self, infos: Sequence[StoredInfo]) -> None:
        for info in infos:
            self._flag_uids.discard(info.uid)
            if self._seen.get(info.uid, 0) < info.modseq:
                self._resolved[info.uid] = self._remember([info])[0]
        # Those not found were expunged meanwhile (their EXPUNGE follows).
        self._flag_uids.clear()

    def changes(self) -> MailboxChanges:
        if self._fresh:
            self._fresh = False
            return MailboxChanges()
        self._drain()
        if self._flag_uids:
            # A flag change from another session not resolved by
            # wait_for_changes (NOOP and friends): one short read.
            store = self._astore.store
            try:
                self._take_resolved(store.fetch(self._id, uid_ranges(sorted(self._flag_uids))))
            except StoreError:  # the mailbox was deleted: nothing to report
                self._flag_uids.clear()
        result = MailboxChanges(
            added=tuple(self._added),
            expunged=tuple(self._expunged),
            flags=tuple(self._resolved[u] for u in sorted(self._resolved)),
        )
        self._added.clear()
        self._expunged.clear()
        self._resolved.clear()
        return result

    async def wait_for_changes(self) -> None:
        self._fresh = False
        while True:
            self._drain()
            if self._flag_uids:
                try:
                    self._take_resolved(await self._fetch_stored(sorted(self._flag_uids)))
                except MailboxError:  # the mailbox was deleted: nothing to report
                    self._flag_uids.clear()
            if self._added or self._expunged or self._resolved:
                return
            self._absorb(await self._sub.receive())

    async def close(self) -> None:
        self._sub.close()


def _read_bodies(store: Store, account_id: int, items: list[tuple[int, int]]) -> list[bytes]:
    """Whole small messages (X-GM-MSGID, size), on the store's thread; b""
    for one deleted meanwhile."""
    out = []
    for msgid, size in items:
        try:
            out.append(store.body_chunk(account_id, msgid, 0, size))
        except StoreError:
            out.append(b"")
    return out


def _copy_result(uidvalidity: int, mapping: Sequence[tuple[int, int]]) -> CopyResult:
    return CopyResult(
        uidvalidity=uidvalidity,
        source=tuple(s for s, _ in mapping),
        destination=tuple(d for _, d in mapping),
    )
