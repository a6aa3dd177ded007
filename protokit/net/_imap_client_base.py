"""The plumbing of the async IMAP client: the session over the pump, the
routing of untagged responses into alerts and mailbox state, and waiting for
a command's completion."""

from __future__ import annotations

import logging
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final, TypeAlias

from ..errors import LocalProtocolError
from ..imap import (
    BodyChunk,
    BodyEnd,
    BodyStart,
    ClientConnection,
    ClientEvent,
    CommandHandle,
    Completed,
    Continued,
    Exists,
    Expunge,
    Flags,
    Recent,
    Response,
    SearchKey,
    SequenceSet,
    Status,
    TLSUpgradeReady,
    Untagged,
    Vanished,
)
from ..imap import ConnectionClosed as ClosedEvent
from ..sasl import (
    TokenSource,
)
from ..wire._secret import Secret
from ._client_common import ChannelBinding
from ._errors import ConnectionClosed
from ._imap_client_fetch import FetchResults, IdleSession
from ._imap_client_types import (
    IMAPError,
    MailboxState,
    expand,
)
from ._pump import Pump

__all__ = ["IMAPClientBase", "Messages", "Token"]

log = logging.getLogger("protokit.net.imap")

#: RFC 2177: servers may end IDLE after 30 minutes; re-issue it before.
IDLE_RENEW: Final = 29 * 60.0
#: [ALERT] texts kept (the most recent).
MAX_ALERTS: Final = 100

_STATE_CODES: Final = {
    "UIDNEXT": "uidnext",
    "UIDVALIDITY": "uidvalidity",
    "HIGHESTMODSEQ": "highest_modseq",
}

#: A bearer token: as protokit.sasl takes it, or an async callable returning one.
Token: TypeAlias = "TokenSource | Callable[[], Awaitable[str | Secret[str]]]"  # noqa: S105
Messages: TypeAlias = "SequenceSet | int | str | Iterable[int]"


def _seqset(messages: Messages) -> SequenceSet:
    if isinstance(messages, SequenceSet):
        return messages
    if isinstance(messages, int):
        return SequenceSet.of(messages)
    if isinstance(messages, str):
        try:
            return SequenceSet.parse(messages)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
    numbers = sorted(set(messages))
    if not numbers:
        raise LocalProtocolError("no messages given")
    ranges: list[tuple[int | None, int | None]] = []
    start = prev = numbers[0]
    for n in numbers[1:]:
        if n != prev + 1:
            ranges.append((start, prev))
            start = n
        prev = n
    ranges.append((start, prev))
    return SequenceSet(tuple(ranges))


def _key(k: SearchKey | str) -> SearchKey:
    return k if isinstance(k, SearchKey) else SearchKey(name=k.upper())


class IMAPClientBase(ChannelBinding[ClientEvent]):
    """An IMAP session over an anyio byte stream, past its greeting.

    Build it with :func:`open_imap`, :func:`connect_imap` or
    :func:`wrap_imap_stream`.  NO/BAD raise :class:`IMAPError` (a refused
    login :class:`IMAPAuthenticationError`); transport failures raise
    :class:`~protokit.net.TransportError` subclasses; a server breaking the
    protocol raises ``RemoteProtocolError``.
    """

    def __init__(
        self,
        pump: Pump[ClientEvent],
        conn: ClientConnection,
        greeting: Status,
        *,
        server_hostname: str | None,
        ssl_context: ssl.SSLContext | None,
        idle_renew: float = IDLE_RENEW,
    ) -> None:
        self._pump = pump
        self._conn = conn
        #: The server's greeting.
        self.greeting = greeting
        self._server_hostname = server_hostname
        self._ssl_context = ssl_context
        self.idle_renew = idle_renew
        #: [ALERT] texts (RFC 9051 7.1), to show the user; pre-TLS ones dropped.
        self.alerts: deque[str] = deque(maxlen=MAX_ALERTS)
        #: The selected mailbox's state, kept current by untagged responses.
        self.mailbox: MailboxState | None = None
        self._active: FetchResults | IdleSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<IMAPClient {self._server_hostname} state={self._conn.state.value}"
            f" tls={self.tls_active}>"
        )

    # -- properties -------------------------------------------------------------------

    @property
    def connection(self) -> ClientConnection:
        """The sans-IO connection underneath."""
        return self._conn

    @property
    def capabilities(self) -> frozenset[str]:
        """What the server advertised last (upper case)."""
        return self._conn.capabilities or frozenset()

    def has(self, capability: str) -> bool:
        return self._conn.has(capability)

    @property
    def tls_active(self) -> bool:
        return self._conn.tls_active

    # -- plumbing ---------------------------------------------------------------------

    def _checked(self, ev: ClientEvent) -> ClientEvent:
        if isinstance(ev, ClosedEvent):
            self._closed = True
            raise ConnectionClosed("the IMAP server closed the connection")
        return ev

    async def _event(self) -> ClientEvent:
        if self._closed:
            raise ConnectionClosed("the IMAP session is over")
        return self._checked(await self._pump.next_event())

    async def _settle(self) -> None:
        """Wind up a FETCH iteration or IDLE left unfinished."""
        if self._closed:
            raise ConnectionClosed("the IMAP session is over")
        active = self._active
        if isinstance(active, FetchResults):
            await active.aclose()
        elif isinstance(active, IdleSession):
            await active.done()
        self._active = None

    def _note(self, r: Response) -> None:
        """Keep the alerts and the selected mailbox's state current."""
        if isinstance(r, Status):
            code = r.code
            if code is None:
                return
            if code.name == "ALERT":
                self.alerts.append(r.text)
                log.warning("server alert: %s", r.text)
            elif self.mailbox is not None and r.tag is None and code.name in _STATE_CODES:
                self._update(**{_STATE_CODES[code.name]: code.value})
            return
        if self.mailbox is None:
            return
        if isinstance(r, Exists):
            self._update(exists=r.count)
        elif isinstance(r, Expunge):
            self._update(exists=max(0, self.mailbox.exists - 1))
        elif isinstance(r, Vanished) and not r.earlier:
            self._update(exists=max(0, self.mailbox.exists - len(expand(r.uids))))
        elif isinstance(r, Recent):
            self._update(recent=r.count)
        elif isinstance(r, Flags):
            self._update(flags=r.flags)

    def _update(self, **changes: Any) -> None:
        assert self.mailbox is not None
        fields = {k: getattr(self.mailbox, k) for k in MailboxState.__dataclass_fields__}
        fields.update(changes)
        self.mailbox = MailboxState(**fields)

    async def _run(self, handle: CommandHandle, what: str) -> tuple[list[Response], Status]:
        """Read up to ``handle``'s completion: the untagged responses and the
        tagged status.  NO/BAD raise :class:`IMAPError`."""
        untagged: list[Response] = []
        while True:
            ev = await self._event()
            if isinstance(ev, Untagged):
                self._note(ev.response)
                untagged.append(ev.response)
            elif isinstance(ev, Completed):
                if ev.handle is handle:
                    break
            elif isinstance(ev, Continued | BodyStart | BodyChunk | BodyEnd | TLSUpgradeReady):
                continue
        assert handle.response is not None
        if not handle.ok:
            raise IMAPError.from_status(what, handle.response)
        return untagged, handle.response

    async def _simple(self, handle: CommandHandle, what: str) -> list[Response]:
        return (await self._run(handle, what))[0]

    async def aclose(self) -> None:
        """Close the connection without LOGOUT."""
        self._closed = True
        await self._pump.aclose()

    async def _begin(self) -> ClientConnection:
        await self._settle()
        return self._conn
