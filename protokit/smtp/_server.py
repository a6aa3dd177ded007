"""The SMTP/LMTP server connection, sans-IO (RFC 5321, 1870, 2033, 2034, 2920,
3030, 3207, 3461, 4954, 6152, 6531, 8689)."""

from __future__ import annotations

from typing import Any, ClassVar

from .._sentinel import NEED_DATA, NeedData
from ..errors import (
    BareLineEndingError,
    LineTooLongError,
    LocalProtocolError,
    RemoteProtocolError,
)
from . import _grammar as g
from ._events import (
    Authenticated,
    ConnectionClosed,
    Event,
    Hello,
    Help,
    MailFrom,
    MessageEnd,
    Noop,
    Quit,
    RcptTo,
    Reset,
    StartTLS,
    Verify,
)
from ._parse import CommandError, parse_mail, parse_rcpt
from ._replies import (
    AUTH_REQUIRED,
    BAD_SEQUENCE,
    BARE_LINE_ENDING,
    DEFAULTS,
    LINE_TOO_LONG,
    NO_ARGS,
    NOT_IMPLEMENTED,
    TLS_REQUIRED,
    TOO_MANY_RCPTS,
    UNRECOGNIZED,
    r,
)
from ._server_auth import AuthMixin
from ._server_message import MessageMixin
from ._state import COMMAND_STATES, State, Verb, transition
from ._types import Extension, Reply, ServerConfig, make_reply

__all__ = ["ServerConnection"]

_VERBS = {v.value.encode("ascii"): v for v in Verb}
# Commands allowed before STARTTLS when TLS is required (RFC 3207 4).
_BEFORE_TLS = frozenset(
    {Verb.EHLO, Verb.HELO, Verb.LHLO, Verb.STARTTLS, Verb.NOOP, Verb.RSET, Verb.QUIT}
)
# Commands that need authentication when it is required (RFC 4954 6).
_NEED_AUTH = frozenset({Verb.MAIL, Verb.RCPT, Verb.DATA, Verb.BDAT, Verb.VRFY})


class ServerConnection(AuthMixin, MessageMixin):
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
        super().__init__(config, tls_active=tls_active)
        if not self.config.defer_greeting:
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
    def pending_plaintext(self) -> bytes:
        """Bytes received but not yet read as commands.  After a
        :class:`StartTLS` event a binding checks this is empty before the
        handshake (CVE-2011-0411: plaintext must never be read after it)."""
        return bytes(self._buf.raw)

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
            reply = r(220, None, cfg.greeting or f"{cfg.hostname} {kind} protokit ready")
        elif reply.code != 220:
            raise LocalProtocolError("a greeting is a 220 reply; use refuse() for 554")
        self._out.append(reply.to_bytes(enhanced=False))

    def refuse(self, reply: Reply | None = None) -> None:
        """Refuse the session instead of greeting (RFC 5321 3.1): 554, then only
        QUIT is answered (221), every other command gets 503."""
        if self._greeted:
            raise LocalProtocolError("the greeting was already sent")
        if reply is None:
            reply = r(554, None, f"{self.config.hostname} Service not available")
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
            reply = DEFAULTS[type(ev)]
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
            return self._bad(LINE_TOO_LONG)
        except BareLineEndingError:
            return self._bad(BARE_LINE_ENDING)
        if line is None:
            return NEED_DATA
        sp = line.find(b" ")
        word = (line if sp < 0 else line[:sp]).upper()
        verb = _VERBS.get(word)
        if verb is None:
            if word == b"EXPN":
                return self._bad(NOT_IMPLEMENTED)
            if g.HTTP_REQUEST.fullmatch(line):
                # ALPACA / cross-protocol: an HTTP client; close, reflect nothing.
                self._fatal("an HTTP request on the SMTP port", "Not an SMTP client")
            return self._bad(UNRECOGNIZED)
        arg = b"" if sp < 0 else line[sp + 1 :]
        if cfg.lmtp:
            if verb in (Verb.EHLO, Verb.HELO):
                return self._bad(UNRECOGNIZED, "LMTP needs LHLO")
        elif verb is Verb.LHLO:
            return self._bad(UNRECOGNIZED)
        if verb is Verb.BDAT:
            return self._bdat(arg)
        new = transition(self.state, verb)
        if new is None:
            return self._bad(BAD_SEQUENCE)
        if cfg.require_tls and not self.tls_active and verb not in _BEFORE_TLS:
            return self._bad(TLS_REQUIRED)
        if cfg.auth_required and self.authenticated is None and verb in _NEED_AUTH:
            return self._bad(AUTH_REQUIRED)
        try:
            ev: Event | NeedData = self._HANDLERS[verb](self, line, arg, new)
            return ev
        except CommandError as exc:
            return self._bad(exc.smtp_reply)

    def _hello(self, line: bytes, arg: bytes, new: State) -> Event:
        verb = line[:4].upper().decode("ascii")
        if g.HELO_ARG.fullmatch(arg) is None:
            return self._bad(r(501, "5.5.4", "Syntax: " + verb + " domain"))
        cfg = self.config
        self._reset_transaction()
        self.helo = domain = arg.decode("utf-8", "replace")
        self.esmtp = verb != "HELO"
        self.state = new
        first = f"{cfg.hostname} Hello {domain}"
        if not self.esmtp:
            self._emit(r(250, None, first))
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
            return self._bad(r(555, "5.5.4", "Parameters need EHLO"))
        return self._ask(MailFrom(sender=sender, params=params))

    def _rcpt_to(self, line: bytes, arg: bytes, new: State) -> Event:
        cfg = self.config
        utf8 = self._mail is not None and self._mail.smtputf8
        recipient, params = parse_rcpt(line, cfg.extensions, utf8=utf8)
        if recipient.lower() == "postmaster":
            recipient = "Postmaster"
        if len(self._recipients) >= cfg.max_recipients:
            # RFC 5321 4.5.3.1.10: 452 and the client sends the rest later.
            return self._bad(TOO_MANY_RCPTS)
        return self._ask(RcptTo(recipient=recipient, params=params))

    def _simple(self, line: bytes, arg: bytes, new: State) -> Event:
        verb = line[:4].upper()
        cfg = self.config
        if verb == b"NOOP":
            self._emit(r(250, "2.0.0", "OK"))
            return Noop()
        if verb == b"QUIT":
            self._emit(r(221, "2.0.0", f"{cfg.hostname} closing connection"))
            self.state = State.CLOSED
            return Quit()
        if arg:
            return self._bad(NO_ARGS)
        self._reset_transaction()
        self._emit(r(250, "2.0.0", "Reset state"))
        return Reset()

    def _vrfy(self, line: bytes, arg: bytes, new: State) -> Event:
        if not arg:
            return self._bad(r(501, "5.5.4", "Syntax: VRFY address"))
        return self._ask(Verify(argument=arg.decode("utf-8", "replace")))

    def _help(self, line: bytes, arg: bytes, new: State) -> Event:
        self._emit(r(214, "2.0.0", "See RFC 5321"))
        return Help(topic=arg.decode("utf-8", "replace") if arg else None)

    def _starttls(self, line: bytes, arg: bytes, new: State) -> Event:
        cfg = self.config
        if not cfg.starttls:
            return self._bad(NOT_IMPLEMENTED)
        if self.tls_active:
            return self._bad(r(503, "5.5.1", "TLS already active"))
        if arg:
            return self._bad(r(501, "5.5.4", "Syntax: STARTTLS"))
        if self._buf and not cfg.discard_after_starttls:
            # CVE-2011-0411: commands pipelined after STARTTLS must never run
            # after the upgrade.  Refuse and close.
            self._fatal("commands pipelined after STARTTLS", "Commands pipelined after STARTTLS")
        self._buf.consume(len(self._buf))
        self._emit(r(220, "2.0.0", "Ready to start TLS"))
        self.state = State.TLS
        return StartTLS()

    def _check_tls_injection(self) -> NeedData:
        if self._buf and not self.config.discard_after_starttls:
            # The 220 may be on its way: the reply is for the log, not the wire.
            self._fatal("plaintext received after STARTTLS", "Plaintext after STARTTLS")
        return NEED_DATA

    # -- AUTH (RFC 4954) -------------------------------------------------------------------------

    # -- DATA (RFC 5321 4.1.1.4) ------------------------------------------------

    # -- BDAT (RFC 3030) ---------------------------------------------------------

    _READERS: ClassVar[dict[State, Any]] = {
        **dict.fromkeys(COMMAND_STATES, _read_command),
        State.DATA: MessageMixin._read_data,
        State.BDAT: MessageMixin._read_bdat,
        State.AUTH: AuthMixin._read_auth,
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
        Verb.DATA: MessageMixin._data,
        Verb.RSET: _simple,
        Verb.NOOP: _simple,
        Verb.QUIT: _simple,
        Verb.VRFY: _vrfy,
        Verb.HELP: _help,
        Verb.STARTTLS: _starttls,
        Verb.AUTH: AuthMixin._auth,
    }
