"""The POP3 server connection, sans-IO (RFC 1939, 2449, 2595, 3206, 5034, 6856).

The connection answers by itself whatever needs no application knowledge
(CAPA, STAT, LIST, UIDL, DELE, RSET, NOOP, STLS, UTF8, the SASL framing) and
asks the application, through events, for the rest: credentials, the
maildrop listing, message bytes, and the deletions at QUIT.  While it waits
for an answer it reads no further command, so pipelined commands stay
buffered (bounded by ``ServerConfig.max_pipelined``).

TOP is cut by the server: the application streams the message (or as much as
it likes) and the server sends the headers, the blank line and the first n
body lines, then ``message_wanted`` turns false and later chunks are dropped.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Collection, Sequence

from .._sentinel import NEED_DATA, NeedData
from ..errors import (
    BareLineEndingError,
    LineTooLongError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from ..sasl._base import Challenge, Failure, Request, ServerMechanism, Success
from ..wire._buffer import ReceiveBuffer
from ..wire._dotstuff import DotStuffer
from ..wire._sasl import InvalidBase64Error, b64decode_strict, b64encode
from . import _grammar as g
from ._body import TopCutter
from ._events import (
    Apop,
    ApopLogin,
    Auth,
    Command,
    CommandError,
    ConnectionClosed,
    Dele,
    List,
    MaildropEntry,
    MessageRequested,
    Pass,
    PasswordLogin,
    ResponseCode,
    Retr,
    SaslAuthenticated,
    SaslFailed,
    SaslRequest,
    StartTLS,
    Top,
    Uidl,
    UpdateRequested,
    User,
    UserReceived,
)
from ._parse import parse_command
from ._server_config import ServerConfig, default_timestamp
from ._state import SessionState, State, Transition
from ._write import command_keyword, err_line, multiline, ok_line

__all__ = ["ServerConnection", "ServerEvent"]

ServerEvent = (
    UserReceived
    | PasswordLogin
    | ApopLogin
    | SaslRequest
    | SaslAuthenticated
    | SaslFailed
    | MessageRequested
    | UpdateRequested
    | CommandError
    | StartTLS
    | ConnectionClosed
)


def _plural(n: int) -> str:
    return f"{n} message" if n == 1 else f"{n} messages"


class ServerConnection:
    """One POP3 server session.  Feed it the client's bytes, pull events,
    answer them through the typed methods, and send ``data_to_send()``."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._buf = ReceiveBuffer()
        self._out: list[bytes] = []
        self._session = SessionState()
        self._events: deque[ServerEvent] = deque()
        self._awaiting: str | None = None
        self._tls = self.config.tls_active
        self._channel_binding: bytes | None = None
        self._utf8 = False
        self._user: str | None = None
        self._login_name = ""
        self._mech: ServerMechanism | None = None
        self._mech_name = ""
        self._sasl_success: Success | None = None
        self._maildrop: list[MaildropEntry] = []
        self._deleted: set[int] = set()
        self._retrieved: set[int] = set()
        self._skipping = False
        self._errors = 0
        self._peer_closed = False
        self._injected = False
        self._msg: MessageRequested | None = None
        self._stuffer: DotStuffer | None = None
        self._cutter: TopCutter | None = None
        self._status_sent = False
        self._detached = False
        self.timestamp: str | None = None
        greeting = self.config.greeting
        if self.config.apop:
            make = self.config.apop_timestamp
            self.timestamp = make() if make else default_timestamp(self.config.hostname)
            if not g.GREETING_TIMESTAMP.fullmatch(self.timestamp.encode("ascii", "replace")):
                raise LocalProtocolError("invalid APOP timestamp")
            greeting = f"{greeting} {self.timestamp}" if greeting else self.timestamp
        self._out.append(ok_line(greeting))

    def __repr__(self) -> str:
        return f"<pop3.ServerConnection state={self.state.value} awaiting={self._awaiting}>"

    # -- the contract -------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._session.state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def utf8(self) -> bool:
        return self._utf8

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer the client's bytes; ``b""`` means the client closed."""
        if self._detached:
            raise LocalProtocolError("the connection was handed over by take_unread()")
        if not data:
            self._peer_closed = True
        elif self.state is State.STARTING_TLS:
            # Plaintext after STLS is the CVE-2011-0411 injection class.
            self._injected = True
        elif self.state not in (State.CLOSED, State.ERROR):
            self._buf.feed(data)

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> ServerEvent | NeedData:
        """The next event, or NEED_DATA.  Refused commands are answered here
        and reported as CommandError; fatal errors queue the "-ERR" and raise
        RemoteProtocolError (its ``reply`` is what was queued)."""
        if self._detached:
            raise LocalProtocolError("the connection was handed over by take_unread()")
        if self._events:
            return self._events.popleft()
        state = self.state
        if state is State.ERROR:
            raise LocalProtocolError("the connection has failed")
        if state is State.CLOSED:
            return ConnectionClosed()
        if state is State.STARTING_TLS:
            if self._injected or self._buf:
                self._fail("data sent after STLS before TLS", "command injection after STLS")
            if self._peer_closed:
                return self._closed()
            return NEED_DATA
        limit = self.config.max_pipelined * (self.config.max_command_line + 2)
        if len(self._buf) > max(limit, self.config.max_auth_line + 2):
            self._fail("too many pipelined commands", "too many pipelined commands")
        if self._awaiting is not None:
            return self._closed() if self._peer_closed else NEED_DATA
        while True:
            if self._skipping:
                if not self._buf.skip_line():
                    return self._closed() if self._peer_closed else NEED_DATA
                self._skipping = False
            in_sasl = self._mech is not None or self._sasl_success is not None
            limit = self.config.max_auth_line if in_sasl else self.config.max_command_line
            try:
                line = self._buf.extract_line(limit)
            except LineTooLongError:
                # The one "-ERR" also ends an AUTH exchange this line was in.
                self._skipping = True
                self._mech = self._sasl_success = None
                return self._refuse("line too long")
            except BareLineEndingError:
                self._mech = self._sasl_success = None
                return self._refuse("lines must end with CRLF")
            if line is None:
                return self._closed() if self._peer_closed else NEED_DATA
            ev = self._sasl_line(line) if in_sasl else self._command(line)
            if ev is not None:
                return ev

    def tls_established(self, *, channel_binding: bytes | None = None) -> None:
        """TLS is up after a StartTLS event: resume in AUTHORIZATION.

        ``channel_binding`` (tls-server-end-point data) enables -PLUS
        mechanisms.  Raises if plaintext arrived in between (injection).
        """
        if self.state is not State.STARTING_TLS:
            raise LocalProtocolError("tls_established() without an accepted STLS")
        if self._injected or self._buf:
            self._fail("data sent after STLS before TLS", "command injection after STLS")
        self._session.fire(Transition.TLS_ESTABLISHED)
        self._tls = True
        self._channel_binding = channel_binding
        # RFC 2595 4: forget what the client said before TLS.
        self._user = None
        self._utf8 = False

    def take_unread(self) -> bytes:
        """Hand over the bytes received and not yet read as commands, and stop
        reading: for a proxy that relays the rest of the session itself once
        the login is done (the commands a client pipelined after PASS or AUTH
        are in these bytes).  The connection reads nothing afterwards."""
        if self._awaiting is not None or self._mech is not None or self._sasl_success:
            raise LocalProtocolError("take_unread() while a command is being answered")
        self._detached = True
        return self._buf.extract_all()

    # -- answers to events ----------------------------------------------------------

    def _expect(self, *what: str) -> bool:
        """Whether the answer should be acted on: False once the client has
        gone (answers after ConnectionClosed are ignored); raises when no
        such answer is pending."""
        if self._peer_closed and self.state is State.CLOSED:
            return False
        if self._awaiting not in what:
            raise LocalProtocolError(f"no {' or '.join(what)} answer is pending")
        return True

    def _code(self, code: str | None) -> str | None:
        caps = self.config.capabilities
        if code is None or "RESP-CODES" not in caps:
            return None
        if code == ResponseCode.AUTH and "AUTH-RESP-CODE" not in caps:
            return None
        return str(code)

    def accept_user(self, text: str | None = None) -> None:
        """Answer UserReceived: the name may log in (PASS comes next)."""
        if not self._expect("user"):
            return
        self._awaiting = None
        self._out.append(ok_line(self.config.user_text if text is None else text))

    def reject_user(self, text: str = "no such user", code: str | None = None) -> None:
        """Answer UserReceived: refuse the name."""
        if not self._expect("user"):
            return
        self._awaiting = None
        self._user = None
        self._out.append(err_line(text, self._code(code)))

    def accept_login(self, maildrop: Sequence[MaildropEntry], text: str | None = None) -> None:
        """Answer PasswordLogin, ApopLogin or SaslAuthenticated: open the
        maildrop (messages numbered from 1 in this order) and enter TRANSACTION."""
        if not self._expect("login"):
            return
        entries = list(maildrop)
        for e in entries:
            if not isinstance(e, MaildropEntry) or e.size < 0:
                raise LocalProtocolError("maildrop entries are MaildropEntry with size >= 0")
            if not g.UNIQUE_ID.fullmatch(e.uid.encode("ascii", "replace")):
                raise LocalProtocolError("a unique-id is 1 to 70 octets 0x21-0x7E")
        self._maildrop = entries
        self._deleted.clear()
        self._retrieved.clear()
        self._awaiting = None
        self._session.fire(Transition.AUTHENTICATED)
        if text is None:
            size = sum(e.size for e in entries)
            text = f"{self._login_name}'s maildrop has {_plural(len(entries))} ({size} octets)"
        self._out.append(ok_line(text))

    def reject_login(
        self, text: str = "authentication failed", code: str | None = ResponseCode.AUTH
    ) -> None:
        """Answer a login event: refuse.  ``code`` is AUTH (bad credentials),
        IN_USE, LOGIN_DELAY, SYS_TEMP or SYS_PERM, or None."""
        if not self._expect("login"):
            return
        self._awaiting = None
        self._user = None
        self._out.append(err_line(text, self._code(code)))

    def answer_sasl(self, result: object) -> None:
        """Answer a SaslRequest with what its request type expects."""
        if not self._expect("sasl"):
            return
        assert self._mech is not None
        self._awaiting = None
        ev = self._sasl_step(self._mech.answer(result))
        if ev is not None:
            self._events.append(ev)

    @property
    def message_wanted(self) -> bool:
        """Whether the pending RETR/TOP still takes message bytes."""
        return self._awaiting == "message" and not (self._cutter and self._cutter.done)

    def _message_status(self) -> None:
        if not self._status_sent:
            self._status_sent = True
            msg = self._msg
            assert msg is not None
            text = f"{msg.size} octets" if msg.lines is None else ""
            self._out.append(ok_line(text))

    def send_message_data(self, data: bytes) -> None:
        """Stream a chunk of the requested message (any line endings: bare CR
        and LF go out as CRLF, lines starting with "." are stuffed)."""
        if not self._expect("message"):
            return
        self._message_status()
        cutter = self._cutter
        if cutter is not None and cutter.done:
            return
        assert self._stuffer is not None
        out = self._stuffer.write(data)
        if cutter is not None:
            out = cutter.feed(out)
        if out:
            self._out.append(out)

    def end_message(self) -> None:
        """The message is complete: send the terminating "." line."""
        if not self._expect("message"):
            return
        self._message_status()
        assert self._stuffer is not None and self._msg is not None
        if self._cutter is not None and self._cutter.done:
            self._out.append(b".\r\n")
        else:
            self._out.append(self._stuffer.close())
        if self._msg.lines is None:
            self._retrieved.add(self._msg.number)
        self._awaiting = None
        self._msg = self._stuffer = self._cutter = None

    def fail_message(self, text: str = "message unavailable", code: str | None = None) -> None:
        """Refuse the pending RETR/TOP before any chunk was sent."""
        if not self._expect("message"):
            return
        if self._status_sent:
            raise LocalProtocolError("the message has started; end it instead")
        self._awaiting = None
        self._msg = self._stuffer = self._cutter = None
        self._out.append(err_line(text, self._code(code)))

    def finish_update(self, ok: bool = True, text: str | None = None) -> None:
        """Answer UpdateRequested: the deletions are done (or failed), and the
        session ends (RFC 1939 section 6)."""
        if not self._expect("update"):
            return
        self._awaiting = None
        if ok:
            if text is None:
                left = len(self._maildrop) - len(self._deleted)
                tail = "maildrop empty" if left == 0 else f"{_plural(left)} left"
                text = f"{self.config.hostname} POP3 server signing off ({tail})"
            self._out.append(ok_line(text))
        else:
            text = "some deleted messages not removed" if text is None else text
            self._out.append(err_line(text, self._code(ResponseCode.SYS_TEMP)))
        self._session.fire(Transition.UPDATE_DONE)
        self._events.append(ConnectionClosed())

    # -- capabilities ---------------------------------------------------------------

    def _plaintext_ok(self) -> bool:
        return self._tls or self.config.allow_plaintext_auth

    def _mechanisms(self) -> list[str]:
        names = []
        for name in self.config.sasl_mechanisms:
            upper = name.upper()
            if upper in self.config.plaintext_mechanisms and not self._plaintext_ok():
                continue
            if upper.endswith("-PLUS") and self._channel_binding is None:
                continue
            if upper == "EXTERNAL" and not self._tls:
                continue
            names.append(upper)
        return names

    def capability_lines(self) -> list[str]:
        """What CAPA lists now (it changes with TLS and state)."""
        caps = self.config.capabilities
        out = []
        if "TOP" in caps:
            out.append("TOP")
        if "USER" in caps and self._plaintext_ok():
            out.append("USER")
        mechs = self._mechanisms() if "SASL" in caps else []
        if mechs:
            out.append("SASL " + " ".join(mechs))
        if "RESP-CODES" in caps:
            out.append("RESP-CODES")
        if "LOGIN-DELAY" in caps and self.config.login_delay is not None:
            out.append(f"LOGIN-DELAY {self.config.login_delay}")
        if "PIPELINING" in caps:
            out.append("PIPELINING")
        if "EXPIRE" in caps and self.config.expire is not None:
            out.append(f"EXPIRE {self.config.expire}")
        if "UIDL" in caps:
            out.append("UIDL")
        if "STLS" in caps and self.config.tls_available and not self._tls:
            out.append("STLS")
        if "IMPLEMENTATION" in caps and self.config.implementation:
            out.append(f"IMPLEMENTATION {self.config.implementation}")
        if "UTF8" in caps:
            out.append("UTF8")
        if "AUTH-RESP-CODE" in caps:
            out.append("AUTH-RESP-CODE")
        return out

    # -- internals ------------------------------------------------------------------

    def _closed(self) -> ConnectionClosed:
        if self.state is not State.CLOSED:
            self._session.fire(Transition.PEER_CLOSED)
        self._awaiting = None
        return ConnectionClosed()

    def _fail(self, message: str, text: str) -> None:
        reply = err_line(text)
        self._out.append(reply)
        self._session.fire(Transition.FAILED)
        raise RemoteProtocolError(message, reply=reply)

    def _refuse(self, message: str) -> CommandError:
        self._errors += 1
        if self._errors > self.config.max_errors:
            self._fail("too many bad commands", "too many bad commands, closing")
        self._out.append(err_line(message))
        return CommandError(message=message)

    def _reply(self, line: bytes) -> None:
        self._out.append(line)

    def _command(self, line: bytes) -> ServerEvent | None:
        try:
            cmd = parse_command(line)
        except RemoteProtocolError as exc:
            if g.HTTP_REQUEST.fullmatch(line):
                # ALPACA / cross-protocol: an HTTP client; close, reflect nothing.
                self._fail("an HTTP request on the POP3 port", "not a POP3 client")
            return self._refuse(exc.message)
        keyword = command_keyword(cmd)
        if not self._session.allows(keyword):
            return self._refuse(f"{keyword} is not valid in the {self.state.value} state")
        return self._dispatch(keyword, cmd)

    def _dispatch(self, keyword: str, cmd: Command) -> ServerEvent | None:
        caps = self.config.capabilities
        if keyword == "CAPA":
            lines = [c.encode("utf-8") for c in self.capability_lines()]
            self._reply(ok_line(self.config.capa_text) + multiline(lines))
        elif keyword == "QUIT":
            if self.state is State.AUTHORIZATION:
                self._reply(ok_line(f"{self.config.hostname} POP3 server signing off"))
                self._session.fire(Transition.QUIT)
                return ConnectionClosed()
            self._session.fire(Transition.QUIT)
            self._awaiting = "update"
            deleted = tuple(sorted(self._deleted))
            return UpdateRequested(
                deleted=deleted,
                deleted_uids=tuple(self._maildrop[n - 1].uid for n in deleted),
                retrieved=tuple(sorted(self._retrieved - self._deleted)),
            )
        elif self.state is State.AUTHORIZATION:
            return self._authorization(keyword, cmd, caps)
        else:
            return self._transaction(keyword, cmd, caps)
        return None

    def _authorization(
        self, keyword: str, cmd: Command, caps: Collection[str]
    ) -> ServerEvent | None:
        if keyword == "USER":
            assert isinstance(cmd, User)
            if "USER" not in caps or not self._plaintext_ok():
                self._reply(err_line("USER/PASS needs TLS: use STLS first"))
                return None
            self._user = cmd.name
            if self.config.check_user:
                self._awaiting = "user"
                return UserReceived(username=cmd.name)
            self._reply(ok_line(self.config.user_text))
        elif keyword == "PASS":
            assert isinstance(cmd, Pass)
            if self._user is None:
                return self._refuse("USER first")
            self._login_name = self._user
            self._user = None
            self._awaiting = "login"
            return PasswordLogin(username=self._login_name, password=cmd.password)
        elif keyword == "APOP":
            assert isinstance(cmd, Apop)
            if self.timestamp is None:
                self._reply(err_line("APOP is not offered"))
                return None
            self._login_name = cmd.name
            self._awaiting = "login"
            return ApopLogin(username=cmd.name, timestamp=self.timestamp, digest=cmd.digest)
        elif keyword == "AUTH":
            assert isinstance(cmd, Auth)
            return self._auth(cmd)
        elif keyword == "STLS":
            if self._tls:
                self._reply(err_line("Command not permitted when TLS active"))
            elif "STLS" not in caps or not self.config.tls_available:
                self._reply(err_line("STLS is not offered"))
            else:
                if self._buf:
                    self._fail("command pipelined after STLS", "command injection after STLS")
                self._reply(ok_line(self.config.stls_text))
                self._session.fire(Transition.STLS_ACCEPTED)
                return StartTLS()
        elif keyword == "UTF8":
            if "UTF8" not in caps:
                self._reply(err_line("UTF8 is not offered"))
            else:
                self._utf8 = True
                self._reply(ok_line("UTF8 enabled"))
        return None

    def _lookup(self, n: int, keyword: str) -> MaildropEntry | None:
        if n > len(self._maildrop):
            if keyword in ("LIST", "UIDL"):
                total = len(self._maildrop)
                self._reply(err_line(f"no such message, only {_plural(total)} in maildrop"))
            else:
                self._reply(err_line("no such message"))
            return None
        if n in self._deleted:
            self._reply(err_line(f"message {n} already deleted"))
            return None
        return self._maildrop[n - 1]

    def _live(self) -> list[tuple[int, MaildropEntry]]:
        return [(i, e) for i, e in enumerate(self._maildrop, 1) if i not in self._deleted]

    def _summary(self) -> str:
        live = self._live()
        return f"{_plural(len(live))} ({sum(e.size for _, e in live)} octets)"

    def _transaction(
        self, keyword: str, cmd: Command, caps: Collection[str]
    ) -> ServerEvent | None:
        if keyword == "STAT":
            live = self._live()
            self._reply(ok_line(f"{len(live)} {sum(e.size for _, e in live)}"))
        elif keyword in ("LIST", "UIDL"):
            assert isinstance(cmd, (List, Uidl))
            if keyword == "UIDL" and "UIDL" not in caps:
                return self._refuse("UIDL is not offered")
            uidl = keyword == "UIDL"
            if cmd.msg is None:
                head = ok_line("" if uidl else self._summary())
                body = [
                    f"{i} {e.uid if uidl else e.size}".encode("ascii") for i, e in self._live()
                ]
                self._reply(head + multiline(body))
            else:
                e = self._lookup(cmd.msg, keyword)
                if e is not None:
                    self._reply(ok_line(f"{cmd.msg} {e.uid if uidl else e.size}"))
        elif keyword in ("RETR", "TOP"):
            assert isinstance(cmd, (Retr, Top))
            if keyword == "TOP" and "TOP" not in caps:
                return self._refuse("TOP is not offered")
            e = self._lookup(cmd.msg, keyword)
            if e is None:
                return None
            lines = cmd.lines if isinstance(cmd, Top) else None
            self._msg = MessageRequested(number=cmd.msg, uid=e.uid, size=e.size, lines=lines)
            self._stuffer = DotStuffer()
            self._cutter = None if lines is None else TopCutter(lines)
            self._status_sent = False
            self._awaiting = "message"
            return self._msg
        elif keyword == "DELE":
            assert isinstance(cmd, Dele)
            if self._lookup(cmd.msg, keyword) is not None:
                self._deleted.add(cmd.msg)
                self._reply(ok_line(f"message {cmd.msg} deleted"))
        elif keyword == "RSET":
            self._deleted.clear()
            self._reply(ok_line(f"maildrop has {self._summary()}"))
        elif keyword == "NOOP":
            self._reply(ok_line())
        return None

    # -- SASL (RFC 5034) --------------------------------------------------------------

    def _create_mechanism(self, name: str) -> ServerMechanism | None:
        factory = self.config.mechanism_factory
        try:
            if factory is not None:
                return factory(name, self._channel_binding)
            module = importlib.import_module("protokit.sasl")
            create = getattr(module, "create_server", None)
            if create is None:
                return None
            # POP3 cannot carry data with +OK (RFC 5034 section 4): it goes
            # in a final challenge the client answers with an empty line.
            mech = create(
                name, channel_binding=self._channel_binding, success_data_as_challenge=True
            )
        except (KeyError, ValueError, ProtocolError):
            return None
        return mech if isinstance(mech, ServerMechanism) else None

    def _auth(self, cmd: Auth) -> ServerEvent | None:
        offered = self._mechanisms() if "SASL" in self.config.capabilities else []
        if cmd.mechanism is None:
            lines = [m.encode("ascii") for m in offered]
            self._reply(ok_line("methods supported") + multiline(lines))
            return None
        if cmd.mechanism not in offered:
            self._reply(err_line("unsupported authentication mechanism"))
            return None
        mech = self._create_mechanism(cmd.mechanism)
        if mech is None:
            self._reply(err_line("unsupported authentication mechanism"))
            return None
        self._mech = mech
        self._mech_name = cmd.mechanism
        ir = None if cmd.initial_response is None else cmd.initial_response.expose()
        return self._sasl_step(mech.start(ir))

    def _sasl_step(self, step: object) -> ServerEvent | None:
        if isinstance(step, Challenge):
            self._reply(b"+ " + b64encode(step.data) + b"\r\n")
            return None
        if isinstance(step, Request):
            self._awaiting = "sasl"
            return SaslRequest(mechanism=self._mech_name, request=step)
        self._mech = None
        if isinstance(step, Success):
            if step.data:
                # RFC 5034 section 4: additional data with success goes in a
                # challenge; the client answers it with an empty line.
                self._sasl_success = step
                self._reply(b"+ " + b64encode(step.data) + b"\r\n")
                return None
            return self._sasl_done(step)
        # The reason is for the application's logs only, never for the wire.
        reason = step.reason if isinstance(step, Failure) else "authentication failed"
        self._reply(err_line("authentication failed", self._code(ResponseCode.AUTH)))
        return SaslFailed(mechanism=self._mech_name, reason=reason)

    def _sasl_done(self, step: Success) -> SaslAuthenticated:
        self._sasl_success = None
        self._login_name = step.authzid or step.authcid
        self._awaiting = "login"
        return SaslAuthenticated(
            mechanism=self._mech_name, authcid=step.authcid, authzid=step.authzid
        )

    def _sasl_line(self, line: bytes) -> ServerEvent | None:
        if self._sasl_success is not None:
            if line:
                self._sasl_success = None
                return self._refuse("expected an empty response")
            return self._sasl_done(self._sasl_success)
        mech = self._mech
        assert mech is not None
        if line == b"*":
            failure = mech.cancel()
            self._mech = None
            self._reply(err_line("authentication cancelled"))
            return SaslFailed(mechanism=self._mech_name, reason=failure.reason)
        try:
            data = b64decode_strict(line)
        except InvalidBase64Error:
            self._mech = None
            return self._refuse("invalid base64 in SASL response")
        return self._sasl_step(mech.receive(data))
