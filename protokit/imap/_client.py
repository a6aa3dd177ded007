"""The IMAP client connection (sans-IO): RFC 9051 and RFC 3501 with LITERAL+/-,
SASL-IR, IDLE, STARTTLS, COMPRESS and ENABLE.

Output is a queue of pieces: command lines, literal octets, and gates that
hold a synchronizing literal back until the server's "+" (later commands wait
behind it, so nothing is ever mixed into a literal).  A tagged NO/BAD for a
command drops whatever of it is still queued: a refused literal is never sent.
Continuation requests are routed by context: a literal waiting for "+", else
the AUTHENTICATE exchange in progress, else an IDLE waiting to start, else
they are reported as :class:`UnexpectedContinuation`.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from .._sentinel import NEED_DATA, NeedData
from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ..sasl import ClientMechanism
from ..wire import InvalidBase64Error, Secret, b64encode, parse_challenge
from ._commands import (
    Append,
    AppendMessage,
    Authenticate,
    CapabilityCommand,
    Command,
    Compress,
    Enable,
    Examine,
    Idle,
    Login,
    Logout,
    Noop,
    Select,
    StartTLS,
)
from ._events import (
    BodyChunk,
    BodyEnd,
    BodyStart,
    ClientEvent,
    CommandHandle,
    Completed,
    CompressionStarted,
    ConnectionClosed,
    Continued,
    Greeting,
    IdleStarted,
    TLSUpgradeReady,
    UnexpectedContinuation,
    Untagged,
)
from ._framer import (
    MAX_MESSAGE,
    STREAM_THRESHOLD,
    BadMessage,
    Framer,
    LiteralChunk,
    LiteralEnd,
    LiteralStart,
    Message,
)
from ._parse_response import parse_response
from ._responses import Capability, ContinuationRequest, Enabled, Fetch, Response, Status
from ._state import TRANSITIONS, SessionState, State, Transition, command_name, transition_for
from ._types import Flag, Mailbox, Tag
from ._write import LinePiece, LiteralPiece
from ._write_command import write_command

__all__ = ["ClientConnection"]

_LITERAL_MINUS_MAX: Final = 4096


class _Gate:
    """In the output queue: the next piece is a synchronizing literal, held
    until the server's "+"."""

    __slots__ = ()


_GATE: Final = _Gate()

#: Commands after which nothing else may be sent until they complete:
#: STARTTLS and COMPRESS change the stream (RFC 9051 6.2.1, RFC 4978 3),
#: AUTHENTICATE and IDLE own the continuation lines.
_EXCLUSIVE: Final = frozenset({"STARTTLS", "COMPRESS", "AUTHENTICATE", "IDLE"})


class ClientConnection:
    """One IMAP client session.  Queue commands (each returns a
    :class:`CommandHandle`), send ``data_to_send()``, feed the server's bytes
    to ``receive_data()`` and pull events with ``next_event()``.

    ``require_tls``: refuse to send credentials without TLS, and treat a
    PREAUTH greeting before TLS as an error (STARTTLS stripping).
    ``tls_active``: the connection already runs over TLS (implicit TLS).
    ``allow_plaintext``: allow LOGIN and plaintext-equivalent SASL mechanisms
    without TLS.  ``sasl_ir``: use SASL-IR when the server advertises it.
    """

    def __init__(
        self,
        *,
        tag_prefix: str = "A",
        require_tls: bool = False,
        tls_active: bool = False,
        allow_plaintext: bool = False,
        sasl_ir: bool = True,
        max_line: int | None = None,
        max_literal: int = MAX_MESSAGE,
        stream_threshold: int = STREAM_THRESHOLD,
    ) -> None:
        Tag(tag_prefix + "1")  # validates the prefix
        self.tag_prefix = tag_prefix
        self.require_tls = require_tls
        self.allow_plaintext = allow_plaintext
        self.sasl_ir = sasl_ir
        self._framer_args: dict[str, Any] = {
            "max_line": max_line,
            "max_literal": max_literal,
            "max_message": max(max_literal, MAX_MESSAGE),
            "stream_threshold": stream_threshold,
        }
        self._framer = Framer(server=False, **self._framer_args)
        self._session = SessionState()
        self._tls = tls_active
        self._counter = 0
        self._queue: deque[tuple[CommandHandle, bytes | _Gate]] = deque()
        self._plus_for: CommandHandle | None = None
        self._released = False
        self._inflight: dict[str, CommandHandle] = {}
        self._exclusive: CommandHandle | None = None
        self._sasl: tuple[CommandHandle, ClientMechanism] | None = None
        self._idle: CommandHandle | None = None
        self._idle_started = False
        self._stream: tuple[CommandHandle, int] | None = None
        self._stream_binary = False
        self._events: deque[ClientEvent] = deque()
        self._peer_closed = False
        self._injected = False
        self._closed_reported = False
        #: What the server advertised last; ``None`` when unknown (before the
        #: greeting, after STARTTLS).
        self.capabilities: frozenset[str] | None = None
        #: What ENABLE turned on (RFC 5161).
        self.enabled: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return (
            f"<imap.ClientConnection state={self.state.value} inflight={len(self._inflight)}"
            f" tls={self._tls}>"
        )

    # -- properties ---------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._session.state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def utf8(self) -> bool:
        """Mailbox names and strings in UTF-8: UTF8=ACCEPT or IMAP4rev2
        enabled, or a server that speaks IMAP4rev2 only (RFC 9051 6.3.1)."""
        if self.enabled & {"UTF8=ACCEPT", "IMAP4REV2"}:
            return True
        caps = self.capabilities or frozenset()
        return "IMAP4REV2" in caps and "IMAP4REV1" not in caps

    def has(self, capability: str) -> bool:
        return capability.upper() in (self.capabilities or ())

    # -- the contract -------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer the server's bytes; ``b""`` means the server closed."""
        if not data:
            self._peer_closed = True
        elif self.state is State.STARTING_TLS:
            # Plaintext after the STARTTLS OK: response injection.
            self._injected = True
        elif self.state not in (State.CLOSED, State.ERROR):
            self._framer.feed(data)

    def unread(self) -> bytes:
        """Bytes received but not read yet: a proxy that stops using the
        connection after login hands them to its own framer."""
        return self._framer.unread()

    def data_to_send(self) -> bytes:
        """What may go on the wire now: up to a synchronizing literal whose
        "+" has not come."""
        out: list[bytes] = []
        queue = self._queue
        while queue:
            handle, item = queue[0]
            if isinstance(item, _Gate):
                if not self._released:
                    self._plus_for = handle
                    break
                self._released = False
                queue.popleft()
                continue
            queue.popleft()
            out.append(item)
        return b"".join(out)

    def next_event(self) -> ClientEvent | NeedData:
        """The next event, or NEED_DATA.  A server that breaks the protocol
        raises RemoteProtocolError (the connection is then in ERROR)."""
        if self._events:
            return self._events.popleft()
        state = self.state
        if state is State.ERROR:
            raise LocalProtocolError("the connection has failed")
        if state is State.CLOSED:
            return ConnectionClosed()
        if state is State.STARTING_TLS:
            if self._injected or self._framer.unread():
                self._fail("data received after the STARTTLS OK (response injection)")
            if self._peer_closed:
                return self._closed()
            return NEED_DATA
        while True:
            ev = self._framer.next_event()
            if ev is NEED_DATA:
                if self._peer_closed:
                    return self._closed()
                return NEED_DATA
            if isinstance(ev, LiteralChunk):
                return BodyChunk(data=ev.data)
            if isinstance(ev, LiteralStart):
                return self._body_start(ev)
            if isinstance(ev, LiteralEnd):
                return BodyEnd()
            if isinstance(ev, BadMessage):
                self._fail(f"bad response from the server: {ev.error.message}")
            try:
                response = parse_response(ev, utf8=self.utf8)  # type: ignore[arg-type]
            except RemoteProtocolError as exc:
                self._fail(f"malformed response: {exc.message}")
            result = self._response(response)
            if result is not None:
                return result
            if self._events:
                return self._events.popleft()

    def _body_start(self, ev: LiteralStart) -> BodyStart:
        # "* 12 FETCH (...": name the response the streamed literal is in.
        line = self._framer.first_line
        parts = line.split(b" ", 3)
        if len(parts) >= 3 and parts[0] == b"*" and parts[1].isdigit() and len(parts[1]) < 20:
            command = parts[2].decode("ascii", "replace").upper()
            return BodyStart(
                length=ev.length,
                binary=ev.binary,
                command=command,
                seq=int(parts[1]),
                head=self._fetch_head(line) if command == "FETCH" else None,
            )
        return BodyStart(length=ev.length, binary=ev.binary)

    def _fetch_head(self, line: bytes) -> Fetch | None:
        """The items before the first literal of "* n FETCH (... {len}": the
        line with its announcement read as NIL, parsed; ``None`` if that is
        not a FETCH response (a literal inside a list, a cut line)."""
        start = line.rfind(b"{")
        if start < 0 or not line.endswith(b"}"):
            return None
        digits = line[start + 1 : -1].removesuffix(b"+")
        if not digits.isdigit():
            return None
        head = line[: start - 1] if line[start - 1 : start] == b"~" else line[:start]
        try:
            r = parse_response(Message((head + b"NIL)",)), utf8=self.utf8)
        except RemoteProtocolError:
            return None
        return r if isinstance(r, Fetch) else None

    def _closed(self) -> ClientEvent:
        if self.state is not State.CLOSED:
            self._session.fire(Transition.PEER_CLOSED)
        return ConnectionClosed()

    def _fail(self, message: str) -> Any:
        self._session.state = State.ERROR
        raise RemoteProtocolError(message)

    # -- responses ----------------------------------------------------------------

    def _capabilities_from(self, caps: tuple[str, ...]) -> None:
        self.capabilities = frozenset(c.upper() for c in caps)

    def _response(self, r: Response) -> ClientEvent | None:
        code = r.code if isinstance(r, Status) else None
        if code is not None and code.name == "CAPABILITY" and r.status in ("OK", "PREAUTH"):  # type: ignore[union-attr]
            self._capabilities_from(tuple(code.value))
        if self.state is State.GREETING:
            return self._greeting(r)
        if isinstance(r, ContinuationRequest):
            return self._continuation(r.data)
        if isinstance(r, Status):
            if r.tag is not None:
                return self._completed(r)
            if r.status == "BYE":
                self._session.fire(Transition.BYE)
            elif r.status not in ("OK", "NO", "BAD"):
                self._fail(f"{r.status} outside the greeting")
        elif isinstance(r, Capability):
            self._capabilities_from(r.capabilities)
        elif isinstance(r, Enabled):
            self.enabled = self.enabled | {c.upper() for c in r.capabilities}
        return Untagged(response=r)

    def _greeting(self, r: Response) -> ClientEvent:
        if not isinstance(r, Status) or r.tag is not None:
            self._fail("the server did not greet")
        assert isinstance(r, Status)
        if r.status == "OK":
            self._session.fire(Transition.GREETING_OK)
        elif r.status == "PREAUTH":
            if self.require_tls and not self._tls:
                # RFC 9051 6.2.1 / SECURITY.md: PREAUTH over plaintext skips
                # STARTTLS altogether (stripping).
                self._fail("PREAUTH greeting without TLS, and TLS is required")
            self._session.fire(Transition.GREETING_PREAUTH)
        elif r.status == "BYE":
            self._session.fire(Transition.BYE)
        else:
            self._fail(f"greeting with {r.status}")
        return Greeting(response=r)

    def _continuation(self, data: bytes) -> ClientEvent | None:
        plus_for = self._plus_for
        if plus_for is not None:
            self._plus_for = None
            self._released = True
            return Continued(handle=plus_for, data=data)
        if self._sasl is not None:
            self._sasl_challenge(data)
            return None
        if self._idle is not None and not self._idle_started:
            self._idle_started = True
            return IdleStarted(handle=self._idle)
        return UnexpectedContinuation(data=data)

    def _sasl_challenge(self, text: bytes) -> None:
        assert self._sasl is not None
        handle, mech = self._sasl
        try:
            challenge = parse_challenge(text)
        except InvalidBase64Error:
            self._cancel_sasl(handle)
            self._fail("AUTHENTICATE: the server's challenge is not valid base64")
        try:
            answer = mech.respond(challenge)
        except ProtocolError as exc:
            # A malformed challenge, or one that proves the server false: cancel.
            self._cancel_sasl(handle)
            self._session.state = State.ERROR
            raise RemoteProtocolError(f"AUTHENTICATE {mech.name}: {exc.message}") from exc
        # RFC 9051 6.2.2: an empty response is an empty line.
        self._queue.append((handle, b64encode(answer) + b"\r\n"))

    def _cancel_sasl(self, handle: CommandHandle) -> None:
        self._queue.append((handle, b"*\r\n"))

    def _completed(self, r: Status) -> ClientEvent:
        assert r.tag is not None
        handle = self._inflight.pop(str(r.tag), None)
        if handle is None:
            self._fail("tagged response for no command in progress")
        assert handle is not None
        handle.response = r
        ok = r.status == "OK"
        if not ok:
            # Whatever of the command is still queued is never sent; a
            # literal held for "+" is released by nothing now.
            self._queue = deque(item for item in self._queue if item[0] is not handle)
            if self._plus_for is handle:
                self._plus_for = None
            if self._stream is not None and self._stream[0] is handle:
                self._stream = None
        if self._exclusive is handle:
            self._exclusive = None
        if self._idle is handle:
            self._idle = None
            self._idle_started = False
        name = handle.name
        trans = transition_for(name, r.status)
        if trans is not None and (self.state, trans) in TRANSITIONS:
            self._session.fire(trans)
        event = Completed(handle=handle, response=r)
        if name == "AUTHENTICATE" and self._sasl is not None:
            _, mech = self._sasl
            self._sasl = None
            if ok:
                try:
                    mech.finish(None)
                except ProtocolError as exc:
                    self._session.state = State.ERROR
                    raise RemoteProtocolError(f"AUTHENTICATE {mech.name}: {exc.message}") from exc
        elif name == "STARTTLS" and ok:
            if self._framer.unread():
                # SECURITY.md "Response injection": bytes after the OK were
                # sent in plaintext to be read as if under TLS.
                self._fail("data received after the STARTTLS OK (response injection)")
            self._session.fire(Transition.STARTTLS_OK)
            self.capabilities = None
            self._events.append(TLSUpgradeReady(handle=handle))
        elif name == "COMPRESS" and ok:
            pending = self._framer.take_unread()
            self._events.append(
                CompressionStarted(handle=handle, mechanism="DEFLATE", pending=pending)
            )
        elif name == "LOGOUT" and self.state is not State.LOGOUT and ok:
            self._session.fire(Transition.BYE)
        return event

    # -- TLS ----------------------------------------------------------------------

    def start_tls_done(self) -> None:
        """The TLS handshake after :class:`TLSUpgradeReady` succeeded.

        Everything learnt in plaintext is dropped (capabilities, untagged data,
        alerts); issue CAPABILITY again (RFC 9051 6.2.1)."""
        if self.state is not State.STARTING_TLS:
            raise LocalProtocolError("start_tls_done() without a STARTTLS OK")
        if self._injected or self._framer.unread():
            self._fail("data received after the STARTTLS OK (response injection)")
        self._session.fire(Transition.TLS_ESTABLISHED)
        self._tls = True
        self._framer = Framer(server=False, **self._framer_args)
        self.capabilities = None
        self.enabled = frozenset()

    # -- commands -----------------------------------------------------------------

    def next_tag(self) -> Tag:
        self._counter += 1
        return Tag(f"{self.tag_prefix}{self._counter}")

    def issue(self, cls: type[Any], **fields: Any) -> CommandHandle:
        """Build a command of ``cls`` with the next tag and queue it."""
        counter = self._counter
        try:
            return self.send(cls(tag=self.next_tag(), **fields))
        except LocalProtocolError:
            self._counter = counter  # a refused command uses no tag
            raise

    def send(self, command: Command) -> CommandHandle:
        """Queue ``command`` (built with :meth:`next_tag` or any unused tag)."""
        name = command_name(command)
        if name == "DONE":
            raise LocalProtocolError("use done() to end IDLE")
        self._check_can_send(name)
        tag = str(command.tag)  # type: ignore[union-attr]
        if tag in self._inflight:
            raise LocalProtocolError(f"tag {tag} is already in use")
        if name in ("LOGIN", "AUTHENTICATE"):
            self._check_credentials_may_go(name)
        pieces = write_command(
            command,
            literal_plus=self.has("LITERAL+"),
            literal_minus=self.has("LITERAL-"),
            utf8=self.utf8,
        )
        handle = CommandHandle(Tag(tag), name)
        for piece in pieces:
            if isinstance(piece, LiteralPiece) and piece.synchronizing:
                self._queue.append((handle, _GATE))
            self._queue.append((handle, piece.data))
        self._inflight[tag] = handle
        if name in _EXCLUSIVE:
            self._exclusive = handle
        if name == "IDLE":
            self._idle = handle
            self._idle_started = False
        return handle

    def _check_can_send(self, name: str) -> None:
        state = self.state
        if state in (State.ERROR, State.CLOSED, State.LOGOUT, State.STARTING_TLS, State.GREETING):
            raise LocalProtocolError(f"cannot send {name} in state {state.value}")
        if self._exclusive is not None:
            raise LocalProtocolError(f"cannot send {name} before {self._exclusive.name} completes")
        if self._stream is not None:
            raise LocalProtocolError(f"cannot send {name} during a streamed APPEND")
        # Commands already queued may change the state (a pipelined SELECT
        # then FETCH): judge against the state they would reach.
        projected = SessionState(state)
        for h in self._inflight.values():
            trans = transition_for(h.name, "OK")
            if trans is not None and (projected.state, trans) in TRANSITIONS:
                projected.fire(trans)
        if not projected.allows(name):
            raise LocalProtocolError(f"{name} is not valid in state {projected.state.value}")

    def _check_credentials_may_go(self, name: str) -> None:
        if self.require_tls and not self._tls:
            raise LocalProtocolError(f"{name} refused: TLS is required and not active")

    # -- typed helpers --------------------------------------------------------------

    def capability(self) -> CommandHandle:
        return self.issue(CapabilityCommand)

    def noop(self) -> CommandHandle:
        return self.issue(Noop)

    def logout(self) -> CommandHandle:
        return self.issue(Logout)

    def login(self, username: bytes | str, password: bytes | str | Secret[Any]) -> CommandHandle:
        """LOGIN; refused before TLS unless ``allow_plaintext`` (and always
        when the server advertises LOGINDISABLED)."""
        if self.has("LOGINDISABLED"):
            raise LocalProtocolError("the server advertises LOGINDISABLED")
        if not (self._tls or self.allow_plaintext):
            raise LocalProtocolError("LOGIN without TLS (set allow_plaintext to allow it)")
        self._check_credentials_may_go("LOGIN")
        user = username.encode("utf-8") if isinstance(username, str) else username
        raw = password.expose() if isinstance(password, Secret) else password
        pw = raw.encode("utf-8") if isinstance(raw, str) else raw
        return self.issue(Login, username=user, password=Secret(pw))

    def authenticate(
        self,
        mechanism: ClientMechanism,
        *,
        initial_response: bool | None = None,
        tag: str | None = None,
    ) -> CommandHandle:
        """AUTHENTICATE with any protokit.sasl client mechanism.  The initial
        response goes on the command line only under SASL-IR (RFC 4959, part
        of IMAP4rev2) unless ``sasl_ir`` is off; ``initial_response`` forces
        the choice (True: the caller knows the server takes it)."""
        if mechanism.plaintext and not (self._tls or self.allow_plaintext):
            raise LocalProtocolError(
                f"{mechanism.name} without TLS (set allow_plaintext to allow it)"
            )
        self._check_credentials_may_go("AUTHENTICATE")
        caps = self.capabilities
        if caps is not None and f"AUTH={mechanism.name.upper()}" not in caps:
            raise LocalProtocolError(f"the server does not offer {mechanism.name}")
        initial: Secret[bytes] | None = None
        if initial_response is None:
            initial_response = self.sasl_ir and (self.has("SASL-IR") or self.has("IMAP4rev2"))
        if initial_response and mechanism.client_first:
            ir = mechanism.initial_response()
            if ir is not None:
                initial = Secret(ir)
        if tag is None:
            handle = self.issue(Authenticate, mechanism=mechanism.name, initial_response=initial)
        else:
            handle = self.send(
                Authenticate(tag=Tag(tag), mechanism=mechanism.name, initial_response=initial)
            )
        self._sasl = (handle, mechanism)
        return handle

    def starttls(self) -> CommandHandle:
        """STARTTLS; refused when the server does not advertise it (a
        stripped capability is a hard failure, not a plaintext fallback)."""
        if self._tls:
            raise LocalProtocolError("TLS is already active")
        if self.capabilities is not None and "STARTTLS" not in self.capabilities:
            raise LocalProtocolError("the server does not offer STARTTLS")
        return self.issue(StartTLS)

    def compress(self) -> CommandHandle:
        """COMPRESS DEFLATE (RFC 4978): after its OK, a CompressionStarted
        event marks where compression begins."""
        if not self.has("COMPRESS=DEFLATE"):
            raise LocalProtocolError("the server does not offer COMPRESS=DEFLATE")
        return self.issue(Compress, mechanism="DEFLATE")

    def enable(self, *capabilities: str) -> CommandHandle:
        return self.issue(Enable, capabilities=tuple(capabilities))

    def select(self, mailbox: str, *, readonly: bool = False) -> CommandHandle:
        return self.issue(Examine if readonly else Select, mailbox=Mailbox(mailbox))

    def idle(self) -> CommandHandle:
        """IDLE (RFC 2177); IdleStarted follows the server's "+"."""
        if self.capabilities is not None and "IDLE" not in self.capabilities:
            raise LocalProtocolError("the server does not offer IDLE")
        return self.issue(Idle)

    def done(self) -> None:
        """End IDLE (after IdleStarted)."""
        if self._idle is None or not self._idle_started:
            raise LocalProtocolError("no IDLE is in progress")
        self._queue.append((self._idle, b"DONE\r\n"))
        # DONE is sent once; the tagged OK ends the IDLE.
        self._idle_started = False

    def append(
        self,
        mailbox: str,
        message: bytes,
        *,
        flags: tuple[str, ...] | None = None,
        date: Any = None,
        binary: bool = False,
    ) -> CommandHandle:
        msg = AppendMessage(
            flags=None if flags is None else tuple(Flag(f) for f in flags),
            date=date,
            data=message,
            binary=binary,
        )
        return self.issue(Append, mailbox=Mailbox(mailbox), messages=(msg,))

    def append_stream(
        self,
        mailbox: str,
        size: int,
        *,
        flags: tuple[str, ...] | None = None,
        date: Any = None,
        binary: bool = False,
    ) -> CommandHandle:
        """Begin an APPEND of ``size`` octets given later with
        :meth:`append_data` and :meth:`append_end`, never held whole.  A
        synchronizing literal's data stays queued until "+" (wait for the
        Continued event before feeding much), and is dropped on NO/BAD."""
        if not isinstance(size, int) or size < 0:
            raise LocalProtocolError("size must be a non-negative int")
        self._check_can_send("APPEND")
        tag = self.next_tag()
        # The command's line with an empty literal, then the announcement
        # rewritten for the real size.
        pieces = write_command(
            Append(
                tag=tag,
                mailbox=Mailbox(mailbox),
                messages=(
                    AppendMessage(
                        flags=None if flags is None else tuple(Flag(f) for f in flags),
                        date=date,
                        data=b"",
                        binary=binary,
                    ),
                ),
            ),
            utf8=self.utf8,
        )
        first = pieces[0]
        assert isinstance(first, LinePiece)
        head = first.data[: first.data.rindex(b"{")]
        sync = not (self.has("LITERAL+") or (self.has("LITERAL-") and size <= _LITERAL_MINUS_MAX))
        handle = CommandHandle(tag, "APPEND")
        self._queue.append((handle, head + b"{%d%s}\r\n" % (size, b"" if sync else b"+")))
        if sync:
            self._queue.append((handle, _GATE))
        self._inflight[str(tag)] = handle
        self._stream = (handle, size)
        self._stream_binary = binary
        return handle

    def append_data(self, handle: CommandHandle, data: bytes) -> None:
        stream = self._stream
        if stream is None or stream[0] is not handle:
            if handle.done:
                return  # refused: the literal is never sent
            raise LocalProtocolError("no streamed APPEND for this handle")
        if not self._stream_binary and b"\x00" in data:
            raise LocalProtocolError("NUL in a literal that is not binary")
        left = stream[1] - len(data)
        if left < 0:
            raise LocalProtocolError("more APPEND data than announced")
        if data:
            self._queue.append((handle, bytes(data)))
        self._stream = (handle, left)

    def append_end(self, handle: CommandHandle) -> None:
        stream = self._stream
        if stream is None or stream[0] is not handle:
            if handle.done:
                return
            raise LocalProtocolError("no streamed APPEND for this handle")
        if stream[1]:
            raise LocalProtocolError(f"{stream[1]} announced octets not given")
        self._queue.append((handle, b"\r\n"))
        self._stream = None

    def waiting_for_continuation(self) -> CommandHandle | None:
        """The command whose synchronizing literal waits for "+", if any."""
        return self._plus_for
