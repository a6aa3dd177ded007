"""The IMAP server connection (sans-IO).

Commands come out one at a time, in order, as :class:`CommandReceived`; the
application answers with untagged responses (:meth:`ServerConnection.send`)
and completes each with :meth:`ServerConnection.complete`.  Pipelined
commands wait in the framer's buffer until then.  The connection answers
itself what belongs to the protocol: syntax errors (BAD), commands not valid
in the current state, CAPABILITY, STARTTLS, ENABLE, COMPRESS, IDLE's
"+" and DONE, AUTHENTICATE's exchange (the application answers the
mechanism's requests), and "+" for each synchronizing literal within limits
(those beyond are refused with a tagged BAD [TOOBIG] before any byte comes).
With ``ServerConfig(announce_append=True)`` an APPEND's message literal is
the application's to accept or refuse first (:class:`AppendAnnounced`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Final

from .._sentinel import NEED_DATA, NeedData
from ..errors import LocalProtocolError, RemoteProtocolError
from ..sasl import Challenge, Failure, Request, ServerMechanism, Step, Success
from ..wire import InvalidBase64Error, b64decode_strict, b64encode
from ._commands import (
    Append,
    Authenticate,
    CapabilityCommand,
    Command,
    Compress,
    Done,
    Enable,
    Idle,
    StartTLS,
)
from ._events import (
    AppendAnnounced,
    AuthenticationFailed,
    BodyChunk,
    BodyEnd,
    BodyStart,
    CommandError,
    CommandReceived,
    CompressRequested,
    ConnectionClosed,
    IdleDone,
    SaslAuthenticated,
    SaslRequest,
    ServerEvent,
    StartTLSRequested,
)
from ._fetch import write_fetch_items
from ._framer import (
    BadMessage,
    Framer,
    LiteralAnnounced,
    LiteralChunk,
    LiteralEnd,
    LiteralStart,
    LiteralTooLargeError,
    Message,
    StreamedLiteral,
)
from ._parse_command import parse_command
from ._responses import (
    Capability,
    ContinuationRequest,
    Enabled,
    Exists,
    Expunge,
    Fetch,
    Flags,
    Recent,
    Response,
    ResponseCode,
    Status,
    Vanished,
)
from ._server_config import ServerConfig
from ._state import SessionState, State, Transition, command_name, transition_for
from ._values import section_bytes
from ._write import Writer
from ._write_response import write_response

__all__ = ["ServerConnection"]

_PLAINTEXT_MECHANISMS: Final = frozenset({"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"})
#: ENABLE-able capabilities whose effect the connection knows (RFC 5161):
#: UTF8=ACCEPT and IMAP4rev2 switch strings to UTF-8; CONDSTORE and QRESYNC
#: are the application's (it answers FETCH/STORE/SELECT).
_ENABLEABLE: Final = frozenset({"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"})
#: RFC 9051 7.5.1 / RFC 3501 7.4.1: no EXPUNGE while responding to these
#: (they use sequence numbers), nor when no command is in progress.
_NO_EXPUNGE_DURING: Final = frozenset({"FETCH", "STORE", "SEARCH"})
_UPDATES: Final = (Exists, Recent, Expunge, Vanished, Fetch, Flags)


class ServerConnection:
    """One IMAP server session; constructible with no arguments."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config if config is not None else ServerConfig()
        self._framer = self._new_framer()
        self._out: list[bytes] = []
        self._events: deque[ServerEvent] = deque()
        self._tls = self.config.tls_active
        self._channel_binding: bytes | None = self.config.channel_binding
        self._client_cert = self.config.client_certificate_verified
        self._utf8 = False
        self.enabled: frozenset[str] = frozenset()
        self._compressed = False
        self._current: Command | None = None
        self._current_name = ""
        self._idle_tag: str | None = None
        self._auth: tuple[str, str, ServerMechanism] | None = None
        self._auth_wait = ""  # "line": a client response; "answer": the application
        self._deferred: list[Response] = []
        self._errors = 0
        self._backlog = 0
        self._peer_closed = False
        self._injected = False
        # An APPEND literal the application is deciding on; a refused
        # APPEND whose non-synchronizing literals are being drained.
        self._append_wait: AppendAnnounced | None = None
        self._append_refused: tuple[str, ResponseCode | None, str] | None = None
        # Octets still owed to a FETCH body literal being sent in pieces.
        self._streaming: int | None = None
        if self.config.preauth:
            self._session = SessionState(State.AUTHENTICATED)
            status = "PREAUTH"
        else:
            self._session = SessionState(State.GREETING)
            self._session.fire(Transition.GREETING_OK)
            status = "OK"
        code = None
        if self.config.greeting_capabilities:
            code = ResponseCode(name="CAPABILITY", value=self.capability_list())
        self._write(Status(tag=None, status=status, code=code, text=self.config.greeting))

    def _new_framer(self) -> Framer:
        c = self.config
        return Framer(
            server=True,
            max_line=c.max_line,
            max_literal=c.max_literal,
            max_message=max(c.max_literal, c.max_line * 4),
            stream_threshold=c.stream_threshold,
            max_nonsync_literal=4096 if c.literal_minus else None,
        )

    def __repr__(self) -> str:
        return f"<imap.ServerConnection state={self.state.value} current={self._current_name!r}>"

    # -- properties ---------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._session.state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def utf8(self) -> bool:
        return self._utf8

    @property
    def current(self) -> Command | None:
        """The command the application is answering, if any."""
        return self._current

    def capability_list(self) -> tuple[str, ...]:
        """What CAPABILITY says now (RFC 9051 6.1.1): STARTTLS and
        LOGINDISABLED before TLS, AUTH= mechanisms while not authenticated
        (plaintext ones only under TLS unless allowed)."""
        c = self.config
        caps = [x for x in c.capabilities if not x.upper().startswith("AUTH=")]
        if self.state in (State.NOT_AUTHENTICATED, State.GREETING):
            if c.starttls and not self._tls:
                caps.append("STARTTLS")
            caps.extend(f"AUTH={m.upper()}" for m in self._mechanisms())
            if not (self._tls or c.allow_plaintext):
                caps.append("LOGINDISABLED")
        else:
            caps = [x for x in caps if x.upper() != "SASL-IR"]
        return tuple(caps)

    def _mechanisms(self) -> list[str]:
        """Mechanisms offered now: plaintext-equivalent ones only under TLS
        (unless allowed), -PLUS only with channel binding data, EXTERNAL
        only with a verified client certificate (SECURITY.md)."""
        secure = self._tls or self.config.allow_plaintext
        out = []
        for m in self.config.mechanisms:
            name = m.upper()
            if name in _PLAINTEXT_MECHANISMS and not secure:
                continue
            if name.endswith("-PLUS") and self._channel_binding is None:
                continue
            if name == "EXTERNAL" and not (self._tls and self._client_cert):
                continue
            out.append(name)
        return out

    # -- the contract -------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer the client's bytes; ``b""`` means the client closed."""
        if not data:
            self._peer_closed = True
        elif self.state is State.STARTING_TLS:
            # Plaintext after STARTTLS: the CVE-2011-0411 injection class.
            self._injected = True
        elif self.state not in (State.CLOSED, State.ERROR):
            if self._answering():
                # Pipelined behind a command the application is answering.
                self._backlog += len(data)
            self._framer.feed(data)

    def _answering(self) -> bool:
        return (
            self._auth_wait == "answer"
            or self._append_wait is not None
            or (self._current is not None and self._idle_tag is None and self._auth_wait != "line")
        )

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def unread(self) -> bytes:
        """Bytes received but not read yet (a binding checks this is empty
        before a TLS handshake)."""
        return self._framer.unread()

    def next_event(self) -> ServerEvent | NeedData:
        """The next event, or NEED_DATA.  Refused commands are answered here
        and reported as CommandError; fatal errors queue ``* BYE`` and raise
        RemoteProtocolError (its ``reply`` is what was queued)."""
        if self._events:
            return self._events.popleft()
        state = self.state
        if state is State.ERROR:
            raise LocalProtocolError("the connection has failed")
        if state is State.CLOSED:
            return ConnectionClosed()
        if state is State.STARTING_TLS:
            if self._injected or self._framer.unread():
                self._fail("Command injection after STARTTLS")
            return self._closed() if self._peer_closed else NEED_DATA
        if state is State.LOGOUT:
            return self._closed() if self._peer_closed else NEED_DATA
        if self._answering():
            # The application is answering: pipelined commands wait, bounded.
            if self._backlog > self.config.max_backlog:
                self._fail("Too many pipelined commands")
            return self._closed() if self._peer_closed else NEED_DATA
        self._backlog = 0
        while True:
            ev = self._framer.next_event()
            if ev is NEED_DATA:
                return self._closed() if self._peer_closed else NEED_DATA
            if self._append_refused is not None and not isinstance(
                ev, (LiteralAnnounced, BadMessage)
            ):
                # A refused APPEND's octets are read and dropped; its end
                # (the Message) gets the refusal.
                if isinstance(ev, Message):
                    self._finish_refused()
                continue
            if isinstance(ev, LiteralChunk):
                return BodyChunk(data=ev.data)
            if isinstance(ev, LiteralAnnounced):
                announced = self._announced(ev)
                if announced is not None:
                    return announced
                continue
            if isinstance(ev, LiteralStart):
                tag, name = self._first_tokens()
                return BodyStart(length=ev.length, binary=ev.binary, tag=tag, command=name)
            if isinstance(ev, LiteralEnd):
                return BodyEnd()
            result: ServerEvent | None
            if isinstance(ev, BadMessage):
                result = self._bad_message(ev)
            elif self._auth_wait == "line":
                result = self._sasl_line(ev.fragments)
            else:
                try:
                    cmd = parse_command(ev, utf8=self._utf8)
                except RemoteProtocolError as exc:
                    reply = exc.reply or b"* BAD Invalid command\r\n"
                    first = reply.split(b" ", 1)[0].decode("ascii", "replace")
                    result = self._refuse(reply, exc.message, None if first == "*" else first)
                else:
                    result = self._command(cmd)
            if result is not None:
                return result
            if self._events:
                return self._events.popleft()

    def _closed(self) -> ServerEvent:
        if self.state is not State.CLOSED:
            self._session.fire(Transition.PEER_CLOSED)
        return ConnectionClosed()

    def _fail(self, text: str) -> NeedData:
        reply = b"* BYE " + text.encode("ascii") + b"\r\n"
        self._out.append(reply)
        self._session.state = State.ERROR
        raise RemoteProtocolError(text, reply=reply)

    def _write(self, response: Response) -> None:
        self._out.append(write_response(response, utf8=self._utf8))

    def _first_tokens(self) -> tuple[str | None, str | None]:
        parts = self._framer.first_line.split(b" ", 3)
        tag = parts[0].decode("ascii", "replace") if parts and parts[0] else None
        name = parts[1].decode("ascii", "replace").upper() if len(parts) > 1 else None
        if name == "UID" and len(parts) > 2:
            name = "UID " + parts[2].decode("ascii", "replace").upper()
        return tag, name

    # -- refusals -----------------------------------------------------------------

    def _refuse(self, reply: bytes, message: str, tag: str | None = None) -> ServerEvent:
        self._errors += 1
        if self._errors >= self.config.max_errors:
            self._out.append(reply)
            self._fail("Too many invalid commands")
        self._out.append(reply)
        return CommandError(tag=tag, message=message, reply=reply)

    def _bad_message(self, ev: BadMessage) -> ServerEvent:
        # A refused APPEND that turns out malformed gets the BAD instead.
        self._append_refused = None
        error = ev.error
        tag = ev.tag.decode("ascii") if ev.tag is not None else None
        reply = error.reply or b"* BAD Invalid command\r\n"
        if isinstance(error, LiteralTooLargeError) and not error.synchronizing:
            # RFC 7888 section 4: the client sent the octets anyway; the
            # framer drains them, but a client this far off is cut off.
            self._out.append(reply)
            self._fail("Literal too large")
        if self._auth is not None:
            # The exchange ends; its own tag gets the BAD.
            auth_tag, name, mech = self._auth
            mech.cancel()
            return self._sasl_bad(auth_tag, name, "Invalid SASL response", error.message)
        if self._idle_tag is not None:
            idle_tag = self._idle_tag
            self._end_idle("BAD", "Expected DONE")
            return CommandError(tag=idle_tag, message=error.message, reply=b"")
        return self._refuse(reply, error.message, tag)

    def _announced(self, ev: LiteralAnnounced) -> ServerEvent | None:
        """Accept a literal within limits (the framer refused the others),
        or announce an APPEND message literal to the application."""
        if self._append_refused is not None:
            # Another literal of a refused APPEND: a synchronizing one ends it
            # now (the client waits for "+" and gets the NO instead).
            if ev.synchronizing:
                self._framer.reject_literal()
                self._finish_refused()
            return None
        if self.config.announce_append and self._auth_wait != "line" and self._idle_tag is None:
            announcement = self._append_announcement(ev)
            if announcement is not None:
                self._append_wait = announcement
                return announcement
        if not ev.synchronizing:
            return None
        if self._auth_wait == "line" or self._idle_tag is not None:
            # No literal belongs in a SASL response or in IDLE.
            self._framer.reject_literal()
            self._events.append(
                self._bad_message(
                    BadMessage(tag=ev.tag, error=RemoteProtocolError("unexpected literal"))
                )
            )
            return None
        # RFC 9051 7.5: "+" asks for the literal's octets.
        self._out.append(b"+ Ready for literal data\r\n")
        self._framer.accept_literal()
        return None

    def _append_announcement(self, ev: LiteralAnnounced) -> AppendAnnounced | None:
        """An AppendAnnounced when ``ev`` is an APPEND's message literal: the
        command so far, with the literal and the end of the line, parses as
        an APPEND whose last message is that literal.  (A literal mailbox
        name or date does not, and is accepted as any other literal.)"""
        tag, name = self._first_tokens()
        if name != "APPEND" or tag is None or not self._session.allows("APPEND"):
            # Not now (e.g. before login): read, then refused as usual.
            return None
        placeholder = StreamedLiteral(ev.length, ev.binary)
        prefix = self._framer.announced_prefix()
        for end in (b"", b")"):  # ")": the UTF8 (~{n}) form of RFC 6855
            try:
                cmd = parse_command(Message((*prefix, placeholder, end)), utf8=self._utf8)
            except RemoteProtocolError:
                continue
            if isinstance(cmd, Append) and cmd.messages[-1].data is placeholder:
                last = cmd.messages[-1]
                return AppendAnnounced(
                    tag=tag,
                    mailbox=cmd.mailbox,
                    flags=last.flags,
                    date=last.date,
                    size=ev.length,
                    synchronizing=ev.synchronizing,
                    binary=ev.binary,
                )
        return None

    def accept_append(self) -> None:
        """Accept the announced APPEND literal ("+" for a synchronizing one);
        its octets come as usual (held, or BodyStart/BodyChunk/BodyEnd)."""
        announcement = self._append_wait
        if announcement is None:
            raise LocalProtocolError("no APPEND literal awaits an answer")
        self._append_wait = None
        if announcement.synchronizing:
            self._out.append(b"+ Ready for literal data\r\n")
            self._framer.accept_literal()

    def refuse_append(self, text: str = "", code: ResponseCode | None = None) -> None:
        """Refuse the announced APPEND with a tagged NO (``code``: e.g.
        TRYCREATE, OVERQUOTA, TOOBIG).  A synchronizing literal is never
        read; a non-synchronizing one is drained, then the NO is sent."""
        announcement = self._append_wait
        if announcement is None:
            raise LocalProtocolError("no APPEND literal awaits an answer")
        self._append_wait = None
        refusal = (announcement.tag, code, text or "APPEND refused")
        if announcement.synchronizing:
            # RFC 9051 7.5: a tagged NO instead of "+": no octets follow.
            self._framer.reject_literal()
            self._append_refused = refusal
            self._finish_refused()
        else:
            self._append_refused = refusal

    def _finish_refused(self) -> None:
        assert self._append_refused is not None
        tag, code, text = self._append_refused
        self._append_refused = None
        self._tagged(tag, "NO", text, code)

    # -- commands -----------------------------------------------------------------

    def _command(self, cmd: Command) -> ServerEvent | None:
        if self._idle_tag is not None:
            if isinstance(cmd, Done):
                tag = self._idle_tag
                self._end_idle("OK", "IDLE terminated")
                return IdleDone(tag=tag)
            idle_tag = self._idle_tag
            self._end_idle("BAD", "Expected DONE")
            return CommandError(tag=idle_tag, message="expected DONE", reply=b"")
        if isinstance(cmd, Done):
            return self._refuse(b"* BAD DONE without IDLE\r\n", "DONE without IDLE")
        name = command_name(cmd)
        tag = str(cmd.tag)
        if not self._session.allows(name):
            return self._refuse(
                b"%s BAD %s not allowed now\r\n" % (tag.encode(), name.encode()),
                f"{name} not valid in state {self.state.value}",
                tag,
            )
        self._errors = 0
        if isinstance(cmd, CapabilityCommand):
            self._write(Capability(capabilities=self.capability_list()))
            self._tagged(tag, "OK", "CAPABILITY completed")
            return None
        if isinstance(cmd, StartTLS):
            return self._starttls(tag)
        if isinstance(cmd, Enable):
            return self._enable(tag, cmd)
        if isinstance(cmd, Compress):
            return self._compress(tag, cmd)
        if isinstance(cmd, Authenticate):
            return self._authenticate(tag, cmd)
        if name == "LOGIN" and not (self._tls or self.config.allow_plaintext):
            # RFC 9051 6.2.3: LOGINDISABLED is advertised; refuse with NO.
            return self._refuse(
                b"%s NO [PRIVACYREQUIRED] LOGIN is disabled without TLS\r\n" % tag.encode(),
                "LOGIN without TLS",
                tag,
            )
        self._current = cmd
        self._current_name = name
        if isinstance(cmd, Idle):
            self._idle_tag = tag
            self._out.append(b"+ idling\r\n")
            self._flush_deferred()
        return CommandReceived(command=cmd)

    def _tagged(self, tag: str, status: str, text: str, code: ResponseCode | None = None) -> None:
        self._write(Status(tag=tag, status=status, code=code, text=text))  # type: ignore[arg-type]

    def _starttls(self, tag: str) -> ServerEvent:
        if not self.config.starttls or self._tls:
            return self._refuse(
                b"%s BAD STARTTLS not available\r\n" % tag.encode(), "STARTTLS not offered", tag
            )
        if self._framer.unread():
            # SECURITY.md "Command injection": a command pipelined after
            # STARTTLS would run under TLS; close instead.
            self._fail("Command injection after STARTTLS")
        self._tagged(tag, "OK", "Begin TLS negotiation now")
        self._session.fire(Transition.STARTTLS_OK)
        return StartTLSRequested(tag=tag)

    def start_tls_done(
        self, *, channel_binding: bytes | None = None, client_certificate_verified: bool = False
    ) -> None:
        """TLS is up after StartTLSRequested: the session restarts in not
        authenticated state; what the client said before is forgotten.
        ``channel_binding`` (tls-server-end-point) enables -PLUS mechanisms,
        ``client_certificate_verified`` EXTERNAL."""
        if self.state is not State.STARTING_TLS:
            raise LocalProtocolError("start_tls_done() without an accepted STARTTLS")
        if self._injected or self._framer.unread():
            self._fail("Command injection after STARTTLS")
        self._session.fire(Transition.TLS_ESTABLISHED)
        self._tls = True
        self._channel_binding = channel_binding
        self._client_cert = client_certificate_verified
        self._framer = self._new_framer()
        self._utf8 = False
        self.enabled = frozenset()

    def _enable(self, tag: str, cmd: Enable) -> ServerEvent | None:
        offered = {c.upper() for c in self.config.capabilities}
        new = [c for c in cmd.capabilities if c.upper() in offered & _ENABLEABLE]
        new = [c for c in new if c.upper() not in self.enabled]
        self.enabled = self.enabled | {c.upper() for c in new}
        if self.enabled & {"UTF8=ACCEPT", "IMAP4REV2"}:
            self._utf8 = True
        if new:
            self._write(Enabled(capabilities=tuple(new)))
        self._tagged(tag, "OK", "ENABLE completed")
        return None

    def _compress(self, tag: str, cmd: Compress) -> ServerEvent:
        offered = any(c.upper() == "COMPRESS=DEFLATE" for c in self.config.capabilities)
        if not offered or cmd.mechanism.upper() != "DEFLATE":
            return self._refuse(
                b"%s BAD COMPRESS not available\r\n" % tag.encode(), "COMPRESS not offered", tag
            )
        if self._compressed:
            code = ResponseCode(name="COMPRESSIONACTIVE")
            self._tagged(tag, "NO", "Compression already active", code)
            return CommandError(tag=tag, message="compression already active", reply=b"")
        self._tagged(tag, "OK", "DEFLATE active")
        self._compressed = True
        # RFC 4978 section 3: compression starts right after the OK; anything
        # already received past the command is compressed data.
        return CompressRequested(tag=tag, mechanism="DEFLATE", pending=self._framer.take_unread())

    # -- AUTHENTICATE -------------------------------------------------------------

    def _authenticate(self, tag: str, cmd: Authenticate) -> ServerEvent | None:
        mech_name = cmd.mechanism.upper()
        if mech_name not in self._mechanisms():
            return self._refuse(
                b"%s NO Unsupported authentication mechanism\r\n" % tag.encode(),
                f"mechanism {mech_name} not offered",
                tag,
            )
        mech = self.config.sasl_factory(mech_name, self._channel_binding)
        self._current = cmd
        self._current_name = "AUTHENTICATE"
        self._auth = (tag, mech_name, mech)
        initial = None if cmd.initial_response is None else cmd.initial_response.expose()
        return self._sasl_step(mech.start(initial))

    def _sasl_step(self, step: Step) -> ServerEvent | None:
        assert self._auth is not None
        tag, name, _ = self._auth
        if isinstance(step, Challenge):
            self._out.append(b"+ " + b64encode(step.data) + b"\r\n")
            self._auth_wait = "line"
            return None
        if isinstance(step, Request):
            self._auth_wait = "answer"
            return SaslRequest(tag=tag, mechanism=name, request=step)
        self._auth = None
        self._auth_wait = ""
        if isinstance(step, Success):
            # The application authorises the identity and completes.
            return SaslAuthenticated(
                tag=tag, mechanism=name, authcid=step.authcid, authzid=step.authzid
            )
        assert isinstance(step, Failure)
        self._current = None
        code = ResponseCode(name="AUTHENTICATIONFAILED")
        self._tagged(tag, "NO", "Authentication failed", code)
        return AuthenticationFailed(tag=tag, mechanism=name, reason=step.reason)

    def _sasl_line(self, fragments: tuple[object, ...]) -> ServerEvent | None:
        assert self._auth is not None
        tag, name, mech = self._auth
        line = fragments[0] if len(fragments) == 1 else None
        if not isinstance(line, bytes):
            mech.cancel()
            return self._sasl_bad(tag, name, "Invalid SASL response", "invalid response")
        if line == b"*":
            # RFC 9051 6.2.2: a cancelled exchange is answered with BAD.
            mech.cancel()
            return self._sasl_bad(tag, name, "Authentication cancelled", "cancelled by the client")
        try:
            data = b64decode_strict(line)
        except InvalidBase64Error:
            mech.cancel()
            return self._sasl_bad(tag, name, "Invalid base64", "invalid base64")
        self._auth_wait = ""
        return self._sasl_step(mech.receive(data))

    def _sasl_bad(self, tag: str, name: str, text: str, reason: str) -> ServerEvent:
        self._auth = None
        self._auth_wait = ""
        self._current = None
        self._tagged(tag, "BAD", text)
        return AuthenticationFailed(tag=tag, mechanism=name, reason=reason)

    def answer_sasl(self, result: object) -> None:
        """Answer a SaslRequest with what its request type expects."""
        if self._auth is None or self._auth_wait != "answer":
            raise LocalProtocolError("no SASL request is pending")
        self._auth_wait = ""
        ev = self._sasl_step(self._auth[2].answer(result))
        if ev is not None:
            self._events.append(ev)

    # -- answers ------------------------------------------------------------------

    def send(self, response: Response) -> None:
        """Queue an untagged response for the command being answered (or an
        update, see :meth:`push_update`); a tagged Status completes it."""
        if isinstance(response, ContinuationRequest):
            raise LocalProtocolError("continuation requests are the connection's")
        if isinstance(response, Status) and response.tag is not None:
            self.complete(response.status, response.text, response.code, tag=str(response.tag))
            return
        if isinstance(response, Status) and response.status == "PREAUTH":
            raise LocalProtocolError("PREAUTH only in the greeting")
        if self._is_expunge(response) and not self._expunge_allowed():
            self._deferred.append(response)
            return
        if self.state in (State.ERROR, State.CLOSED, State.STARTING_TLS) or (
            self.state is State.LOGOUT and self._current_name != "LOGOUT"
        ):
            raise LocalProtocolError(f"cannot send in state {self.state.value}")
        self._write(response)
        if isinstance(response, Status) and response.status == "BYE":
            self._session.fire(Transition.BYE)
            if self._current_name != "LOGOUT":
                # A BYE outside LOGOUT ends the session (RFC 9051 7.1.5).
                self._current = None
                self._current_name = ""

    def start_fetch_body(self, response: Fetch) -> None:
        """Begin ``* n FETCH (...)`` with one body sent in pieces: the
        section of ``response`` whose ``data`` is a
        ``StreamedLiteral(length, binary)`` goes last, as a literal (literal8
        when binary) of that length, its octets through
        :meth:`send_fetch_data`, then :meth:`end_fetch_body`.  Lets a server
        stream a large body without holding it."""
        if self._current_name not in ("FETCH", "UID FETCH") or self._streaming is not None:
            raise LocalProtocolError("a streamed FETCH body only while answering FETCH")
        streamed = [x for x in response.sections if isinstance(x.data, StreamedLiteral)]
        if len(streamed) != 1:
            raise LocalProtocolError("exactly one section must be a StreamedLiteral")
        body = streamed[0]
        others = tuple(x for x in response.sections if x is not body)
        w = Writer(server=True, utf8=self._utf8)
        w.raw(b"* %d FETCH " % response.seq)
        try:
            write_fetch_items(w, replace(response, sections=others))
        except LocalProtocolError:
            head = b"".join(w.parts[:1]) + b"("  # no other item
        else:
            head = b"".join(w.parts)[:-1] + b" "  # the items, without ")"
        name = (b"BINARY[" if body.binary else b"BODY[") + section_bytes(body.section) + b"]"
        if body.origin is not None:
            name += b"<%d>" % body.origin
        length = body.data.length
        mark = b"~{%d}\r\n" if body.data.binary else b"{%d}\r\n"
        self._out.append(head + name + b" " + mark % length)
        self._streaming = length

    def send_fetch_data(self, data: bytes) -> None:
        """Some octets of the body started by :meth:`start_fetch_body`."""
        if self._streaming is None or len(data) > self._streaming:
            raise LocalProtocolError("more octets than the FETCH body announced")
        self._streaming -= len(data)
        self._out.append(data)

    def end_fetch_body(self) -> None:
        """Close the FETCH response once every announced octet was sent."""
        if self._streaming != 0:
            raise LocalProtocolError("the FETCH body is not complete")
        self._streaming = None
        self._out.append(b")\r\n")

    def push_update(self, response: Response) -> None:
        """An untagged mailbox update (EXISTS, RECENT, EXPUNGE, VANISHED,
        FETCH, FLAGS).  EXPUNGE and VANISHED wait for a moment RFC 9051 7.5.1
        allows (a command in progress other than FETCH, STORE or SEARCH, or
        IDLE); the others go now."""
        if not isinstance(response, _UPDATES):
            raise LocalProtocolError(f"not a mailbox update: {type(response).__name__}")
        if self.state is not State.SELECTED and self._current_name not in ("SELECT", "EXAMINE"):
            raise LocalProtocolError("mailbox updates only in the selected state")
        if self._is_expunge(response) and not self._expunge_allowed():
            self._deferred.append(response)
            return
        self._write(response)

    @staticmethod
    def _is_expunge(response: Response) -> bool:
        return isinstance(response, Expunge) or (
            isinstance(response, Vanished) and not response.earlier
        )

    def _expunge_allowed(self) -> bool:
        if self._idle_tag is not None:
            return True
        return self._current is not None and self._current_name not in _NO_EXPUNGE_DURING

    def _flush_deferred(self) -> None:
        if self._deferred and self.state is State.SELECTED and self._expunge_allowed():
            for r in self._deferred:
                self._write(r)
            self._deferred.clear()

    def complete(
        self,
        status: str = "OK",
        text: str = "",
        code: ResponseCode | None = None,
        *,
        tag: str | None = None,
    ) -> None:
        """Complete the command being answered with a tagged OK, NO or BAD."""
        cmd = self._current
        if cmd is None:
            raise LocalProtocolError("no command is being answered")
        cmd_tag = str(cmd.tag)  # type: ignore[union-attr]
        if tag is not None and tag != cmd_tag:
            raise LocalProtocolError(f"tag {tag} is not the command being answered")
        if status not in ("OK", "NO", "BAD"):
            raise LocalProtocolError("a command completes with OK, NO or BAD")
        if self._auth_wait:
            raise LocalProtocolError("the AUTHENTICATE exchange is still running")
        if self._streaming is not None:
            raise LocalProtocolError("a streamed FETCH body is not complete")
        name = self._current_name
        if name == "LOGOUT" and self.state is not State.LOGOUT:
            # RFC 9051 6.1.3: BYE, then the tagged OK.
            self._write(Status(tag=None, status="BYE", text="Logging out"))
            self._session.fire(Transition.BYE)
        if status == "OK" or name in ("SELECT", "EXAMINE"):
            # Deferred expunges go before the tagged reply of a command that
            # allows them (and before a SELECT moves to another mailbox).
            self._flush_deferred()
        if name in ("SELECT", "EXAMINE"):
            self._deferred.clear()
        text = text or f"{name} completed"
        self._tagged(cmd_tag, status, text, code)
        self._current = None
        self._current_name = ""
        self._idle_tag = None
        trans = transition_for(name, status)
        if trans is not None and self.state is not State.LOGOUT:
            self._session.fire(trans)
            if trans is Transition.UNSELECTED or trans is Transition.SELECT_FAILED:
                self._deferred.clear()

    def _end_idle(self, status: str, text: str) -> None:
        tag = self._idle_tag
        assert tag is not None
        self._flush_deferred()
        self._tagged(tag, status, text)
        self._idle_tag = None
        self._current = None
        self._current_name = ""
