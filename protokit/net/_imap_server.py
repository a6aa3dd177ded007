"""The async IMAP server: :func:`serve_imap` runs a
:class:`protokit.imap.ServerConnection` per client on the listener framework
and answers its commands from an :class:`~protokit.net.IMAPBackend`.

- STARTTLS on listeners with an ``ssl_context``, implicit TLS on IMPLICIT
  ones; a command pipelined behind STARTTLS is an injection: ``* BYE`` and
  close, never answered.
- The session keeps its view of the selected mailbox (message number to
  UID); what other sessions change reaches it as EXISTS, EXPUNGE and FETCH
  FLAGS at the moments RFC 9051 7.5.1 allows (completing a command other
  than FETCH, STORE and SEARCH) and at once during IDLE.
- APPEND literals are announced to the backend before their octets
  (``NO [TRYCREATE]``, ``[OVERQUOTA]``, ``[TOOBIG]`` without reading them);
  large APPEND and FETCH bodies are streamed, never held.
- The autologout timer (RFC 9051 5.4): a client must send each whole
  command within ``idle_timeout`` (IDLE included); a client that does not
  read is bounded by the write timeout.
- Shutdown (cancelling the task): every session gets ``* BYE`` and is closed.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Final

import anyio
import anyio.abc

from ..errors import ProtocolError
from ..imap import (
    Append,
    AppendAnnounced,
    AuthenticationFailed,
    BodyChunk,
    BodyEnd,
    BodySection,
    BodyStart,
    Check,
    Close,
    CommandError,
    CommandReceived,
    Copy,
    Create,
    Delete,
    ESearch,
    Examine,
    Exists,
    Expunge,
    ExpungeCommand,
    Fetch,
    FetchBody,
    FetchCommand,
    Flag,
    Flags,
    IdCommand,
    Idle,
    IdleDone,
    List,
    ListResponse,
    Login,
    Logout,
    Lsub,
    Mailbox,
    Move,
    Namespace,
    NamespaceCommand,
    NamespaceEntry,
    Noop,
    Recent,
    Rename,
    ResponseCode,
    SaslAuthenticated,
    SaslRequest,
    Search,
    SearchCommand,
    Section,
    Select,
    SequenceSet,
    ServerConfig,
    ServerConnection,
    ServerEvent,
    StartTLSRequested,
    State,
    Status,
    StatusCommand,
    StatusResponse,
    Store,
    StreamedLiteral,
    Subscribe,
    Unselect,
    Unsubscribe,
)
from ..imap import ConnectionClosed as ClosedEvent
from ..imap import Id as IdResponse
from ..wire._secret import Secret
from ._errors import TransportError
from ._imap_backend import (
    AppendResult,
    IMAPBackend,
    IMAPSession,
    MailboxError,
    MessageInfo,
    SelectedMailbox,
)
from ._imap_server_fetch import body_structure, envelope, section_bytes_of
from ._pump import Pump, Timeouts
from ._server import ConnectionInfo, Listener, ServerInfo, ServerLimits, serve_listeners
from ._server_common import ServerSession, finite, idle_wait, limits_with, sasl_answer

__all__ = ["serve_imap"]

log = logging.getLogger("protokit.net.imap")

#: What serve_imap offers unless ``config`` says otherwise (DESIGN.md).
DEFAULT_CAPABILITIES: Final = (
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "IDLE",
    "ENABLE",
    "ID",
    "UNSELECT",
    "NAMESPACE",
    "UIDPLUS",
    "MOVE",
    "CONDSTORE",
    "SPECIAL-USE",
    "LIST-STATUS",
    "ESEARCH",
    "X-GM-EXT-1",
)
#: SASL mechanisms offered by default (the plaintext ones under TLS only).
DEFAULT_MECHANISMS: Final = ("PLAIN", "OAUTHBEARER", "XOAUTH2")
#: What a client over ``ServerLimits.max_connections`` is told.
OVERLOAD_REPLY: Final = b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
SHUTDOWN_REPLY: Final = b"* BYE [UNAVAILABLE] Server shutting down\r\n"
AUTOLOGOUT_REPLY: Final = b"* BYE Autologout: no command within the time limit\r\n"
#: Said when the bearer token the session logged in with expires (RFC 5530 EXPIRED).
TOKEN_EXPIRED_REPLY: Final = b"* BYE [EXPIRED] The access token expired, log in again\r\n"
#: Body octets queued before they are written (a bound on what is held).
FLUSH_SIZE: Final = 64 * 1024
_SERVER_ID: Final = ((b"name", b"protokit"),)
_STATUS_ITEMS: Final = (
    "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE", "DELETED",
)  # fmt: skip


async def serve_imap(
    backend: IMAPBackend,
    listeners: list[Listener],
    *,
    config: ServerConfig | None = None,
    limits: ServerLimits | None = None,
    idle_timeout: float = 1800.0,
    timeouts: Timeouts | None = None,
    task_status: anyio.abc.TaskStatus[ServerInfo] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve IMAP from ``backend`` on ``listeners`` until cancelled.

    ``config`` is the sans-IO server's (capabilities, SASL mechanisms,
    plaintext policy, limits); ``starttls`` and ``tls_active`` are set per
    listener and APPEND literals are always announced.  ``idle_timeout``
    is the autologout timer (RFC 9051 asks for at least 30 minutes);
    ``timeouts`` bounds writes and the STARTTLS handshake.  Reports the
    bound ports through ``task_status`` (``await tg.start(serve_imap, ...)``).
    """
    base = config or ServerConfig(capabilities=DEFAULT_CAPABILITIES, mechanisms=DEFAULT_MECHANISMS)
    lim = limits_with(limits, OVERLOAD_REPLY)
    t = timeouts or Timeouts()

    async def handler(stream: anyio.abc.ByteStream, info: ConnectionInfo) -> None:
        session = _Session(backend, base, stream, info, idle_timeout, t)
        await session.run()

    await serve_listeners(handler, listeners, limits=lim, task_status=task_status)


class _Session(ServerSession[ServerEvent]):
    log = log

    def __init__(
        self,
        backend: IMAPBackend,
        base: ServerConfig,
        stream: anyio.abc.ByteStream,
        info: ConnectionInfo,
        idle_timeout: float,
        timeouts: Timeouts,
    ) -> None:
        listener = info.listener
        cfg = replace(
            base,
            tls_active=info.tls,
            starttls=listener.ssl_context is not None and not info.tls,
            announce_append=True,
        )
        self.backend = backend
        self.info = info
        self.idle_timeout = idle_timeout
        self.conn = ServerConnection(cfg)
        self.pump: Pump[ServerEvent] = Pump(stream, self.conn, timeouts=timeouts)
        self.peer = info.peer[0]
        self.user: str | None = None
        self.mailboxes: IMAPSession | None = None
        self.selected: SelectedMailbox | None = None
        #: The session's view: UIDs by message number - 1.
        self.view: list[int] = []
        self.announced: AppendAnnounced | None = None
        #: When the bearer token of the last authentication expires (wall
        #: clock), if known; the session ends then (DESIGN.md).
        self.token_expires: float | None = None
        #: Why _next() returned None: the token expired (else autologout).
        self.expired = False
        self.appended: list[AppendResult | MailboxError] = []

    # -- the loop -----------------------------------------------------------------

    async def _shutting_down(self) -> None:
        await self._say(self.conn.data_to_send() + SHUTDOWN_REPLY)

    async def _release(self) -> None:
        with anyio.move_on_after(10):
            await self._close_mailboxes()

    async def _close_mailboxes(self) -> None:
        if self.selected is not None:
            selected, self.selected = self.selected, None
            await selected.close()
        if self.mailboxes is not None:
            mailboxes, self.mailboxes = self.mailboxes, None
            await mailboxes.close()

    async def _next(self) -> ServerEvent | None:
        """The next event, or None when the autologout timer ran out or the
        session's bearer token expired (``self.expired`` says which)."""
        wait, expiring = idle_wait(
            self.idle_timeout, self.token_expires if self.user is not None else None
        )
        with anyio.move_on_after(finite(wait)) as scope:
            return await self.pump.next_event(timeout=math.inf)
        assert scope.cancelled_caught
        self.expired = expiring
        return None

    def _timed_out(self) -> bytes:
        """The last line when _next() returned None."""
        if self.expired:
            log.info("connection from %s: the access token expired", self.peer)
            return TOKEN_EXPIRED_REPLY
        log.info("connection from %s: autologout", self.peer)
        return AUTOLOGOUT_REPLY

    async def _loop(self) -> None:
        conn = self.conn
        while True:
            ev = await self._next()
            if ev is None:
                await self._say(conn.data_to_send() + self._timed_out())
                return
            if isinstance(ev, ClosedEvent):
                await self.pump.flush()
                return
            await self._handle(ev)
            if conn.state is State.LOGOUT and conn.current is None:
                await self.pump.flush()
                return

    async def _handle(self, ev: ServerEvent) -> None:
        conn = self.conn
        if isinstance(ev, CommandReceived):
            await self._command(ev.command)
        elif isinstance(ev, AppendAnnounced):
            await self._append_announced(ev)
        elif isinstance(ev, BodyStart):
            await self._append_streamed(ev)
        elif isinstance(ev, SaslRequest):
            self.token_expires = None  # set again by a valid bearer token
            conn.answer_sasl(await self._sasl(ev))
        elif isinstance(ev, SaslAuthenticated):
            ok = True
            if ev.authzid is not None and ev.authzid != ev.authcid:
                ok = await self.backend.authorize(ev.authcid, ev.authzid)
            await self._login(ev.authzid or ev.authcid, ok, f"AUTHENTICATE {ev.mechanism}")
        elif isinstance(ev, AuthenticationFailed):
            log.info("connection from %s: AUTHENTICATE %s failed", self.peer, ev.mechanism)
        elif isinstance(ev, CommandError):
            log.debug("connection from %s: command refused: %s", self.peer, ev.message)
        elif isinstance(ev, StartTLSRequested):
            ctx = self.info.listener.ssl_context
            assert ctx is not None
            await self.pump.flush()  # the OK
            # Anything buffered past STARTTLS is an injection (CVE-2011-0411):
            # start_tls refuses it before the handshake, and the session ends.
            await self.pump.start_tls(ctx, server_side=True, pending=conn.unread())
            conn.start_tls_done()
        elif isinstance(ev, IdleDone):
            pass
        elif isinstance(ev, BodyChunk | BodyEnd):
            # A literal of a command other than APPEND: nothing holds it.
            pass

    # -- authentication -----------------------------------------------------------

    async def _sasl(self, ev: SaslRequest) -> object:
        answer, self.token_expires = await sasl_answer(self.backend, ev.mechanism, ev.request)
        return answer

    async def _login(self, username: str, ok: bool, how: str) -> None:
        conn = self.conn
        if not ok:
            log.info("connection from %s: %s failed", self.peer, how)
            conn.complete("NO", "Authentication failed", ResponseCode(name="AUTHENTICATIONFAILED"))
            return
        try:
            self.mailboxes = await self.backend.open_session(username)
        except MailboxError as exc:
            conn.complete("NO", exc.text, _code(exc))
            return
        self.user = username
        log.info("connection from %s: %s logged in with %s", self.peer, username, how)
        conn.complete("OK", "Logged in")

    # -- commands -----------------------------------------------------------------

    async def _command(self, cmd: object) -> None:
        conn = self.conn
        try:
            if isinstance(cmd, Noop | Check):
                self._sync()
                conn.complete("OK")
            elif isinstance(cmd, Logout):
                conn.complete("OK")
            elif isinstance(cmd, Login):
                await self._cmd_login(cmd)
            elif isinstance(cmd, IdCommand):
                conn.send(IdResponse(params=_SERVER_ID))
                conn.complete("OK")
            elif isinstance(cmd, NamespaceCommand):
                personal = (NamespaceEntry(prefix=b"", delimiter=self._delimiter()),)
                conn.send(Namespace(personal=personal))
                conn.complete("OK")
            elif isinstance(cmd, List | Lsub):
                await self._list(cmd)
            elif isinstance(cmd, StatusCommand):
                await self._status(cmd)
            elif isinstance(cmd, Create):
                use = next((v for k, v in cmd.params if k.upper() == "USE"), None)
                await self._session().create(cmd.mailbox, _special_use(use))
                conn.complete("OK")
            elif isinstance(cmd, Delete):
                await self._session().delete(cmd.mailbox)
                conn.complete("OK")
            elif isinstance(cmd, Rename):
                await self._session().rename(cmd.mailbox, cmd.new_name)
                conn.complete("OK")
            elif isinstance(cmd, Subscribe | Unsubscribe):
                await self._session().subscribe(cmd.mailbox, isinstance(cmd, Subscribe))
                conn.complete("OK")
            elif isinstance(cmd, Select | Examine):
                await self._select(cmd)
            elif isinstance(cmd, Close | Unselect):
                await self._unselect(expunge=isinstance(cmd, Close))
            elif isinstance(cmd, Append):
                await self._append(cmd)
            elif isinstance(cmd, Idle):
                await self._idle()
            elif isinstance(cmd, FetchCommand):
                await self._fetch(cmd)
            elif isinstance(cmd, Store):
                await self._store(cmd)
            elif isinstance(cmd, SearchCommand):
                await self._search(cmd)
            elif isinstance(cmd, Copy | Move):
                await self._copy(cmd)
            elif isinstance(cmd, ExpungeCommand):
                await self._expunge(cmd)
            else:
                conn.complete("BAD", "Command not supported")
        except MailboxError as exc:
            if self.conn.current is not None:
                conn.complete("NO", exc.text, _code(exc))
        except (TransportError, ProtocolError):
            raise
        except Exception:
            # A backend failure: the command fails, the session goes on
            # (unless half a response is on the wire).
            log.exception("connection from %s: %s failed", self.peer, type(cmd).__name__)
            if conn.current is not None:
                conn.complete("NO", "Internal error", ResponseCode(name="SERVERBUG"))

    def _session(self) -> IMAPSession:
        assert self.mailboxes is not None
        return self.mailboxes

    def _mailbox(self) -> SelectedMailbox:
        assert self.selected is not None
        return self.selected

    def _delimiter(self) -> str:
        return self.mailboxes.delimiter if self.mailboxes is not None else "/"

    async def _cmd_login(self, cmd: Login) -> None:
        try:
            username = cmd.username.decode("utf-8")
            password = Secret(cmd.password.expose().decode("utf-8"))
        except UnicodeDecodeError:
            await self._login("", False, "LOGIN")
            return
        ok = await self.backend.verify_password(username, password)
        await self._login(username, ok, "LOGIN")

    # -- mailboxes ----------------------------------------------------------------

    async def _list(self, cmd: List | Lsub) -> None:
        conn = self.conn
        delim = self._delimiter()
        lsub = isinstance(cmd, Lsub)
        patterns = (cmd.pattern,) if isinstance(cmd, Lsub) else cmd.patterns
        selection = () if isinstance(cmd, Lsub) else tuple(s.upper() for s in cmd.selection)
        options = {} if isinstance(cmd, Lsub) else {k.upper(): v for k, v in cmd.return_options}
        if len(patterns) == 1 and patterns[0] == "":
            # RFC 9051 6.3.9: the hierarchy delimiter and root name.
            conn.send(ListResponse(kind="LSUB" if lsub else "LIST", attributes=("\\Noselect",),
                                   delimiter=delim, mailbox=Mailbox("")))  # fmt: skip
            conn.complete("OK")
            return
        regexes = [_pattern(str(cmd.reference) + str(p), delim) for p in patterns]
        subscribed_only = lsub or "SUBSCRIBED" in selection
        special_only = "SPECIAL-USE" in selection
        for box in await self._session().list():
            if not any(r.fullmatch(box.name) for r in regexes):
                continue
            if subscribed_only and not box.subscribed:
                continue
            attrs = box.attributes
            if special_only and not any(a in _SPECIAL_USES for a in attrs):
                continue
            if (subscribed_only or "SUBSCRIBED" in options) and box.subscribed and not lsub:
                attrs = (*attrs, "\\Subscribed")
            kind = "LSUB" if lsub else "LIST"
            conn.send(ListResponse(kind=kind, attributes=attrs, delimiter=delim,
                                   mailbox=Mailbox(box.name)))  # fmt: skip
            items = options.get("STATUS")
            if items:
                await self._send_status(box.name, tuple(str(i).upper() for i in items))
        conn.complete("OK")

    async def _status(self, cmd: StatusCommand) -> None:
        await self._send_status(cmd.mailbox, tuple(i.upper() for i in cmd.items))
        self._sync()
        self.conn.complete("OK")

    async def _send_status(self, name: str, items: tuple[str, ...]) -> None:
        st = await self._session().status(name)
        values = {
            "MESSAGES": st.messages,
            "RECENT": st.recent,
            "UIDNEXT": st.uidnext,
            "UIDVALIDITY": st.uidvalidity,
            "UNSEEN": st.unseen,
            "HIGHESTMODSEQ": st.highestmodseq,
            "SIZE": st.size,
            "DELETED": st.deleted,
        }
        out = tuple((i, values[i]) for i in items if i in values)
        self.conn.send(StatusResponse(mailbox=Mailbox(name), items=out))

    async def _select(self, cmd: Select | Examine) -> None:
        conn = self.conn
        if self.selected is not None:
            old, self.selected = self.selected, None
            self.view = []
            await old.close()
            # RFC 7162 3.2.11 / RFC 9051 6.3.2: the old mailbox is closed.
            self._untagged_ok("CLOSED", None, "Previous mailbox closed")
        if any(k.upper() == "CONDSTORE" for k, _ in cmd.params):
            conn.enabled = conn.enabled | {"CONDSTORE"}
        try:
            box = await self._session().select(cmd.mailbox, readonly=isinstance(cmd, Examine))
        except MailboxError as exc:
            conn.complete("NO", exc.text, _code(exc))
            return
        self.selected = box
        self.view = list(box.uids())
        box.changes()  # what happened before SELECT is in the view already
        conn.send(Flags(flags=tuple(Flag(f) for f in box.flags)))
        conn.send(Exists(count=len(self.view)))
        conn.send(Recent(count=0))
        self._untagged_ok("UIDVALIDITY", box.uidvalidity, "UIDs valid")
        self._untagged_ok("UIDNEXT", box.uidnext, "Predicted next UID")
        perm = tuple(Flag(f) for f in box.permanent_flags)
        self._untagged_ok("PERMANENTFLAGS", perm, "Limited")
        if self._condstore_offered():
            self._untagged_ok("HIGHESTMODSEQ", box.highest_modseq, "Highest")
        mode = "READ-ONLY" if box.readonly else "READ-WRITE"
        conn.complete("OK", f"{cmd.__class__.__name__.upper()} completed", ResponseCode(name=mode))

    def _untagged_ok(self, code: str, value: object, text: str) -> None:
        self.conn.send(
            Status(tag=None, status="OK", code=ResponseCode(name=code, value=value), text=text)
        )

    def _condstore_offered(self) -> bool:
        return any(c.upper() == "CONDSTORE" for c in self.conn.config.capabilities)

    def _condstore(self) -> bool:
        return "CONDSTORE" in self.conn.enabled or "QRESYNC" in self.conn.enabled

    async def _unselect(self, *, expunge: bool) -> None:
        box = self._mailbox()
        if expunge and not box.readonly:
            await box.expunge()  # silently (RFC 9051 6.4.1)
        self.selected = None
        self.view = []
        await box.close()
        self.conn.complete("OK")

    # -- updates ------------------------------------------------------------------

    def _sync(self) -> None:
        """Send what other sessions changed (EXPUNGE, EXISTS, FETCH FLAGS)."""
        box = self.selected
        if box is None:
            return
        changes = box.changes()
        if not changes:
            return
        conn = self.conn
        for uid in changes.expunged:
            self._expunged(uid)
        if changes.added:
            known = set(self.view)
            self.view.extend(u for u in changes.added if u not in known)
            conn.push_update(Exists(count=len(self.view)))
        for info in changes.flags:
            seq = self._seq(info.uid)
            if seq is not None:
                conn.push_update(self._flags_fetch(seq, info, uid=True))

    def _expunged(self, uid: int) -> None:
        seq = self._seq(uid)
        if seq is not None:
            del self.view[seq - 1]
            self.conn.push_update(Expunge(seq=seq))

    def _seq(self, uid: int) -> int | None:
        # The view is ascending: bisect.
        i = bisect.bisect_left(self.view, uid)
        return i + 1 if i < len(self.view) and self.view[i] == uid else None

    def _flags_fetch(self, seq: int, info: MessageInfo, *, uid: bool) -> Fetch:
        return Fetch(
            seq=seq,
            uid=info.uid if uid else None,
            flags=tuple(Flag(f) for f in info.flags),
            modseq=info.modseq if self._condstore() else None,
        )

    async def _idle(self) -> None:
        box = self.selected
        self._sync()
        async with anyio.create_task_group() as tg:
            if box is not None:
                tg.start_soon(self._watch, box)
            ev = await self._next()
            tg.cancel_scope.cancel()
        if ev is None:
            await self._say(self.conn.data_to_send() + self._timed_out())
            raise TransportError("session ended during IDLE")
        if not isinstance(ev, IdleDone | CommandError):
            await self._handle(ev)

    async def _watch(self, box: SelectedMailbox) -> None:
        while True:
            await box.wait_for_changes()
            self._sync()
            await self.pump.flush()

    # -- APPEND -------------------------------------------------------------------

    async def _append_announced(self, ev: AppendAnnounced) -> None:
        try:
            if self.mailboxes is None:
                raise MailboxError("Not authenticated")
            await self.mailboxes.check_append(ev.mailbox, ev.size)
        except MailboxError as exc:
            log.info("connection from %s: APPEND refused: %s", self.peer, exc.text)
            self.conn.refuse_append(exc.text, _code(exc))
            return
        self.announced = ev
        self.conn.accept_append()

    async def _chunks(self) -> AsyncIterator[bytes]:
        """The chunks of a streamed APPEND literal, read as the backend asks."""
        while True:
            ev = await self.pump.next_event()
            if isinstance(ev, BodyChunk):
                yield ev.data
            elif isinstance(ev, BodyEnd):
                return
            else:
                raise TransportError(f"unexpected {type(ev).__name__} inside a literal")

    async def _append_streamed(self, ev: BodyStart) -> None:
        announced = self.announced
        if ev.command != "APPEND" or announced is None or self.mailboxes is None:
            return
        chunks = self._chunks()
        flags = [str(f) for f in announced.flags or ()]
        try:
            result: AppendResult | MailboxError = await self.mailboxes.append(
                announced.mailbox, flags, announced.date, chunks
            )
        except MailboxError as exc:
            result = exc
        # Whatever the backend did not read is read and dropped.
        async for _ in chunks:
            pass
        self.appended.append(result)

    async def _append(self, cmd: Append) -> None:
        conn = self.conn
        streamed = list(self.appended)
        self.appended.clear()
        results: list[AppendResult] = []
        error: MailboxError | None = None
        for msg in cmd.messages:
            if isinstance(msg.data, StreamedLiteral):
                outcome = streamed.pop(0)
            else:
                try:
                    outcome = await self._session().append(
                        cmd.mailbox, [str(f) for f in msg.flags or ()], msg.date, _one(msg.data)
                    )
                except MailboxError as exc:
                    outcome = exc
            if isinstance(outcome, MailboxError):
                error = error or outcome
            else:
                results.append(outcome)
        self._sync()
        if error is not None:
            conn.complete("NO", error.text, _code(error))
            return
        uids = SequenceSet.of(*(r.uid for r in results))
        code = ResponseCode(name="APPENDUID", value=(results[-1].uidvalidity, uids))
        conn.complete("OK", "APPEND completed", code)

    # -- FETCH --------------------------------------------------------------------

    def _uids(self, seqset: SequenceSet, uid: bool) -> list[int]:
        """The UIDs a sequence set names in the view (RFC 9051 6.4.8: "*" is
        the largest; a UID set may name UIDs that do not exist)."""
        view = self.view
        if not view:
            return []
        out: set[int] = set()
        if uid:
            largest = view[-1]
            for a, b in seqset.ranges:
                lo = largest if a is None else a
                hi = largest if b is None else b
                lo, hi = min(lo, hi), max(lo, hi)
                out.update(u for u in view if lo <= u <= hi)
        else:
            n = len(view)
            for a, b in seqset.ranges:
                lo = n if a is None else a
                hi = n if b is None else b
                lo, hi = min(lo, hi), max(lo, hi)
                if lo > n:
                    continue
                out.update(view[lo - 1 : min(hi, n)])
        return sorted(out)

    def _valid_seqset(self, seqset: SequenceSet) -> bool:
        n = len(self.view)
        return all((a is None or a <= n) and (b is None or b <= n) for a, b in seqset.ranges)

    async def _fetch(self, cmd: FetchCommand) -> None:
        conn = self.conn
        box = self._mailbox()
        if not cmd.uid and not self._valid_seqset(cmd.sequence_set):
            conn.complete("BAD", "Invalid message sequence number")
            return
        items = _expand(cmd.items)
        changedsince = next(
            (int(v) for k, v in cmd.modifiers if k.upper() == "CHANGEDSINCE"), None
        )
        if changedsince is not None:
            conn.enabled = conn.enabled | {"CONDSTORE"}
        names = {i for i in items if isinstance(i, str)}
        bodies = [i for i in items if isinstance(i, FetchBody)]
        sets_seen = not box.readonly and (
            any(not b.peek for b in bodies) or names & {"RFC822", "RFC822.TEXT"}
        )
        uids = self._uids(cmd.sequence_set, cmd.uid)
        infos = await box.fetch(uids)
        if sets_seen:
            unseen = [i.uid for i in infos if "\\Seen" not in i.flags]
            if unseen:
                changed = {i.uid: i for i in (await box.store(unseen, "+", ["\\Seen"])).changed}
                infos = [changed.get(i.uid, i) for i in infos]
                names = names | {"FLAGS"}
        for info in infos:
            if changedsince is not None and info.modseq <= changedsince:
                continue
            seq = self._seq(info.uid)
            if seq is None:
                continue
            await self._fetch_one(seq, info, names, bodies, cmd.uid)
        await self.pump.flush()
        conn.complete("OK")

    async def _fetch_one(
        self, seq: int, info: MessageInfo, names: set[str], bodies: list[FetchBody], uid: bool
    ) -> None:
        box = self._mailbox()
        whole: bytes | None = None
        needs_octets = bool(
            names & {"ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
        ) or any(b.section != Section() or b.partial is not None or b.binary for b in bodies)
        header_only = not names & {"BODYSTRUCTURE", "BODY", "RFC822", "RFC822.TEXT"} and all(
            _header_section(b) for b in bodies
        )
        if needs_octets:
            # ENVELOPE and header sections need the header only: read up to
            # its end rather than the whole message (which may be large).
            whole = await _read(box.body(info.uid), until=b"\r\n\r\n" if header_only else None)
        sections: list[BodySection] = []
        streamed = False  # one whole BODY[] streamed last
        for b in bodies:
            if b.section == Section() and b.partial is None and not b.binary and whole is None:
                streamed = True
                continue
            data = section_bytes_of(whole or b"", b.section)
            origin = None
            if data is not None and b.partial is not None:
                origin, count = b.partial
                data = data[origin : origin + count]
            sections.append(
                BodySection(section=b.section, origin=origin, data=data, binary=b.binary)
            )
        if streamed:
            stand_in = StreamedLiteral(info.size, False)
            sections.append(BodySection(section=Section(), data=stand_in))
        fetch = Fetch(
            seq=seq,
            uid=info.uid if uid or "UID" in names else None,
            flags=tuple(Flag(f) for f in info.flags) if "FLAGS" in names else None,
            internaldate=info.internaldate if "INTERNALDATE" in names else None,
            rfc822_size=info.size if "RFC822.SIZE" in names else None,
            envelope=envelope(whole) if whole is not None and "ENVELOPE" in names else None,
            bodystructure=body_structure(whole)
            if whole is not None and "BODYSTRUCTURE" in names
            else None,
            body=body_structure(whole) if whole is not None and "BODY" in names else None,
            rfc822_header=section_bytes_of(whole, Section(text="HEADER"))
            if whole is not None and "RFC822.HEADER" in names
            else None,
            rfc822_text=section_bytes_of(whole, Section(text="TEXT"))
            if whole is not None and "RFC822.TEXT" in names
            else None,
            modseq=info.modseq if "MODSEQ" in names or self._condstore() else None,
            gm_msgid=info.gm_msgid if "X-GM-MSGID" in names else None,
            gm_thrid=info.gm_thrid if "X-GM-THRID" in names else None,
            gm_labels=info.gm_labels if "X-GM-LABELS" in names else None,
            rfc822=whole if whole is not None and "RFC822" in names else None,
            sections=tuple(sections),
        )
        if not streamed:
            self.conn.send(fetch)
            return
        self.conn.start_fetch_body(fetch)
        sent = 0
        pending = 0
        async for chunk in box.body(info.uid):
            chunk = chunk[: info.size - sent]
            self.conn.send_fetch_data(chunk)
            sent += len(chunk)
            pending += len(chunk)
            if pending >= FLUSH_SIZE:
                pending = 0
                await self.pump.flush()
        if sent != info.size:
            # Half a response is on the wire: only closing can say so.
            raise TransportError("the backend's body is shorter than its size")
        self.conn.end_fetch_body()

    # -- STORE, SEARCH, COPY/MOVE, EXPUNGE ------------------------------------------

    async def _store(self, cmd: Store) -> None:
        conn = self.conn
        box = self._mailbox()
        if not cmd.uid and not self._valid_seqset(cmd.sequence_set):
            conn.complete("BAD", "Invalid message sequence number")
            return
        if box.readonly:
            conn.complete("NO", "Mailbox is read-only", ResponseCode(name="READ-ONLY"))
            return
        if cmd.unchangedsince is not None:
            conn.enabled = conn.enabled | {"CONDSTORE"}
        uids = self._uids(cmd.sequence_set, cmd.uid)
        result = await box.store(
            uids,
            cmd.mode,
            [str(f) for f in cmd.flags],
            unchangedsince=cmd.unchangedsince,
            gm_labels=cmd.gm_labels,
        )
        for info in result.changed:
            seq = self._seq(info.uid)
            if seq is None:
                continue
            if cmd.gm_labels is not None:
                if not cmd.silent:
                    uid = info.uid if cmd.uid else None
                    conn.send(Fetch(seq=seq, uid=uid, gm_labels=info.gm_labels))
            elif not cmd.silent or self._condstore():
                fetch = self._flags_fetch(seq, info, uid=cmd.uid)
                if cmd.silent:
                    # RFC 7162 3.2: .SILENT still reports the new MODSEQ.
                    fetch = replace(fetch, flags=None, uid=info.uid)
                conn.send(fetch)
        if result.modified:
            ids = result.modified if cmd.uid else [self._seq(u) or 0 for u in result.modified]
            code = ResponseCode(name="MODIFIED", value=SequenceSet.of(*ids))
            conn.complete("OK", "Conditional STORE failed for some", code)
            return
        conn.complete("OK")

    async def _search(self, cmd: SearchCommand) -> None:
        conn = self.conn
        box = self._mailbox()
        if cmd.charset is not None and cmd.charset.upper() not in (b"US-ASCII", b"UTF-8"):
            code = ResponseCode(name="BADCHARSET", value=(b"US-ASCII", b"UTF-8"))
            conn.complete("NO", "Unsupported charset", code)
            return
        uids = await box.search(cmd.keys, list(self.view))
        ids = list(uids) if cmd.uid else [s for s in (self._seq(u) for u in uids) if s]
        if cmd.return_options is not None:
            opts = {o.upper() for o in cmd.return_options} or {"ALL"}
            items: list[tuple[str, object]] = []
            if ids and "MIN" in opts:
                items.append(("MIN", min(ids)))
            if ids and "MAX" in opts:
                items.append(("MAX", max(ids)))
            if ids and "ALL" in opts:
                items.append(("ALL", SequenceSet.of(*ids)))
            if "COUNT" in opts:
                items.append(("COUNT", len(ids)))
            conn.send(ESearch(tag=str(cmd.tag), uid=cmd.uid, items=tuple(items)))
        else:
            conn.send(Search(ids=tuple(ids)))
        conn.complete("OK")

    async def _copy(self, cmd: Copy | Move) -> None:
        conn = self.conn
        box = self._mailbox()
        if not cmd.uid and not self._valid_seqset(cmd.sequence_set):
            conn.complete("BAD", "Invalid message sequence number")
            return
        uids = self._uids(cmd.sequence_set, cmd.uid)
        if not uids:
            conn.complete("OK", "No messages")
            return
        move = isinstance(cmd, Move)
        result = await (box.move if move else box.copy)(uids, cmd.mailbox)
        code = ResponseCode(
            name="COPYUID",
            value=(
                result.uidvalidity,
                SequenceSet.of(*result.source),
                SequenceSet.of(*result.destination),
            ),
        )
        if not move:
            self._sync()
            conn.complete("OK", "COPY completed", code)
            return
        # RFC 6851 4.3: COPYUID in an untagged OK before the expunges.
        conn.send(Status(tag=None, status="OK", code=code, text="Moved"))
        for uid in sorted(result.source, reverse=True):
            self._expunged(uid)
        self._sync()
        conn.complete("OK")

    async def _expunge(self, cmd: ExpungeCommand) -> None:
        box = self._mailbox()
        if box.readonly:
            self.conn.complete("NO", "Mailbox is read-only", ResponseCode(name="READ-ONLY"))
            return
        only = None if cmd.uids is None else self._uids(cmd.uids, True)
        gone = await box.expunge(only)
        for uid in sorted(gone, reverse=True):
            self._expunged(uid)
        self._sync()
        self.conn.complete("OK")


# -- helpers --------------------------------------------------------------------------

_SPECIAL_USES: Final = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)


def _special_use(value: object) -> str | None:
    """CREATE's USE parameter (RFC 6154 3): one attribute in a list."""
    if isinstance(value, tuple | list) and value:
        return str(value[0])
    return None if value is None else str(value)


def _header_section(b: FetchBody) -> bool:
    """A top-level header section (HEADER, HEADER.FIELDS[.NOT]) without BINARY."""
    return not b.binary and not b.section.part and (b.section.text or "").startswith("HEADER")


async def _read(chunks: AsyncIterator[bytes], *, until: bytes | None = None) -> bytes:
    """The chunks joined; with ``until``, only up to the chunk in which it
    first appears (the rest is not read)."""
    data = bytearray()
    try:
        async for chunk in chunks:
            start = max(0, len(data) - len(until) + 1) if until is not None else 0
            data += chunk
            if until is not None and data.find(until, start) >= 0:
                break
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    return bytes(data)


def _code(exc: MailboxError) -> ResponseCode | None:
    return ResponseCode(name=exc.code) if exc.code else None


def _pattern(pattern: str, delim: str) -> re.Pattern[str]:
    """LIST pattern (RFC 9051 6.3.9): "*" matches anything, "%" anything but
    the delimiter; INBOX is case-insensitive."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(delim)}]*")
        else:
            out.append(re.escape(ch))
    regex = "".join(out)
    if pattern.upper().startswith("INBOX"):
        regex = "(?i:INBOX)" + "".join(out[5:])
    return re.compile(regex)


_MACROS: Final = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}


def _expand(items: Sequence[str | FetchBody]) -> list[str | FetchBody]:
    out: list[str | FetchBody] = []
    for item in items:
        if isinstance(item, str):
            name = item.upper()
            if name in _MACROS:
                out.extend(_MACROS[name])
                continue
            if name == "RFC822.PEEK":
                out.append(FetchBody(peek=True))
                continue
            out.append(name)
        else:
            out.append(item)
    return out


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
