"""The async IMAP client (RFC 9051, RFC 3501 and the extensions a mail client
uses), layered as STYLE.md item 11 asks: :func:`open_imap` (an async context
manager) over :func:`connect_imap` over :func:`wrap_imap_stream`.

The API follows imapclient's, async: UIDs by default (``uid=True``),
:meth:`IMAPClient.fetch` an async iterator of typed results whose large
bodies stream, :meth:`IMAPClient.idle` an async iterator of updates.

TLS is required by default: STARTTLS mode refuses a server that does not
offer STARTTLS, refuses it, or greets with PREAUTH before TLS, and no
credential leaves first; what the server said before TLS (capabilities,
untagged data, [ALERT]s) is dropped.  A client is for one task at a time;
an unfinished FETCH iteration or IDLE is wound up before the next command.
"""

from __future__ import annotations

import builtins
import inspect
import logging
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.abc

from ..errors import LocalProtocolError, RemoteProtocolError
from ..imap import (
    ClientConnection,
    ClientEvent,
    Close,
    Completed,
    Create,
    Delete,
    Exists,
    Fetch,
    Flags,
    Greeting,
    List,
    ListResponse,
    Mailbox,
    Recent,
    Response,
    Status,
    StatusCommand,
    StatusResponse,
    TLSUpgradeReady,
    Unselect,
    Vanished,
)
from ..imap import ConnectionClosed as ClosedEvent
from ..imap._commands import Examine, Select
from ..sasl import (
    ClientMechanism,
    choose_mechanism,
)
from ..wire._secret import Secret
from ._client_common import ClosedOnError, dial, sasl_client
from ._errors import ConnectionClosed, TLSError
from ._imap_client_base import IDLE_RENEW, Messages, Token, _seqset
from ._imap_client_messages import MessageCommands
from ._imap_client_types import (
    IMAPAuthenticationError,
    IMAPError,
    ListEntry,
    MailboxState,
    expand,
)
from ._pump import Pump, Timeouts
from ._tls import TLSMode, client_ssl_context

__all__ = ["IMAPClient", "connect_imap", "open_imap", "wrap_imap_stream"]

log = logging.getLogger("protokit.net.imap")


class IMAPClient(MessageCommands):
    """An IMAP session over an anyio byte stream, past its greeting.

    Build it with :func:`open_imap`, :func:`connect_imap` or
    :func:`wrap_imap_stream`.  NO/BAD raise :class:`IMAPError` (a refused
    login :class:`IMAPAuthenticationError`); transport failures raise
    :class:`~protokit.net.TransportError` subclasses; a server breaking the
    protocol raises ``RemoteProtocolError``.
    """

    # -- any state --------------------------------------------------------------------

    async def capability(self) -> frozenset[str]:
        """CAPABILITY: ask the server again."""
        conn = await self._begin()
        await self._simple(conn.capability(), "CAPABILITY")
        return self.capabilities

    async def noop(self) -> list[Response]:
        """NOOP: the untagged updates the server had for us."""
        conn = await self._begin()
        return await self._simple(conn.noop(), "NOOP")

    async def logout(self) -> None:
        """LOGOUT, then close."""
        try:
            if self._closed:
                return
            await self._settle()
            handle = self._conn.logout()
            try:
                await self._run(handle, "LOGOUT")
            except ConnectionClosed:
                pass
        finally:
            await self.aclose()

    async def starttls(
        self, ssl_context: ssl.SSLContext | None = None, *, server_hostname: str | None = None
    ) -> None:
        """STARTTLS (RFC 9051 6.2.1), then CAPABILITY again.

        A server that does not offer STARTTLS or refuses it raises
        :class:`~protokit.net.TLSError` before anything else is sent; data
        injected behind the OK is a ``RemoteProtocolError``.  Alerts and
        capabilities learnt before TLS are dropped.
        """
        await self._settle()
        if self.tls_active:
            raise LocalProtocolError("TLS is already active")
        if self._conn.capabilities is None:
            await self.capability()
        if not self.has("STARTTLS"):
            raise TLSError("the server does not offer STARTTLS: refusing to continue without TLS")
        handle = self._conn.starttls()
        while True:
            ev = await self._event()
            if isinstance(ev, Completed) and ev.handle is handle and not ev.ok:
                raise TLSError(
                    f"the server refused STARTTLS ({ev.response.status} {ev.response.text}):"
                    " refusing to continue without TLS"
                )
            if isinstance(ev, TLSUpgradeReady):
                break
        ctx = ssl_context or self._ssl_context or client_ssl_context()
        await self._pump.start_tls(ctx, server_hostname=server_hostname or self._server_hostname)
        self._conn.start_tls_done()
        self.alerts.clear()
        await self.capability()

    # -- authentication -----------------------------------------------------------------

    async def _after_login(self, status: Status, how: str) -> None:
        log.info("logged in with %s", how)
        if status.code is None or status.code.name != "CAPABILITY":
            await self.capability()

    async def login(self, user: str, password: str | Secret[str]) -> None:
        """LOGIN (needs TLS unless plaintext authentication was allowed)."""
        conn = await self._begin()
        handle = conn.login(user, password)
        try:
            _, status = await self._run(handle, "LOGIN")
        except IMAPError as exc:
            raise IMAPAuthenticationError(exc.command, exc.status, exc.text, exc.code) from None
        await self._after_login(status, "LOGIN")

    async def authenticate(self, mechanism: ClientMechanism) -> None:
        """AUTHENTICATE with a ready ``protokit.sasl`` client mechanism
        (SASL-IR when the server offers it)."""
        conn = await self._begin()
        handle = conn.authenticate(mechanism)
        try:
            _, status = await self._run(handle, "AUTHENTICATE")
        except IMAPError as exc:
            error = getattr(mechanism, "error", None)
            raise IMAPAuthenticationError(
                f"AUTHENTICATE {mechanism.name}",
                exc.status,
                exc.text,
                exc.code,
                sasl_error=dict(error) if error is not None else None,
            ) from None
        await self._after_login(status, mechanism.name)

    async def auth(
        self,
        user: str,
        *,
        password: str | Secret[str] | None = None,
        token: Token | None = None,
        authzid: str | None = None,
        mechanisms: Iterable[str] | None = None,
    ) -> str:
        """AUTHENTICATE with the strongest mechanism both sides can use, given
        a password, a bearer token (a string, or a callable, sync or async,
        returning one), or both.  ``mechanisms`` overrides what the server
        offered.  Returns the mechanism's name."""
        await self._settle()
        if mechanisms is None:
            offered = [c[5:] for c in self.capabilities if c.startswith("AUTH=")]
        else:
            offered = [m.upper() for m in mechanisms]
        cb = self.channel_binding
        name = choose_mechanism(
            offered,
            have_password=password is not None,
            have_token=token is not None,
            tls=self.tls_active,
            channel_binding_available=cb is not None,
            allow_plaintext=self._conn.allow_plaintext,
        )
        if name is None:
            raise LocalProtocolError(
                f"no usable SASL mechanism among {', '.join(sorted(offered)) or 'none offered'}"
                + ("" if self.tls_active else " (plaintext mechanisms need TLS)")
            )
        resolved: str | Secret[str] | None = None
        if name in ("XOAUTH2", "OAUTHBEARER"):
            assert token is not None
            answer = token() if callable(token) else token
            if inspect.isawaitable(answer):
                answer = await answer
            assert isinstance(answer, str | Secret)
            resolved = answer
        mech = sasl_client(
            name, user, password=password, token=resolved, authzid=authzid, channel_binding=cb
        )
        await self.authenticate(mech)
        return name

    async def enable(self, *capabilities: str) -> frozenset[str]:
        """ENABLE (RFC 5161): what the server enabled."""
        conn = await self._begin()
        await self._simple(conn.enable(*capabilities), "ENABLE")
        return conn.enabled

    # -- mailboxes ----------------------------------------------------------------------

    async def list(
        self,
        reference: str = "",
        pattern: str = "*",
        *,
        status: Sequence[str] | None = None,
        special_use: bool = False,
    ) -> builtins.list[ListEntry]:
        """LIST: the matching mailboxes.  ``status`` asks for STATUS items of
        each (LIST-STATUS when offered, else one STATUS per mailbox);
        ``special_use`` asks for RFC 6154 attributes (RETURN (SPECIAL-USE))."""
        conn = await self._begin()
        options: builtins.list[tuple[str, Any]] = []
        if special_use and self.has("SPECIAL-USE"):
            options.append(("SPECIAL-USE", None))
        items = tuple(s.upper() for s in status) if status else ()
        list_status = bool(items) and self.has("LIST-STATUS")
        if list_status:
            options.append(("STATUS", items))
        handle = conn.issue(
            List,
            reference=Mailbox(reference),
            patterns=(Mailbox(pattern),),
            return_options=tuple(options),
        )
        untagged = await self._simple(handle, "LIST")
        statuses = {r.mailbox: dict(r.items) for r in untagged if isinstance(r, StatusResponse)}
        out = [
            ListEntry(
                name=r.mailbox,
                delimiter=r.delimiter,
                attributes=r.attributes,
                status=statuses.get(r.mailbox) if list_status else None,
            )
            for r in untagged
            if isinstance(r, ListResponse) and r.kind == "LIST"
        ]
        if items and not list_status:
            for i, e in enumerate(out):
                if e.selectable:
                    st = await self.status(e.name, items)
                    out[i] = ListEntry(
                        name=e.name, delimiter=e.delimiter, attributes=e.attributes, status=st
                    )
        return out

    async def status(
        self,
        mailbox: str,
        items: Sequence[str] = ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"),
    ) -> dict[str, int]:
        """STATUS: the items by name."""
        conn = await self._begin()
        handle = conn.issue(
            StatusCommand, mailbox=Mailbox(mailbox), items=tuple(i.upper() for i in items)
        )
        out: dict[str, int] = {}
        for r in await self._simple(handle, "STATUS"):
            if isinstance(r, StatusResponse):
                out.update(r.items)
        return out

    async def create(self, mailbox: str) -> None:
        conn = await self._begin()
        await self._simple(conn.issue(Create, mailbox=Mailbox(mailbox)), "CREATE")

    async def delete(self, mailbox: str) -> None:
        conn = await self._begin()
        await self._simple(conn.issue(Delete, mailbox=Mailbox(mailbox)), "DELETE")

    async def select(
        self,
        mailbox: str = "INBOX",
        *,
        readonly: bool = False,
        condstore: bool = False,
        qresync: tuple[int, int, Messages | None] | None = None,
    ) -> MailboxState:
        """SELECT (EXAMINE when ``readonly``): the mailbox's state.

        ``condstore`` asks for MODSEQ tracking (RFC 7162); ``qresync`` is
        ``(uidvalidity, modseq, known_uids or None)``: QRESYNC is enabled
        first if needed, and the state's ``vanished`` and ``changed`` tell
        what happened since."""
        conn = await self._begin()
        params: tuple[tuple[str, Any], ...] = ()
        if qresync is not None:
            if "QRESYNC" not in conn.enabled:
                if not self.has("QRESYNC"):
                    raise LocalProtocolError("the server does not offer QRESYNC")
                await self.enable("QRESYNC")
            uidvalidity, modseq, known = qresync
            args: tuple[Any, ...] = (uidvalidity, modseq)
            if known is not None:
                args += (_seqset(known),)
            params = (("QRESYNC", args),)
        elif condstore:
            if not self.has("CONDSTORE"):
                raise LocalProtocolError("the server does not offer CONDSTORE")
            params = (("CONDSTORE", None),)
        cls = Examine if readonly else Select
        handle = conn.issue(cls, mailbox=Mailbox(mailbox), params=params)
        self.mailbox = None
        try:
            untagged, status = await self._run(handle, "EXAMINE" if readonly else "SELECT")
        except IMAPError:
            self.mailbox = None
            raise
        fields: dict[str, Any] = {"name": Mailbox(mailbox), "readonly": readonly}
        vanished: builtins.list[int] = []
        changed: builtins.list[Fetch] = []
        nomodseq = False
        for r in untagged:
            if isinstance(r, Exists):
                fields["exists"] = r.count
            elif isinstance(r, Recent):
                fields["recent"] = r.count
            elif isinstance(r, Flags):
                fields["flags"] = r.flags
            elif isinstance(r, Vanished):
                vanished.extend(expand(r.uids))
            elif isinstance(r, Fetch):
                changed.append(r)
            elif isinstance(r, Status) and r.code is not None:
                name, value = r.code.name, r.code.value
                if name == "UIDVALIDITY":
                    fields["uidvalidity"] = value
                elif name == "UIDNEXT":
                    fields["uidnext"] = value
                elif name == "UNSEEN":
                    fields["unseen"] = value
                elif name == "PERMANENTFLAGS":
                    fields["permanent_flags"] = value
                elif name == "HIGHESTMODSEQ":
                    fields["highest_modseq"] = value
                elif name == "NOMODSEQ":
                    nomodseq = True
        if status.code is not None and status.code.name == "READ-ONLY":
            fields["readonly"] = True
        if nomodseq:
            fields["highest_modseq"] = None
        self.mailbox = MailboxState(**fields, vanished=tuple(vanished), changed=tuple(changed))
        return self.mailbox

    async def examine(self, mailbox: str = "INBOX") -> MailboxState:
        """EXAMINE: :meth:`select` read-only."""
        return await self.select(mailbox, readonly=True)

    async def unselect(self) -> None:
        """UNSELECT (RFC 3691): leave the mailbox without expunging."""
        conn = await self._begin()
        await self._simple(conn.issue(Unselect), "UNSELECT")
        self.mailbox = None

    async def close_mailbox(self) -> None:
        """CLOSE: expunge the messages marked \\Deleted (silently) and leave
        the mailbox (imapclient's ``close_folder``)."""
        conn = await self._begin()
        await self._simple(conn.issue(Close), "CLOSE")
        self.mailbox = None


async def wrap_imap_stream(
    stream: anyio.abc.ByteStream,
    *,
    server_hostname: str | None = None,
    tls_active: bool = False,
    require_tls: bool = False,
    allow_plaintext_auth: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    timeouts: Timeouts | None = None,
    idle_renew: float = IDLE_RENEW,
    tag_prefix: str = "A",
) -> IMAPClient:
    """Start an IMAP session on a connected stream: read the greeting (and
    the capabilities, if the greeting did not carry them).

    ``require_tls``: a PREAUTH greeting without TLS is a
    :class:`~protokit.net.TLSError`, and no credential leaves before TLS.
    The stream is closed if the greeting fails."""
    conn = ClientConnection(
        tag_prefix=tag_prefix,
        require_tls=require_tls,
        tls_active=tls_active,
        allow_plaintext=allow_plaintext_auth,
    )
    pump: Pump[ClientEvent] = Pump(stream, conn, timeouts=timeouts)
    try:
        try:
            ev = await pump.next_event()
        except RemoteProtocolError as exc:
            if "PREAUTH" in exc.message:
                raise TLSError(
                    "the server greeted with PREAUTH before TLS (STARTTLS stripping):"
                    " refusing to continue without TLS"
                ) from exc
            raise
        if isinstance(ev, ClosedEvent):
            raise ConnectionClosed("the IMAP server closed the connection before its greeting")
        assert isinstance(ev, Greeting)
        if ev.response.status == "BYE":
            raise IMAPError.from_status("greeting", ev.response)
        client = IMAPClient(
            pump,
            conn,
            ev.response,
            server_hostname=server_hostname,
            ssl_context=ssl_context,
            idle_renew=idle_renew,
        )
        client._note(ev.response)
        if conn.capabilities is None:
            await client.capability()
    except BaseException:
        await pump.aclose()
        raise
    return client


async def connect_imap(
    host: str,
    port: int | None = None,
    *,
    tls: TLSMode = TLSMode.STARTTLS,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    allow_plaintext_auth: bool = False,
    timeouts: Timeouts | None = None,
    idle_renew: float = IDLE_RENEW,
) -> IMAPClient:
    """Connect, read the greeting and, in STARTTLS mode (the default),
    upgrade before returning: a server that does not offer STARTTLS, refuses
    it, or greets with PREAUTH raises :class:`~protokit.net.TLSError` before
    any credential leaves.  ``port`` defaults to 993 for IMPLICIT, else 143.

    ``allow_plaintext_auth`` lets LOGIN and PLAIN go out without TLS
    (``tls=TLSMode.PLAIN`` only; for loopback and tests)."""
    if port is None:
        port = 993 if tls is TLSMode.IMPLICIT else 143
    d = await dial(
        host,
        port,
        tls=tls,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        timeouts=timeouts,
    )
    client = await d.greeted(
        wrap_imap_stream(
            d.stream,
            server_hostname=d.hostname,
            tls_active=tls is TLSMode.IMPLICIT,
            require_tls=tls is not TLSMode.PLAIN,
            allow_plaintext_auth=allow_plaintext_auth and tls is TLSMode.PLAIN,
            ssl_context=d.ssl_context,
            timeouts=d.timeouts,
            idle_renew=idle_renew,
        )
    )
    if tls is TLSMode.STARTTLS:
        async with ClosedOnError(client):
            await client.starttls(d.ssl_context, server_hostname=d.hostname)
    return client


@asynccontextmanager
async def open_imap(
    host: str,
    port: int | None = None,
    *,
    tls: TLSMode = TLSMode.STARTTLS,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    allow_plaintext_auth: bool = False,
    timeouts: Timeouts | None = None,
    idle_renew: float = IDLE_RENEW,
) -> AsyncIterator[IMAPClient]:
    """:func:`connect_imap` as an async context manager: LOGOUT on a clean
    exit, a plain close after an exception."""
    client = await connect_imap(
        host,
        port,
        tls=tls,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        allow_plaintext_auth=allow_plaintext_auth,
        timeouts=timeouts,
        idle_renew=idle_renew,
    )
    try:
        yield client
    except BaseException:
        await client.aclose()
        raise
    await client.logout()
