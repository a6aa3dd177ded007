"""The SMTP/LMTP server connection, sans-IO (RFC 5321, 1870, 2033, 2034, 2920,
3030, 3207, 3461, 4954, 6152, 6531, 8689)."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar, NoReturn

from .._sentinel import NEED_DATA, NeedData
from ..errors import (
    BareLineEndingError,
    LineTooLongError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from ..sasl import SERVER_MECHANISMS, create_server
from ..sasl._base import Challenge, Failure, Request, ServerMechanism, Step, Success
from ..wire import (
    CANCEL,
    BareLineEndingPolicy,
    DotUnstuffer,
    InvalidBase64Error,
    ReceiveBuffer,
    b64encode,
    parse_initial_response,
    parse_response,
)
from . import _grammar as g
from ._events import (
    Authenticated,
    AuthFailed,
    AuthRequest,
    BadCommand,
    ConnectionClosed,
    Event,
    Hello,
    Help,
    MailFrom,
    MessageData,
    MessageEnd,
    MessageRejected,
    MessageStart,
    Noop,
    Quit,
    RcptTo,
    Reset,
    StartTLS,
    Verify,
)
from ._parse import CommandError, parse_mail, parse_rcpt
from ._state import COMMAND_STATES, State, Verb, transition
from ._types import Body, Extension, MailParams, Reply, ServerConfig, make_reply

__all__ = ["ServerConnection"]

_VERBS = {v.value.encode("ascii"): v for v in Verb}
_PLAINTEXT_MECHANISMS = frozenset(
    name for name, cls in SERVER_MECHANISMS.items() if cls.plaintext
) | {"PLAIN", "LOGIN"}
# Commands allowed before STARTTLS when TLS is required (RFC 3207 4).
_BEFORE_TLS = frozenset(
    {Verb.EHLO, Verb.HELO, Verb.LHLO, Verb.STARTTLS, Verb.NOOP, Verb.RSET, Verb.QUIT}
)
# Commands that need authentication when it is required (RFC 4954 6).
_NEED_AUTH = frozenset({Verb.MAIL, Verb.RCPT, Verb.DATA, Verb.BDAT, Verb.VRFY})


def _r(code: int, enhanced: str | None, text: str) -> Reply:
    return make_reply(code, enhanced, (text,))


_BAD_SEQUENCE = _r(503, "5.5.1", "Bad sequence of commands")
_UNRECOGNIZED = _r(500, "5.5.1", "Command unrecognized")
_NOT_IMPLEMENTED = _r(502, "5.5.1", "Command not implemented")
_LINE_TOO_LONG = _r(500, "5.5.2", "Line too long")
_BARE_LINE_ENDING = _r(500, "5.5.2", "Bare CR or LF in command line")
_NO_ARGS = _r(501, "5.5.4", "No parameters allowed")
_TLS_REQUIRED = _r(530, "5.7.0", "Must issue a STARTTLS command first")
_AUTH_REQUIRED = _r(530, "5.7.0", "Authentication required")
_TOO_MANY_RCPTS = _r(452, "4.5.3", "Too many recipients")
_TOO_BIG = _r(552, "5.3.4", "Message size exceeds fixed maximum message size")
_BARE_IN_DATA = _r(550, "5.6.0", "Message contains bare CR or LF")
_TEXT_LINE_TOO_LONG = _r(550, "5.6.0", "Message contains a line longer than allowed")
_AUTH_FAILED = _r(535, "5.7.8", "Authentication credentials invalid")
_AUTH_CANCELLED = _r(501, "5.0.0", "Authentication cancelled")
_AUTH_BAD_B64 = _r(501, "5.5.2", "Cannot decode response")
_AUTH_LINE_TOO_LONG = _r(500, "5.5.6", "Authentication exchange line is too long")

_DEFAULTS: dict[type[Event], Reply] = {
    MailFrom: _r(250, "2.1.0", "Sender OK"),
    RcptTo: _r(250, "2.1.5", "Recipient OK"),
    MessageEnd: _r(250, "2.0.0", "Message accepted for delivery"),
    Verify: _r(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"),
    Authenticated: _r(235, "2.7.0", "Authentication successful"),
}


_CONSTANT_IDS = frozenset(
    id(v) for v in (*list(globals().values()), *_DEFAULTS.values()) if isinstance(v, Reply)
)
_WIRE_CACHE: dict[tuple[int, bool], bytes] = {}


def _default_sasl_factory(name: str, *, channel_binding: bytes | None = None) -> ServerMechanism:
    return create_server(name, channel_binding=channel_binding)


class ServerConnection:
    """One SMTP (or, with ``config.lmtp``, LMTP) session seen from the server.

    Feed bytes with :meth:`receive_data`, pull events with :meth:`next_event`
    until it returns ``NEED_DATA``, send :meth:`data_to_send`.  Events that
    ask a question (:class:`MailFrom`, :class:`RcptTo`, :class:`MessageEnd`,
    :class:`Verify`, :class:`Authenticated`, :class:`AuthRequest`) must be
    answered (:meth:`reply`, :meth:`answer_auth`) before the next command is
    read; until then ``next_event()`` returns ``NEED_DATA`` and
    :attr:`pending` names the question.
    """

    def __init__(self, config: ServerConfig | None = None, *, tls_active: bool = False) -> None:
        self.config = cfg = config or ServerConfig()
        self.tls_active = tls_active
        self.state = State.GREETING
        self.helo: str | None = None
        self.esmtp = False
        self.authenticated: str | None = None
        self.channel_binding: bytes | None = None
        self._buf = ReceiveBuffer()
        self._out: list[bytes] = []
        self._queued = 0
        self._events: deque[Event] = deque()
        self._pending: Event | None = None
        self._pending_count = 0
        self._question: Event | None = None
        self._question_count = 0
        self._eof = False
        self._closed_reported = False
        self._skipping = False
        self._errors = 0
        self._esc = Extension.ENHANCEDSTATUSCODES in cfg.extensions
        self._greeted = False
        # The transaction.
        self._mail: MailParams | None = None
        self._sender: str | None = None
        self._recipients: list[str] = []
        self._rcpt_count = 0
        # Message reading.
        self._unstuffer: DotUnstuffer | None = None
        self._size = 0
        self._rejected: Reply | None = None
        self._reject_reason = ""
        self._line_len = 0
        self._bdat_left = 0
        self._bdat_last = False
        self._bdat_drain = False
        self._bdat_started = False
        self._after_drain = State.READY
        # SASL.
        self._mech: ServerMechanism | None = None
        self._mech_name = ""
        if not cfg.defer_greeting:
            self.greet()

    def __repr__(self) -> str:
        return f"<smtp.ServerConnection state={self.state.value} pending={self.pending}>"

    # -- the sans-IO contract ------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer received bytes; ``b""`` means the client closed."""
        if data:
            if self._eof:
                raise LocalProtocolError("data received after end of stream")
            self._buf.feed(data)
        else:
            self._eof = True

    def data_to_send(self) -> bytes:
        """Everything queued to send, in order (replies are batched, RFC 2920)."""
        out = b"".join(self._out)
        self._out.clear()
        self._queued = 0
        if out:
            self._greeted = True
        return out

    @property
    def pending(self) -> str | None:
        """The name of the event waiting for an answer, if any."""
        return None if self._pending is None else type(self._pending).__name__

    def next_event(self) -> Event | NeedData:
        """The next event, or ``NEED_DATA``."""
        ev = self._next_event()
        question = self._question
        if question is not None and ev is question:
            # A question is pending from the moment the application sees it.
            self._pending = question
            self._pending_count = self._question_count
            self._question = None
        return ev

    def _next_event(self) -> Event | NeedData:
        while True:
            if self._events:
                return self._events.popleft()
            if (
                self._pending is not None
                or self._question is not None
                or self._queued >= self.config.max_pipelined
            ):
                return NEED_DATA
            state = self.state
            size = len(self._buf)
            ev: Event | NeedData = self._READERS[state](self)
            if ev is not NEED_DATA:
                return ev
            if self._events:
                return self._events.popleft()
            if len(self._buf) != size or self.state is not state:
                continue  # progress without an event (a challenge, a drained chunk)
            if self._eof and not self._closed_reported:
                self._closed_reported = True
                self.state = State.CLOSED
                return ConnectionClosed()
            return NEED_DATA

    def _read_error(self) -> NeedData:
        raise RemoteProtocolError("the connection failed earlier")

    def _read_closed(self) -> NeedData:
        self._buf.consume(len(self._buf))  # whatever follows QUIT is ignored
        return NEED_DATA

    def send(self, event: Reply) -> None:
        """Answer the pending question with ``event`` (same as :meth:`reply`)."""
        if not isinstance(event, Reply):
            raise LocalProtocolError("a server sends Reply objects")
        self.reply(event)

    # -- the application's side --------------------------------------------------------

    def greet(self, reply: Reply | None = None) -> None:
        """Queue the greeting (done at construction unless ``defer_greeting``)."""
        if self._greeted or self._out:
            raise LocalProtocolError("already greeted")
        cfg = self.config
        if reply is None:
            kind = "LMTP" if cfg.lmtp else "ESMTP"
            reply = _r(220, None, cfg.greeting or f"{cfg.hostname} {kind} protokit ready")
        elif reply.code != 220:
            raise LocalProtocolError("a greeting is a 220 reply; use refuse() for 554")
        self._out.append(reply.to_bytes(enhanced=False))

    def refuse(self, reply: Reply | None = None) -> None:
        """Refuse the session instead of greeting (RFC 5321 3.1): 554, then only
        QUIT is answered (221), every other command gets 503."""
        if self._greeted:
            raise LocalProtocolError("the greeting was already sent")
        if reply is None:
            reply = _r(554, None, f"{self.config.hostname} Service not available")
        elif reply.code not in (554, 421):
            raise LocalProtocolError("refuse with 554 (or 421)")
        self._out = [reply.to_bytes(enhanced=False)]
        self.state = State.REFUSED

    def reply(self, reply: Reply | None = None) -> None:
        """Answer the pending event; ``None`` gives the default positive reply."""
        ev = self._pending
        if ev is None:
            raise LocalProtocolError("no event is waiting for a reply")
        if reply is None:
            reply = _DEFAULTS[type(ev)]
        elif not isinstance(reply, Reply):
            raise LocalProtocolError("reply() takes a Reply")
        ok = reply.code < 400
        if isinstance(ev, MailFrom):
            if ok:
                self._sender = ev.sender
                self._mail = ev.params
                self._recipients = []
                self._rcpt_count = 0
                self.state = State.MAIL
        elif isinstance(ev, RcptTo):
            if ok:
                self._recipients.append(ev.recipient)
                self.state = State.RCPT
        elif isinstance(ev, Authenticated):
            if ok and reply.code != 235:
                raise LocalProtocolError("a successful AUTH is answered with 235")
            if ok:
                self.authenticated = ev.authzid or ev.authcid
            self._end_auth()
        elif isinstance(ev, MessageEnd):
            self._pending_count -= 1
            self._emit(reply)
            if self._pending_count > 0:
                return
            self._pending = None
            self._reset_transaction()
            return
        self._pending = None
        self._emit(reply)

    def answer_auth(self, result: object) -> None:
        """Answer the pending :class:`AuthRequest` (see the request's class)."""
        ev = self._pending
        if not isinstance(ev, AuthRequest) or self._mech is None:
            raise LocalProtocolError("no authentication request is pending")
        self._pending = None
        ev2 = self._auth_step(self._mech.answer(result))
        if ev2 is not NEED_DATA:
            self._events.append(ev2)

    def start_tls_done(self, *, channel_binding: bytes | None = None) -> None:
        """The binding has wrapped TLS: the session starts over (RFC 3207 4.2)."""
        if self.state is not State.TLS:
            raise LocalProtocolError("STARTTLS was not accepted")
        if self._buf and not self.config.discard_after_starttls:
            self.state = State.ERROR
            raise RemoteProtocolError("plaintext pipelined after STARTTLS")
        self._buf.consume(len(self._buf))
        self.tls_active = True
        self.channel_binding = channel_binding
        self.helo = None
        self.esmtp = False
        self.authenticated = None
        self._reset_transaction()
        self.state = State.GREETING

    # -- helpers ------------------------------------------------------------------------------

    def _emit(self, reply: Reply) -> None:
        # The server's own replies are constants: encode each once.
        key = (id(reply), self._esc)
        wire = _WIRE_CACHE.get(key)
        if wire is None:
            wire = reply.to_bytes(enhanced=self._esc)
            if id(reply) in _CONSTANT_IDS:
                _WIRE_CACHE[key] = wire
        self._out.append(wire)
        self._queued += 1

    def _bad(self, reply: Reply, reason: str | None = None) -> BadCommand:
        self._errors += 1
        if self._errors > self.config.max_bad_commands:
            self._fatal("too many bad commands", "Too many errors")
        self._emit(reply)
        return BadCommand(reply=reply, reason=reason or reply.lines[0])

    def _fatal(self, message: str, text: str) -> NoReturn:
        """A violation that ends the session: raise with the 421 to send."""
        self.state = State.ERROR
        closing = _r(421, "4.7.0", f"{self.config.hostname} {text}, closing connection")
        raise RemoteProtocolError(message, reply=closing.to_bytes(enhanced=self._esc))

    def _ask(self, ev: Event, count: int = 1) -> Event:
        self._question = ev
        self._question_count = count
        return ev

    def _reset_transaction(self) -> None:
        self._mail = None
        self._sender = None
        self._recipients = []
        self._rcpt_count = 0
        self._unstuffer = None
        self._size = 0
        self._rejected = None
        self._bdat_started = False
        if self.state not in (State.GREETING, State.REFUSED, State.CLOSED, State.TLS):
            self.state = State.READY if self.helo is not None else State.GREETING

    # -- commands -----------------------------------------------------------------------

    def _read_command(self) -> Event | NeedData:
        buf = self._buf
        cfg = self.config
        if self._skipping:
            if not buf.skip_line():
                return NEED_DATA
            self._skipping = False
        head = buf.raw[:5].upper()
        if head == b"AUTH ":
            limit = cfg.max_auth_line
        elif (head == b"MAIL " or head == b"RCPT ") and Extension.DSN in cfg.extensions:
            limit = cfg.max_command_line + 512  # RFC 3461 5: ORCPT, ENVID
        else:
            limit = cfg.max_command_line
        try:
            line = buf.extract_line(limit - 2)
        except LineTooLongError as exc:
            if not exc.complete:
                self._skipping = True
            return self._bad(_LINE_TOO_LONG)
        except BareLineEndingError:
            return self._bad(_BARE_LINE_ENDING)
        if line is None:
            return NEED_DATA
        sp = line.find(b" ")
        word = (line if sp < 0 else line[:sp]).upper()
        verb = _VERBS.get(word)
        if verb is None:
            if word == b"EXPN":
                return self._bad(_NOT_IMPLEMENTED)
            if g.HTTP_REQUEST.fullmatch(line):
                # ALPACA / cross-protocol: an HTTP client; close, reflect nothing.
                self._fatal("an HTTP request on the SMTP port", "Not an SMTP client")
            return self._bad(_UNRECOGNIZED)
        arg = b"" if sp < 0 else line[sp + 1 :]
        if cfg.lmtp:
            if verb in (Verb.EHLO, Verb.HELO):
                return self._bad(_UNRECOGNIZED, "LMTP needs LHLO")
        elif verb is Verb.LHLO:
            return self._bad(_UNRECOGNIZED)
        if verb is Verb.BDAT:
            return self._bdat(arg)
        new = transition(self.state, verb)
        if new is None:
            return self._bad(_BAD_SEQUENCE)
        if cfg.require_tls and not self.tls_active and verb not in _BEFORE_TLS:
            return self._bad(_TLS_REQUIRED)
        if cfg.auth_required and self.authenticated is None and verb in _NEED_AUTH:
            return self._bad(_AUTH_REQUIRED)
        try:
            ev: Event | NeedData = self._HANDLERS[verb](self, line, arg, new)
            return ev
        except CommandError as exc:
            return self._bad(exc.smtp_reply)

    def _hello(self, line: bytes, arg: bytes, new: State) -> Event:
        verb = line[:4].upper().decode("ascii")
        if g.HELO_ARG.fullmatch(arg) is None:
            return self._bad(_r(501, "5.5.4", "Syntax: " + verb + " domain"))
        cfg = self.config
        self._reset_transaction()
        self.helo = domain = arg.decode("utf-8", "replace")
        self.esmtp = verb != "HELO"
        self.state = new
        first = f"{cfg.hostname} Hello {domain}"
        if not self.esmtp:
            self._emit(_r(250, None, first))
        else:
            self._emit(make_reply(250, None, (first, *self._extension_lines())))
        return Hello(verb=verb, domain=domain)

    def _extension_lines(self) -> list[str]:
        cfg = self.config
        ext = cfg.extensions
        lines = []
        for e in (
            Extension.PIPELINING,
            Extension.SIZE,
            Extension.EIGHTBITMIME,
            Extension.SMTPUTF8,
            Extension.CHUNKING,
            Extension.BINARYMIME,
            Extension.DSN,
            Extension.ENHANCEDSTATUSCODES,
        ):
            if e not in ext:
                continue
            if e is Extension.SIZE:
                lines.append(f"SIZE {cfg.max_message_size}")
            else:
                lines.append(e.value)
        if cfg.starttls and not self.tls_active:
            lines.append("STARTTLS")
        mechs = self._offered_mechanisms()
        if mechs and self.authenticated is None:
            lines.append("AUTH " + " ".join(mechs))
        if cfg.requiretls and self.tls_active:
            lines.append("REQUIRETLS")
        return lines

    def _offered_mechanisms(self) -> list[str]:
        cfg = self.config
        plain_ok = self.tls_active or cfg.allow_plaintext_auth
        return [
            m.upper()
            for m in cfg.auth_mechanisms
            if plain_ok or m.upper() not in _PLAINTEXT_MECHANISMS
        ]

    def _mail_from(self, line: bytes, arg: bytes, new: State) -> Event:
        cfg = self.config
        sender, params = parse_mail(
            line,
            cfg.extensions,
            max_size=cfg.max_message_size if Extension.SIZE in cfg.extensions else None,
            auth=bool(cfg.auth_mechanisms),
            requiretls=cfg.requiretls and self.tls_active,
        )
        if not self.esmtp and (params.body or params.size is not None or params.smtputf8):
            # RFC 5321 4.1.1.11: parameters need EHLO
            return self._bad(_r(555, "5.5.4", "Parameters need EHLO"))
        return self._ask(MailFrom(sender=sender, params=params))

    def _rcpt_to(self, line: bytes, arg: bytes, new: State) -> Event:
        cfg = self.config
        utf8 = self._mail is not None and self._mail.smtputf8
        recipient, params = parse_rcpt(line, cfg.extensions, utf8=utf8)
        if recipient.lower() == "postmaster":
            recipient = "Postmaster"
        if len(self._recipients) >= cfg.max_recipients:
            # RFC 5321 4.5.3.1.10: 452 and the client sends the rest later.
            return self._bad(_TOO_MANY_RCPTS)
        return self._ask(RcptTo(recipient=recipient, params=params))

    def _data(self, line: bytes, arg: bytes, new: State) -> Event:
        if arg:
            return self._bad(_NO_ARGS)
        if self._mail is not None and self._mail.body is Body.BINARYMIME:
            # RFC 3030 3: BINARYMIME bodies go by BDAT only.
            return self._bad(_r(503, "5.5.1", "BINARYMIME requires BDAT"))
        self.state = State.DATA
        self._unstuffer = DotUnstuffer(self.config.bare_line_ending)
        self._size = 0
        self._line_len = 0
        self._rejected = None
        self._emit(_r(354, None, "End data with <CR><LF>.<CR><LF>"))
        return MessageStart(chunked=False)

    def _simple(self, line: bytes, arg: bytes, new: State) -> Event:
        verb = line[:4].upper()
        cfg = self.config
        if verb == b"NOOP":
            self._emit(_r(250, "2.0.0", "OK"))
            return Noop()
        if verb == b"QUIT":
            self._emit(_r(221, "2.0.0", f"{cfg.hostname} closing connection"))
            self.state = State.CLOSED
            return Quit()
        if arg:
            return self._bad(_NO_ARGS)
        self._reset_transaction()
        self._emit(_r(250, "2.0.0", "Reset state"))
        return Reset()

    def _vrfy(self, line: bytes, arg: bytes, new: State) -> Event:
        if not arg:
            return self._bad(_r(501, "5.5.4", "Syntax: VRFY address"))
        return self._ask(Verify(argument=arg.decode("utf-8", "replace")))

    def _help(self, line: bytes, arg: bytes, new: State) -> Event:
        self._emit(_r(214, "2.0.0", "See RFC 5321"))
        return Help(topic=arg.decode("utf-8", "replace") if arg else None)

    def _starttls(self, line: bytes, arg: bytes, new: State) -> Event:
        cfg = self.config
        if not cfg.starttls:
            return self._bad(_NOT_IMPLEMENTED)
        if self.tls_active:
            return self._bad(_r(503, "5.5.1", "TLS already active"))
        if arg:
            return self._bad(_r(501, "5.5.4", "Syntax: STARTTLS"))
        if self._buf and not cfg.discard_after_starttls:
            # CVE-2011-0411: commands pipelined after STARTTLS must never run
            # after the upgrade.  Refuse and close.
            self._fatal("commands pipelined after STARTTLS", "Commands pipelined after STARTTLS")
        self._buf.consume(len(self._buf))
        self._emit(_r(220, "2.0.0", "Ready to start TLS"))
        self.state = State.TLS
        return StartTLS()

    def _check_tls_injection(self) -> NeedData:
        if self._buf and not self.config.discard_after_starttls:
            # The 220 may be on its way: the reply is for the log, not the wire.
            self._fatal("plaintext received after STARTTLS", "Plaintext after STARTTLS")
        return NEED_DATA

    # -- AUTH (RFC 4954) -------------------------------------------------------------------------

    def _auth(self, line: bytes, arg: bytes, new: State) -> Event | NeedData:
        cfg = self.config
        if not cfg.auth_mechanisms:
            return self._bad(_NOT_IMPLEMENTED)
        if self.authenticated is not None:
            return self._bad(_r(503, "5.5.1", "Already authenticated"))
        m = g.AUTH_ARGS.fullmatch(arg)
        if m is None:
            return self._bad(_r(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"))
        name = m.group(1).decode("ascii").upper()
        if name not in (x.upper() for x in cfg.auth_mechanisms):
            return self._bad(_r(504, "5.5.4", "Unrecognized authentication type"))
        if name not in self._offered_mechanisms():
            return self._bad(
                _r(538, "5.7.11", "Encryption required for requested authentication mechanism")
            )
        try:
            initial = parse_initial_response(m.group(2))
        except InvalidBase64Error:
            return self._bad(_AUTH_BAD_B64)
        factory: Any = cfg.sasl_factory or _default_sasl_factory
        try:
            mech: ServerMechanism = factory(name, channel_binding=self.channel_binding)
        except (KeyError, ValueError, ProtocolError):
            return self._bad(_r(504, "5.5.4", "Unrecognized authentication type"))
        if mech.plaintext and not (self.tls_active or cfg.allow_plaintext_auth):
            return self._bad(
                _r(538, "5.7.11", "Encryption required for requested authentication mechanism")
            )
        # RFC 4954 4: SMTP carries no data with 235; a mechanism's final data
        # (SCRAM's server signature) goes as a last 334 challenge.
        mech.success_data_as_challenge = True
        self._mech = mech
        self._mech_name = name
        self.state = State.AUTH
        return self._auth_step(mech.start(initial))

    def _auth_step(self, step: Step) -> Event | NeedData:
        name = self._mech_name
        if isinstance(step, Challenge):
            self._out.append(b"334 " + b64encode(step.data) + b"\r\n")
            self._queued += 1
            return NEED_DATA
        if isinstance(step, Request):
            return self._ask(AuthRequest(mechanism=name, request=step))
        if isinstance(step, Success):
            return self._ask(
                Authenticated(mechanism=name, authcid=step.authcid, authzid=step.authzid)
            )
        return self._auth_failed(step, _AUTH_FAILED)

    def _auth_failed(self, step: Failure, reply: Reply) -> Event:
        self._end_auth()
        self._emit(reply)
        return AuthFailed(mechanism=self._mech_name, reason=step.reason)

    def _end_auth(self) -> None:
        self._mech = None
        if self.state is State.AUTH:
            self.state = State.READY

    def _read_auth(self) -> Event | NeedData:
        mech = self._mech
        assert mech is not None
        try:
            line = self._buf.extract_line(self.config.max_auth_line - 2)
        except LineTooLongError as exc:
            if not exc.complete:
                self._skipping = True
            return self._auth_failed(mech.cancel(), _AUTH_LINE_TOO_LONG)
        except BareLineEndingError:
            return self._auth_failed(mech.cancel(), _AUTH_BAD_B64)
        if line is None:
            return NEED_DATA
        try:
            response = parse_response(line)
        except InvalidBase64Error:
            return self._auth_failed(mech.cancel(), _AUTH_BAD_B64)
        if response is CANCEL:
            return self._auth_failed(mech.cancel(), _AUTH_CANCELLED)
        return self._auth_step(mech.receive(response))

    # -- DATA (RFC 5321 4.1.1.4) ------------------------------------------------

    def _read_data(self) -> Event | NeedData:
        un = self._unstuffer
        assert un is not None
        chunk = un.read(self._buf, self.config.max_chunk)
        ev: Event | NeedData = NEED_DATA
        if chunk:
            self._size += len(chunk)
            if self._rejected is None:
                self._check_chunk(chunk)
            if self._rejected is None:
                ev = MessageData(data=chunk)
        if un.done:
            end = self._end_message(un.bare_cr + un.bare_lf)
            if ev is NEED_DATA:
                return end
            self._events.append(end)
        return ev

    def _check_chunk(self, chunk: bytes) -> None:
        cfg = self.config
        if self._size > cfg.max_message_size:
            self._rejected, self._reject_reason = _TOO_BIG, "message too big"
            return
        if self._line_too_long(chunk):
            self._rejected, self._reject_reason = _TEXT_LINE_TOO_LONG, "line too long"

    def _line_too_long(self, chunk: bytes) -> bool:
        """RFC 5321 4.5.3.1.6: a text line is at most ``max_text_line`` octets
        with its CRLF.  Checked without a Python step per line: a line that
        long holds a whole aligned window of half the limit with no LF, so
        only windows are probed, and only a window without LF is measured."""
        limit = self.config.max_text_line
        first = chunk.find(b"\n")
        if first < 0:
            self._line_len += len(chunk)
            return self._line_len >= limit
        if self._line_len + first + 1 > limit:
            return True
        last = chunk.rfind(b"\n")
        self._line_len = len(chunk) - last - 1
        if self._line_len >= limit:
            return True
        half = limit // 2
        find = chunk.find
        k = first + 1
        while k + half <= last:
            if find(b"\n", k, k + half) >= 0:
                k += half
                continue
            start = chunk.rfind(b"\n", 0, k) + 1
            end = find(b"\n", k + half)
            if end - start + 1 > limit:
                return True
            k = end + 1
        return False

    def _end_message(self, bare: int) -> Event:
        rejected = self._rejected
        if (
            rejected is None
            and bare
            and self.config.bare_line_ending is BareLineEndingPolicy.REJECT
        ):
            rejected, self._reject_reason = _BARE_IN_DATA, "bare CR or LF"
        if rejected is not None:
            self._emit(rejected)
            reason = self._reject_reason
            self._reset_transaction()
            return MessageRejected(reply=rejected, reason=reason)
        recipients = tuple(self._recipients)
        ev = MessageEnd(size=self._size, recipients=recipients, bare_line_endings=bare)
        self.state = State.READY
        return self._ask(ev, len(recipients) if self.config.lmtp else 1)

    # -- BDAT (RFC 3030) ---------------------------------------------------------

    def _bdat(self, arg: bytes) -> Event | NeedData:
        cfg = self.config
        m = g.BDAT_ARGS.fullmatch(arg)
        if m is None:
            return self._bad(_r(501, "5.5.4", "Syntax: BDAT size [LAST]"))
        size = int(m.group(1))
        last = m.group(2) is not None
        reply: Reply | None = None
        if Extension.CHUNKING not in cfg.extensions:
            reply = _NOT_IMPLEMENTED
        elif cfg.require_tls and not self.tls_active:
            reply = _TLS_REQUIRED
        elif cfg.auth_required and self.authenticated is None:
            reply = _AUTH_REQUIRED
        elif transition(self.state, Verb.BDAT) is None:
            reply = _BAD_SEQUENCE
        elif self._size + size > cfg.max_message_size:
            reply = _TOO_BIG
        self._bdat_left = size
        self._bdat_last = last
        if reply is not None:
            # RFC 3030 2: the chunk is read and discarded, never taken as
            # commands; a failed chunk fails the transaction.
            started = self._bdat_started
            if self.state is State.CHUNKING or reply is _TOO_BIG:
                self._reset_transaction()  # RFC 3030 2: the transaction failed
            self._after_drain = self.state
            self._bdat_drain = True
            self.state = State.BDAT
            ev = self._bad(reply)
            if started and reply is _TOO_BIG:
                return MessageRejected(reply=reply, reason="message too big")
            return ev
        self._bdat_drain = False
        self.state = State.BDAT
        if not self._bdat_started:
            self._bdat_started = True
            self._size = 0
            return MessageStart(chunked=True)
        return self._read_bdat()

    def _read_bdat(self) -> Event | NeedData:
        buf = self._buf
        if self._bdat_drain:
            n = min(self._bdat_left, len(buf))
            buf.consume(n)
            self._bdat_left -= n
            if self._bdat_left:
                return NEED_DATA
            self._bdat_drain = False
            self.state = self._after_drain
            return self._read_command()
        if self._bdat_left:
            chunk = buf.extract_at_most(min(self._bdat_left, self.config.max_chunk))
            if not chunk:
                return NEED_DATA
            self._bdat_left -= len(chunk)
            self._size += len(chunk)
            if not self._bdat_left:
                self._finish_chunk()
            return MessageData(data=chunk)
        self._finish_chunk()
        if self._events:
            return self._events.popleft()
        return self._read_command()

    def _finish_chunk(self) -> None:
        if self._bdat_last:
            self._bdat_started = False
            self._events.append(self._end_message(0))
        else:
            self.state = State.CHUNKING
            self._emit(_r(250, "2.0.0", f"{self._size} octets received"))

    _READERS: ClassVar[dict[State, Any]] = {
        **dict.fromkeys(COMMAND_STATES, _read_command),
        State.DATA: _read_data,
        State.BDAT: _read_bdat,
        State.AUTH: _read_auth,
        State.TLS: _check_tls_injection,
        State.CLOSED: _read_closed,
        State.ERROR: _read_error,
    }

    _HANDLERS: ClassVar[dict[Verb, Any]] = {
        Verb.EHLO: _hello,
        Verb.HELO: _hello,
        Verb.LHLO: _hello,
        Verb.MAIL: _mail_from,
        Verb.RCPT: _rcpt_to,
        Verb.DATA: _data,
        Verb.RSET: _simple,
        Verb.NOOP: _simple,
        Verb.QUIT: _simple,
        Verb.VRFY: _vrfy,
        Verb.HELP: _help,
        Verb.STARTTLS: _starttls,
        Verb.AUTH: _auth,
    }
