"""The POP3 client connection, sans-IO (RFC 1939, 2449, 2595, 5034, 6856).

It knows which replies are multi-line (CAPA, LIST and UIDL without argument,
RETR, TOP, argument-less AUTH), streams RETR/TOP bodies as MessageData
chunks, drives a SASL client mechanism itself, and pipelines only when the
server offered PIPELINING (never past STLS or AUTH, whose replies change
what may follow).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from .._sentinel import NEED_DATA, NeedData
from ..errors import (
    BareLineEndingError,
    LineTooLongError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from ..sasl._base import ClientMechanism
from ..wire._buffer import ReceiveBuffer
from ..wire._dotstuff import BareLineEndingPolicy, DotUnstuffer
from ..wire._sasl import CANCEL, format_initial_response, format_response, parse_challenge
from ..wire._secret import Secret
from . import _grammar as g
from ._events import (
    Apop,
    Auth,
    Capa,
    Capabilities,
    Command,
    ConnectionClosed,
    Dele,
    Err,
    Greeting,
    List,
    ListResult,
    MechanismList,
    MessageData,
    MessageEnd,
    MessageStart,
    Noop,
    Ok,
    Pass,
    Quit,
    Retr,
    Rset,
    StartTLS,
    Stat,
    StatResult,
    Stls,
    Top,
    Uidl,
    UidlResult,
    User,
    Utf8,
    apop_digest,
)
from ._parse import (
    parse_capability,
    parse_scan_listing,
    parse_stat,
    parse_status,
    parse_uidl_listing,
)
from ._state import COMMANDS, SessionState, State, Transition
from ._write import command_keyword, write_command

__all__ = ["ClientConfig", "ClientConnection", "ClientEvent"]

ClientEvent = (
    Greeting
    | Ok
    | Err
    | StatResult
    | ListResult
    | UidlResult
    | Capabilities
    | MechanismList
    | MessageStart
    | MessageData
    | MessageEnd
    | StartTLS
    | ConnectionClosed
)

_LOGIN: Final = frozenset({"PASS", "APOP", "AUTH"})
_CREDENTIALS: Final = frozenset({"USER", "PASS", "APOP", "AUTH"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """How a :class:`ClientConnection` behaves.  Every field has a default."""

    #: Longest reply line accepted, without CRLF (SASL challenges included).
    max_line: int = 64 * 1024
    #: Most lines in one CAPA, LIST, UIDL or AUTH listing.
    max_listing_lines: int = 1_000_000
    #: Largest MessageData chunk (None: whatever is buffered).
    max_chunk: int | None = None
    #: Send USER/PASS or a plaintext SASL mechanism without TLS.
    allow_plaintext_auth: bool = False
    #: Send no credentials at all (USER, PASS, APOP, AUTH) before TLS: a
    #: server that strips STLS or refuses it cannot get any.
    require_tls: bool = False
    #: Most server challenges answered in one AUTH before cancelling.
    max_sasl_steps: int = 10
    #: The connection is already under TLS (the 995 role).
    tls_active: bool = False


class _Pending:
    __slots__ = ("cancelled", "initial", "keyword", "line", "mechanism", "msg", "multi", "steps")

    def __init__(self, keyword: str, line: bytes, *, multi: bool, msg: int = 0) -> None:
        self.keyword = keyword
        self.line = line
        self.multi = multi
        self.msg = msg
        self.mechanism: ClientMechanism | None = None
        # An initial response too long for the AUTH line, sent after "+ ".
        self.initial: bytes | None = None
        self.cancelled = False
        self.steps = 0


class ClientConnection:
    """One POP3 client session.  Call the command helpers (or ``send``), put
    ``data_to_send()`` on the wire, feed replies to ``receive_data()`` and
    pull events until NEED_DATA."""

    def __init__(self, config: ClientConfig | None = None) -> None:
        self.config = config if config is not None else ClientConfig()
        self._buf = ReceiveBuffer()
        self._out: list[bytes] = []
        self._session = SessionState()
        self._expected = State.AUTHORIZATION
        self._outbox: deque[_Pending] = deque()
        self._inflight: deque[_Pending] = deque()
        self._events: deque[ClientEvent] = deque()
        self._greeted = False
        self._tls = self.config.tls_active
        self._utf8 = False
        # UTF8 sent and not refused: the lines after it may be UTF-8.
        self._utf8_asked = False
        self._peer_closed = False
        self._injected = False
        self._mode = ""  # "" status line, "lines" listing, "body" message
        self._lines: list[bytes] = []
        self._unstuffer: DotUnstuffer | None = None
        #: The last CAPA reply (None before one, and again after STLS).
        self.capabilities: Capabilities | None = None
        #: The APOP timestamp from the greeting, if any.
        self.timestamp: str | None = None

    def __repr__(self) -> str:
        return (
            f"<pop3.ClientConnection state={self.state.value} "
            f"in_flight={len(self._inflight)} queued={len(self._outbox)}>"
        )

    @property
    def state(self) -> State:
        return self._session.state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def pipelining(self) -> bool:
        return self.capabilities is not None and "PIPELINING" in self.capabilities

    # -- the contract -------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer the server's bytes; ``b""`` means the server closed."""
        if not data:
            self._peer_closed = True
        elif self.state is State.STARTING_TLS:
            # Plaintext after STLS's +OK: the response-injection class.
            self._injected = True
        elif self.state not in (State.CLOSED, State.ERROR):
            self._buf.feed(data)

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def send(self, cmd: Command) -> None:
        """Queue a command (written now, or when pipelining allows)."""
        if isinstance(cmd, Auth) and cmd.mechanism is not None:
            raise LocalProtocolError("use auth(mechanism) for a SASL exchange")
        keyword = command_keyword(cmd)
        self._check(keyword, credentials=not isinstance(cmd, Auth))
        multi = False
        msg = 0
        if isinstance(cmd, (List, Uidl)):
            multi = cmd.msg is None
        elif isinstance(cmd, (Retr, Top)):
            multi = True
            msg = cmd.msg
        elif isinstance(cmd, (Capa, Auth)):
            multi = True
        if keyword in ("USER", "PASS") and not self._plaintext_ok():
            raise LocalProtocolError("USER/PASS without TLS is not allowed by the config")
        line = write_command(cmd, utf8=self._utf8_pending())
        self._queue(_Pending(keyword, line, multi=multi, msg=msg))

    def next_event(self) -> ClientEvent | NeedData:
        """The next event, or NEED_DATA.  A malformed reply raises
        RemoteProtocolError and the connection is then unusable."""
        if self._events:
            return self._events.popleft()
        state = self.state
        if state is State.ERROR:
            raise LocalProtocolError("the connection has failed")
        if state is State.CLOSED:
            return ConnectionClosed()
        if state is State.STARTING_TLS:
            if self._injected:
                self._fail("server sent data after STLS's +OK (response injection)")
            if self._peer_closed:
                self._session.fire(Transition.PEER_CLOSED)
                return ConnectionClosed()
            return NEED_DATA
        try:
            return self._next()
        except ProtocolError as exc:
            if self.state is not State.ERROR:
                self._session.fire(Transition.FAILED)
            if isinstance(exc, RemoteProtocolError):
                raise
            raise RemoteProtocolError(exc.message) from exc

    def tls_established(self) -> None:
        """TLS is up after a StartTLS event: capabilities must be read again."""
        if self.state is not State.STARTING_TLS:
            raise LocalProtocolError("tls_established() without an accepted STLS")
        if self._injected or self._buf:
            self._fail("server sent data after STLS's +OK (response injection)")
        self._session.fire(Transition.TLS_ESTABLISHED)
        self._expected = State.AUTHORIZATION
        self._tls = True
        # RFC 2595 4: what the server said before TLS is discarded.
        self.capabilities = None
        self._utf8 = self._utf8_asked = False
        self._flush()

    # -- command helpers ------------------------------------------------------------

    def user(self, name: str) -> None:
        self.send(User(name=name))

    def pass_(self, password: str | Secret[str]) -> None:
        secret = password if isinstance(password, Secret) else Secret(password)
        self.send(Pass(password=secret))

    def apop(self, name: str, password: str | Secret[str]) -> None:
        """APOP with the digest of the greeting's timestamp and ``password``."""
        if self.timestamp is None:
            raise LocalProtocolError("the greeting offered no APOP timestamp")
        self.send(Apop(name=name, digest=Secret(apop_digest(self.timestamp, password))))

    def auth(self, mechanism: ClientMechanism) -> None:
        """Run a SASL exchange with ``mechanism`` (RFC 5034).  The initial
        response goes on the AUTH line only if the line fits in 255 octets."""
        self._check("AUTH")
        if mechanism.plaintext and not self._plaintext_ok():
            raise LocalProtocolError(f"{mechanism.name} without TLS is not allowed by the config")
        initial = mechanism.initial_response() if mechanism.client_first else None
        base = write_command(Auth(mechanism=mechanism.name))
        pending = _Pending("AUTH", base, multi=False)
        pending.mechanism = mechanism
        token = format_initial_response(initial)
        if token is not None:
            if len(base) + 1 + len(token) <= g.COMMAND_LINE_MAX:
                pending.line = base[:-2] + b" " + token + b"\r\n"
            else:
                pending.initial = initial
        self._queue(pending)

    def auth_list(self) -> None:
        """Argument-less AUTH: ask for the mechanism list."""
        self.send(Auth())

    def capa(self) -> None:
        self.send(Capa())

    def stls(self) -> None:
        self.send(Stls())

    def utf8(self) -> None:
        self.send(Utf8())

    def stat(self) -> None:
        self.send(Stat())

    def list_(self, msg: int | None = None) -> None:
        self.send(List(msg=msg))

    def uidl(self, msg: int | None = None) -> None:
        self.send(Uidl(msg=msg))

    def retr(self, msg: int) -> None:
        self.send(Retr(msg=msg))

    def top(self, msg: int, lines: int) -> None:
        self.send(Top(msg=msg, lines=lines))

    def dele(self, msg: int) -> None:
        self.send(Dele(msg=msg))

    def rset(self) -> None:
        self.send(Rset())

    def noop(self) -> None:
        self.send(Noop())

    def quit(self) -> None:
        self.send(Quit())

    # -- sending ------------------------------------------------------------------------

    def _plaintext_ok(self) -> bool:
        return self._tls or self.config.allow_plaintext_auth

    def _utf8_pending(self) -> bool:
        return self._utf8 or self._utf8_asked

    def _check(self, keyword: str, *, credentials: bool = True) -> None:
        if credentials and keyword in _CREDENTIALS and self.config.require_tls and not self._tls:
            raise LocalProtocolError(f"{keyword} before TLS is refused by the config")
        expected = self._expected
        if keyword in COMMANDS[expected]:
            return
        # A login in flight may fail: AUTHORIZATION commands stay possible.
        if not (expected is State.TRANSACTION and keyword in COMMANDS[self.state]):
            raise LocalProtocolError(f"{keyword} is not valid in the {self._expected.value} state")

    def _queue(self, pending: _Pending) -> None:
        kw = pending.keyword
        if kw in _LOGIN and (kw != "AUTH" or pending.mechanism is not None):
            self._expected = State.TRANSACTION
        elif kw == "QUIT":
            self._expected = State.CLOSED
        elif kw == "STLS":
            self._expected = State.STARTING_TLS
        elif kw == "UTF8":
            self._utf8_asked = True
        self._outbox.append(pending)
        self._flush()

    @staticmethod
    def _barrier(p: _Pending) -> bool:
        return p.keyword == "STLS" or p.mechanism is not None

    def _flush(self) -> None:
        if not self._greeted or self.state not in (State.AUTHORIZATION, State.TRANSACTION):
            return
        outbox, inflight = self._outbox, self._inflight
        while outbox:
            if inflight and (
                not self.pipelining or self._barrier(inflight[-1]) or self._barrier(outbox[0])
            ):
                return
            p = outbox.popleft()
            inflight.append(p)
            self._out.append(p.line)

    # -- receiving ----------------------------------------------------------------------

    def _fail(self, message: str) -> None:
        if self.state is not State.ERROR:
            self._session.fire(Transition.FAILED)
        raise RemoteProtocolError(message)

    def _next(self) -> ClientEvent | NeedData:
        if self._mode == "body":
            return self._body()
        while True:
            try:
                line = self._buf.extract_line(self.config.max_line)
            except LineTooLongError:
                raise RemoteProtocolError("reply line too long") from None
            except BareLineEndingError:
                raise RemoteProtocolError("reply line not ended by CRLF") from None
            if line is None:
                if self._peer_closed:
                    if self._mode or (self._inflight and self._buf):
                        raise RemoteProtocolError("server closed in the middle of a reply")
                    self._session.fire(Transition.PEER_CLOSED)
                    return ConnectionClosed()
                return NEED_DATA
            ev = self._listing_line(line) if self._mode == "lines" else self._status(line)
            if ev is not None:
                return ev

    def _body(self) -> ClientEvent | NeedData:
        unstuffer = self._unstuffer
        assert unstuffer is not None
        chunk = unstuffer.read(self._buf, self.config.max_chunk)
        if chunk:
            return MessageData(data=chunk)
        if unstuffer.done:
            p = self._inflight.popleft()
            self._mode = ""
            self._unstuffer = None
            self._flush()
            return MessageEnd(number=p.msg, size=unstuffer.size)
        if self._peer_closed:
            raise RemoteProtocolError("server closed in the middle of a message")
        return NEED_DATA

    def _listing_line(self, line: bytes) -> ClientEvent | None:
        if line != b".":
            if len(self._lines) >= self.config.max_listing_lines:
                raise RemoteProtocolError("listing longer than max_listing_lines")
            # RFC 1939 3: a line starting with "." has it doubled.
            self._lines.append(line[1:] if line.startswith(b".") else line)
            return None
        lines, self._lines = self._lines, []
        self._mode = ""
        p = self._inflight.popleft()
        self._flush()
        if p.keyword == "CAPA":
            caps = Capabilities(capabilities=tuple(parse_capability(x) for x in lines))
            self.capabilities = caps
            self._flush()
            return caps
        if p.keyword == "LIST":
            return ListResult(entries=tuple(parse_scan_listing(x) for x in lines))
        if p.keyword == "UIDL":
            return UidlResult(entries=tuple(parse_uidl_listing(x) for x in lines))
        mechs = []
        for x in lines:
            if not g.MECHANISM.fullmatch(x.split(b" ", 1)[0]):
                raise RemoteProtocolError("malformed mechanism list")
            mechs.append(x.split(b" ", 1)[0].decode("ascii").upper())
        return MechanismList(mechanisms=tuple(mechs))

    def _status(self, line: bytes) -> ClientEvent | None:
        if not self._greeted:
            return self._greeting(line)
        if not self._inflight:
            raise RemoteProtocolError("reply with no command outstanding")
        p = self._inflight[0]
        if p.mechanism is not None and (line == b"+" or line.startswith(b"+ ")):
            self._challenge(p, line[2:])
            return None
        ok, code, text = parse_status(line)
        kw = p.keyword
        if not ok:
            self._inflight.popleft()
            if kw in _LOGIN or kw == "STLS" or kw == "UTF8":
                self._expected = self.state
            if kw == "UTF8":
                self._utf8_asked = False
            if kw == "QUIT":
                # RFC 1939 6: the session ends even when UPDATE failed.
                self._session.fire(Transition.QUIT)
                if self.state is State.UPDATE:
                    self._session.fire(Transition.UPDATE_DONE)
            self._flush()
            return Err(command=kw, text=text, code=code)
        if p.multi:
            if kw in ("RETR", "TOP"):
                self._mode = "body"
                # A client hands the server's bytes on as they are: PRESERVE,
                # without the cost of counting bare line endings.
                self._unstuffer = DotUnstuffer(BareLineEndingPolicy.PRESERVE, count_bare=False)
                return MessageStart(command=kw, number=p.msg, text=text)
            self._mode = "lines"
            return None
        self._inflight.popleft()
        if kw == "STAT":
            count, size = parse_stat(text)
            ev: ClientEvent = StatResult(count=count, size=size)
        elif kw == "LIST":
            ev = ListResult(entries=(parse_scan_listing(text),))
        elif kw == "UIDL":
            ev = UidlResult(entries=(parse_uidl_listing(text),))
        elif kw == "STLS":
            if self._buf:
                self._fail("server sent data after STLS's +OK (response injection)")
            self._session.fire(Transition.STLS_ACCEPTED)
            self.capabilities = None
            return StartTLS()
        else:
            ev = Ok(command=kw, text=text, code=code)
            if kw in _LOGIN:
                if p.cancelled:
                    raise RemoteProtocolError("+OK to a cancelled SASL exchange")
                if p.mechanism is not None:
                    p.mechanism.finish(None)
                self._session.fire(Transition.AUTHENTICATED)
                if self._expected is State.AUTHORIZATION:
                    self._expected = State.TRANSACTION
            elif kw == "UTF8":
                self._utf8 = True
            elif kw == "QUIT":
                self._session.fire(Transition.QUIT)
                if self.state is State.UPDATE:
                    self._session.fire(Transition.UPDATE_DONE)
        self._flush()
        return ev

    def _greeting(self, line: bytes) -> ClientEvent:
        ok, code, text = parse_status(line)
        if not ok:
            # RFC 2449 8.1.1/8.1.2 codes may come in a refusing greeting.
            return Err(command="", text=text, code=code)
        self._greeted = True
        m = g.GREETING_TIMESTAMP.search(line)
        self.timestamp = m.group().decode("ascii") if m else None
        self._flush()
        return Greeting(text=text, timestamp=self.timestamp)

    def _challenge(self, p: _Pending, text: bytes) -> None:
        mech = p.mechanism
        assert mech is not None
        if p.initial is not None:
            # RFC 5034 4: the initial response that did not fit on the AUTH
            # line answers the server's empty challenge.
            if text.strip(b" "):
                raise RemoteProtocolError("expected an empty challenge for the initial response")
            response: bytes = p.initial
            p.initial = None
        else:
            if p.cancelled:
                raise RemoteProtocolError("challenge after the SASL exchange was cancelled")
            p.steps += 1
            try:
                if p.steps > self.config.max_sasl_steps:
                    raise RemoteProtocolError("too many SASL challenges")
                response = mech.respond(parse_challenge(text))
            except ProtocolError:
                # A malformed or false challenge: cancel ("*"); the server's
                # -ERR then ends the AUTH command as an Err event.
                p.cancelled = True
                self._out.append(format_response(CANCEL) + b"\r\n")
                return
        self._out.append(format_response(response) + b"\r\n")
