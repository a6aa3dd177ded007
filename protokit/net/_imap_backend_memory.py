""":class:`InMemoryIMAPBackend`: the reference :class:`~protokit.net.IMAPBackend`
and the test double (users, tokens, mailboxes and messages held in memory).

It is also the documented example of the interface: UIDs strictly
ascending per mailbox, a per-mailbox MODSEQ bumped by every change (RFC
7162), changes queued for every other session that has the mailbox
selected, Gmail's X-GM-MSGID/X-GM-THRID/X-GM-LABELS kept per message.
"""

from __future__ import annotations

import datetime as _dt
import email.parser
import email.policy
import hmac
import itertools
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from ..imap import SearchKey
from ..sasl import (
    LookupPassword,
    LookupScramCredentials,
    Request,
    ScramCredentials,
    TokenResult,
    derive_scram_credentials,
)
from ..wire._secret import Secret
from ._imap_backend import (
    AppendResult,
    CopyResult,
    IMAPSession,
    MailboxChanges,
    MailboxError,
    MailboxInfo,
    MailboxStatus,
    MessageInfo,
    SelectedMailbox,
    StoreResult,
)
from ._imap_search import search_matches

__all__ = ["InMemoryIMAPBackend"]

_T = TypeVar("_T")

#: Flags every mailbox defines (RFC 9051 2.3.2); keywords are added as used.
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
#: Mailboxes a new user gets, with their SPECIAL-USE attribute (RFC 6154).
DEFAULT_MAILBOXES = (
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
)
_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)
_UIDVALIDITY = itertools.count(int(_dt.datetime.now(_dt.UTC).timestamp()))
_GM_IDS = itertools.count(1_600_000_000_000_000_000)


@dataclass(eq=False)
class _Message:
    uid: int
    data: bytes
    flags: set[str]
    internaldate: _dt.datetime
    modseq: int
    gm_msgid: int
    gm_thrid: int
    labels: set[bytes] = field(default_factory=set)

    # -- SearchableMessage (exact keywords and labels) -------------------------------

    @property
    def size(self) -> int:
        return len(self.data)

    def has_keyword(self, keyword: str) -> bool:
        return keyword in self.flags

    def has_label(self, label: bytes) -> bool:
        return label in self.labels

    def header(self, name: str) -> str:
        headers = _HEADER_PARSER.parsebytes(self.data)
        return " ".join(str(v) for v in headers.get_all(name, []))

    def contains(self, needle: bytes, *, body_only: bool) -> bool:
        data = self.data.partition(b"\r\n\r\n")[2] if body_only else self.data
        return needle.lower() in data.lower()

    def info(self) -> MessageInfo:
        return MessageInfo(
            uid=self.uid,
            flags=tuple(sorted(self.flags)),
            internaldate=self.internaldate,
            size=len(self.data),
            modseq=self.modseq,
            gm_msgid=self.gm_msgid,
            gm_thrid=self.gm_thrid,
            gm_labels=tuple(sorted(self.labels)),
        )


@dataclass(eq=False)
class _Mailbox:
    name: str
    special_use: str | None = None
    subscribed: bool = True
    uidvalidity: int = field(default_factory=lambda: next(_UIDVALIDITY))
    uidnext: int = 1
    modseq: int = 1
    messages: dict[int, _Message] = field(default_factory=dict)
    keywords: set[str] = field(default_factory=set)
    watchers: set[_Selected] = field(default_factory=set)

    def add(self, data: bytes, flags: Iterable[str], date: _dt.datetime | None) -> _Message:
        self.modseq += 1
        msgid = next(_GM_IDS)
        msg = _Message(
            uid=self.uidnext,
            data=data,
            flags={f for f in flags if f != "\\Recent"},
            internaldate=date or _dt.datetime.now(_dt.UTC).replace(microsecond=0),
            modseq=self.modseq,
            gm_msgid=msgid,
            gm_thrid=msgid,
        )
        self.keywords.update(f for f in msg.flags if not f.startswith("\\"))
        self.uidnext += 1
        self.messages[msg.uid] = msg
        for w in self.watchers:
            w._added.append(msg.uid)
            w._wake()
        return msg

    def notify(self, origin: _Selected | None, *, expunged: Sequence[int] = (),
               changed: Sequence[_Message] = ()) -> None:  # fmt: skip
        for w in self.watchers:
            if w is origin:
                continue
            w._expunged.extend(expunged)
            for m in changed:
                w._flags[m.uid] = m.info()
            w._wake()


class _Selected:
    """A selected mailbox of one session (SelectedMailbox)."""

    def __init__(self, user: _User, box: _Mailbox, readonly: bool) -> None:
        self._user = user
        self._box = box
        self._readonly = readonly
        self._uids = list(box.messages)
        self._added: list[int] = []
        self._expunged: list[int] = []
        self._flags: dict[int, MessageInfo] = {}
        self._event: anyio.Event | None = None
        box.watchers.add(self)

    def __repr__(self) -> str:
        return f"<InMemory SelectedMailbox {self._box.name!r}>"

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()

    @property
    def name(self) -> str:
        return self._box.name

    @property
    def uidvalidity(self) -> int:
        return self._box.uidvalidity

    @property
    def uidnext(self) -> int:
        return self._box.uidnext

    @property
    def highest_modseq(self) -> int:
        return self._box.modseq

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def flags(self) -> tuple[str, ...]:
        return SYSTEM_FLAGS + tuple(sorted(self._box.keywords))

    @property
    def permanent_flags(self) -> tuple[str, ...]:
        return () if self._readonly else (*self.flags, "\\*")

    def uids(self) -> Sequence[int]:
        return list(self._uids)

    async def fetch(self, uids: Sequence[int]) -> Sequence[MessageInfo]:
        msgs = self._box.messages
        return [msgs[u].info() for u in uids if u in msgs]

    async def body(self, uid: int) -> AsyncIterator[bytes]:
        msg = self._box.messages.get(uid)
        data = msg.data if msg is not None else b""
        size = self._user.backend.chunk_size
        for i in range(0, len(data), size):
            yield data[i : i + size]

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
        box = self._box
        changed: list[_Message] = []
        modified: list[int] = []
        for uid in uids:
            msg = box.messages.get(uid)
            if msg is None:
                continue
            if unchangedsince is not None and msg.modseq > unchangedsince:
                modified.append(uid)
                continue
            if gm_labels is not None:
                before_labels = set(msg.labels)
                msg.labels = _apply(msg.labels, mode, gm_labels)
                differs = before_labels != msg.labels
            else:
                before = set(msg.flags)
                wanted = [f for f in flags if f != "\\Recent"]
                msg.flags = _apply(msg.flags, mode, wanted)
                box.keywords.update(f for f in msg.flags if not f.startswith("\\"))
                differs = before != msg.flags
            if differs:
                box.modseq += 1
                msg.modseq = box.modseq
            changed.append(msg)
        box.notify(self, changed=changed)
        return StoreResult(changed=tuple(m.info() for m in changed), modified=tuple(modified))

    async def search(self, keys: Sequence[SearchKey], view: Sequence[int]) -> Sequence[int]:
        msgs = self._box.messages
        now = _dt.datetime.now(_dt.UTC).timestamp()
        out = []
        for seq, uid in enumerate(view, 1):
            msg = msgs.get(uid)
            if msg is not None and all(
                search_matches(k, msg, seq=seq, view=view, now=now) for k in keys
            ):
                out.append(uid)
        return out

    async def copy(self, uids: Sequence[int], destination: str) -> CopyResult:
        dest = self._user.mailbox(destination, "TRYCREATE")
        src: list[int] = []
        dst: list[int] = []
        for uid in uids:
            msg = self._box.messages.get(uid)
            if msg is None:
                continue
            new = dest.add(msg.data, msg.flags, msg.internaldate)
            new.labels = set(msg.labels)
            src.append(uid)
            dst.append(new.uid)
        return CopyResult(uidvalidity=dest.uidvalidity, source=tuple(src), destination=tuple(dst))

    async def move(self, uids: Sequence[int], destination: str) -> CopyResult:
        self._check_writable()
        result = await self.copy(uids, destination)
        self._remove(result.source)
        return result

    async def expunge(self, uids: Sequence[int] | None = None) -> Sequence[int]:
        self._check_writable()
        allowed = None if uids is None else set(uids)
        gone = [
            m.uid
            for m in self._box.messages.values()
            if "\\Deleted" in m.flags and (allowed is None or m.uid in allowed)
        ]
        self._remove(gone)
        return gone

    def _remove(self, uids: Sequence[int]) -> None:
        if not uids:
            return
        box = self._box
        for uid in uids:
            del box.messages[uid]
        box.modseq += 1
        box.notify(self, expunged=uids)

    def changes(self) -> MailboxChanges:
        gone = set(self._expunged)
        result = MailboxChanges(
            added=tuple(self._added),
            expunged=tuple(self._expunged),
            flags=tuple(v for k, v in self._flags.items() if k not in gone),
        )
        self._added.clear()
        self._expunged.clear()
        self._flags.clear()
        return result

    async def wait_for_changes(self) -> None:
        while not (self._added or self._expunged or self._flags):
            self._event = anyio.Event()
            await self._event.wait()
        self._event = None

    async def close(self) -> None:
        self._box.watchers.discard(self)


def _apply(current: set[_T], mode: str, values: Sequence[_T]) -> set[_T]:
    if mode == "+":
        return current | set(values)
    if mode == "-":
        return current - set(values)
    return set(values)


# -- users and sessions -------------------------------------------------------------


class _User:
    def __init__(self, backend: InMemoryIMAPBackend, name: str, password: Secret[str]) -> None:
        self.backend = backend
        self.name = name
        self.password = password
        self.mailboxes: dict[str, _Mailbox] = {}
        for box, use in DEFAULT_MAILBOXES:
            self.mailboxes[box] = _Mailbox(box, special_use=use)

    def mailbox(self, name: str, code: str = "NONEXISTENT") -> _Mailbox:
        box = self.mailboxes.get(_canonical(name))
        if box is None:
            raise MailboxError("Mailbox does not exist", code)
        return box


def _canonical(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name


class _Session:
    """One user's mailboxes for one connection (IMAPSession)."""

    delimiter = "/"

    def __init__(self, user: _User) -> None:
        self._user = user

    def __repr__(self) -> str:
        return "<InMemory IMAPSession>"

    async def list(self) -> Sequence[MailboxInfo]:
        names = list(self._user.mailboxes)
        out = []
        for name, box in self._user.mailboxes.items():
            children = any(other.startswith(name + "/") for other in names)
            attrs = ["\\HasChildren" if children else "\\HasNoChildren"]
            if box.special_use:
                attrs.append(box.special_use)
            out.append(MailboxInfo(name=name, attributes=tuple(attrs), subscribed=box.subscribed))
        return out

    async def status(self, name: str) -> MailboxStatus:
        box = self._user.mailbox(name)
        msgs = box.messages.values()
        return MailboxStatus(
            messages=len(box.messages),
            recent=0,
            uidnext=box.uidnext,
            uidvalidity=box.uidvalidity,
            unseen=sum(1 for m in msgs if "\\Seen" not in m.flags),
            highestmodseq=box.modseq,
            size=sum(len(m.data) for m in msgs),
            deleted=sum(1 for m in msgs if "\\Deleted" in m.flags),
        )

    async def create(self, name: str, special_use: str | None = None) -> None:
        name = _canonical(name.rstrip("/"))
        if name in self._user.mailboxes:
            raise MailboxError("Mailbox already exists", "ALREADYEXISTS")
        if special_use is not None and special_use not in (
            "\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"
        ):  # fmt: skip
            raise MailboxError("Unknown special use", "USEATTR")
        self._user.mailboxes[name] = _Mailbox(name, special_use=special_use)

    async def delete(self, name: str) -> None:
        box = self._user.mailbox(name)
        if box.name == "INBOX":
            raise MailboxError("INBOX cannot be deleted", "CANNOT")
        del self._user.mailboxes[box.name]

    async def rename(self, old: str, new: str) -> None:
        box = self._user.mailbox(old)
        new = _canonical(new)
        if new in self._user.mailboxes:
            raise MailboxError("Mailbox already exists", "ALREADYEXISTS")
        if box.name == "INBOX":
            # RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox.
            moved = _Mailbox(new)
            for m in list(box.messages.values()):
                moved.add(m.data, m.flags, m.internaldate)
            box.messages.clear()
            box.modseq += 1
            self._user.mailboxes[new] = moved
            return
        del self._user.mailboxes[box.name]
        box.name = new
        self._user.mailboxes[new] = box

    async def subscribe(self, name: str, subscribed: bool) -> None:
        self._user.mailbox(name).subscribed = subscribed

    async def check_append(self, name: str, size: int) -> None:
        self._user.mailbox(name, "TRYCREATE")
        limit = self._user.backend.max_message_size
        if limit is not None and size > limit:
            raise MailboxError("Message too large", "TOOBIG")

    async def append(
        self,
        name: str,
        flags: Sequence[str],
        date: _dt.datetime | None,
        data: AsyncIterator[bytes],
    ) -> AppendResult:
        box = self._user.mailbox(name, "TRYCREATE")
        parts = [chunk async for chunk in data]
        msg = box.add(b"".join(parts), flags, date)
        return AppendResult(uidvalidity=box.uidvalidity, uid=msg.uid)

    async def select(self, name: str, *, readonly: bool) -> SelectedMailbox:
        return _Selected(self._user, self._user.mailbox(name), readonly)

    async def close(self) -> None:
        return None


class InMemoryIMAPBackend:
    """Users, passwords, bearer tokens and mailboxes held in memory.

    ``add_user`` creates INBOX, Drafts, Sent, Trash and Junk (SPECIAL-USE);
    ``deliver`` appends a message as an MDA would, notifying the sessions
    that have the mailbox selected (IDLE wakes up).
    """

    def __init__(
        self, *, chunk_size: int = 64 * 1024, max_message_size: int | None = None
    ) -> None:
        self.chunk_size = chunk_size
        self.max_message_size = max_message_size
        self._users: dict[str, _User] = {}
        self._tokens: dict[str, str] = {}
        self._scram: dict[tuple[str, str], ScramCredentials] = {}
        self._dummy = Secret(secrets.token_hex(16))

    def __repr__(self) -> str:
        return f"<InMemoryIMAPBackend users={len(self._users)}>"

    # -- set-up and inspection ----------------------------------------------------------

    def add_user(self, username: str, password: str | Secret[str]) -> None:
        secret = password if isinstance(password, Secret) else Secret(password)
        self._users[username] = _User(self, username, secret)

    def add_token(self, token: str, username: str) -> None:
        """Accept ``token`` as a bearer token for ``username``."""
        self._tokens[token] = username

    def deliver(
        self,
        username: str,
        message: bytes,
        *,
        mailbox: str = "INBOX",
        flags: Iterable[str] = (),
        date: _dt.datetime | None = None,
    ) -> int:
        """Store a message as given (octets unchanged); returns its UID."""
        return self._users[username].mailbox(mailbox).add(message, flags, date).uid

    def messages(self, username: str, mailbox: str = "INBOX") -> list[tuple[int, bytes, set[str]]]:
        """(UID, octets, flags) of each message now in the mailbox."""
        box = self._users[username].mailbox(mailbox)
        return [(m.uid, m.data, set(m.flags)) for m in box.messages.values()]

    def mailbox_names(self, username: str) -> list[str]:
        return list(self._users[username].mailboxes)

    def uidvalidity(self, username: str, mailbox: str = "INBOX") -> int:
        return self._users[username].mailbox(mailbox).uidvalidity

    # -- IMAPBackend --------------------------------------------------------------------

    async def verify_password(self, username: str, password: Secret[str]) -> bool:
        user = self._users.get(username)
        expected = (user.password if user else self._dummy).expose().encode("utf-8")
        ok = hmac.compare_digest(expected, password.expose().encode("utf-8"))
        return ok and user is not None

    async def validate_token(self, username: str | None, token: Secret[str]) -> TokenResult:
        owner = None
        for known, user in self._tokens.items():
            if hmac.compare_digest(known.encode("utf-8"), token.expose().encode("utf-8")):
                owner = user
        if owner is None or (username is not None and username != owner):
            return TokenResult(valid=False)
        return TokenResult(valid=True, identity=owner)

    async def sasl_request(self, mechanism: str, request: Request) -> object:
        if isinstance(request, LookupPassword):
            user = self._users.get(request.authcid)
            return user.password if user else None
        if isinstance(request, LookupScramCredentials):
            user = self._users.get(request.authcid)
            if user is None or request.authzid not in (None, request.authcid):
                return None
            hash_name = mechanism.removeprefix("SCRAM-").removesuffix("-PLUS")
            key = (request.authcid, hash_name)
            if key not in self._scram:
                self._scram[key] = derive_scram_credentials(hash_name, user.password)
            return self._scram[key]
        return None

    async def authorize(self, authcid: str, authzid: str) -> bool:
        return authcid == authzid

    async def open_session(self, username: str) -> IMAPSession:
        user = self._users.get(username)
        if user is None:
            raise MailboxError("No such user", "UNAVAILABLE")
        return _Session(user)
