"""The SMTP/LMTP client connection, sans-IO.

Commands are queued by the typed methods and released to :meth:`data_to_send`
as the protocol allows: one at a time, or in groups when the server offered
PIPELINING (RFC 2920 3.1: EHLO, DATA, VRFY, EXPN, NOOP, QUIT, STARTTLS and
AUTH end a group).  Replies are matched to commands in order.
"""

from __future__ import annotations

from collections import deque

from .._sentinel import NEED_DATA, NeedData
from ..errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ..sasl._base import ClientMechanism
from ..wire import (
    CANCEL,
    DotStuffer,
    InvalidBase64Error,
    ReceiveBuffer,
    format_initial_response,
    format_response,
    parse_challenge,
)
from ._events import (
    AuthReply,
    ChunkReply,
    CommandReply,
    ConnectionClosed,
    DataReply,
    Event,
    Greeting,
    HelloReply,
    MailReply,
    MessageReply,
    RcptReply,
    StartTLSReply,
)
from ._parse import ReplyReader, parse_capabilities
from ._state import State, Verb, transition
from ._types import Body, Capabilities, ClientConfig, MailParams, RcptParams, Reply
from ._write import helo_name, mail_line, rcpt_line, text_arg

__all__ = ["ClientConnection"]

# RFC 2920 3.1: these may be followed by more commands before their reply
# (MESSAGE is the end of a DATA body: RFC 2920 3.2 sends QUIT right after it).
_PIPELINABLE = frozenset({"MAIL", "RCPT", "RSET", "BDAT", "MESSAGE"})
# RFC 5321 3.2: a server that does not know EHLO says so with one of these.
_EHLO_UNKNOWN = frozenset({500, 501, 502, 504, 550})


class _Cmd:
    __slots__ = ("error", "info", "kind", "last", "line", "mech", "pending_ir", "size")

    def __init__(self, kind: str, line: bytes = b"", info: str | None = None) -> None:
        self.kind = kind
        self.line = line
        self.info = info
        self.last = False
        self.size = 0
        self.mech: ClientMechanism | None = None
        self.pending_ir: bytes | None = None
        self.error: str | None = None

    def __repr__(self) -> str:  # never shows the line: it may be AUTH
        return f"<_Cmd {self.kind}>"


class ClientConnection:
    """One SMTP (or, with ``config.lmtp``, LMTP) session seen from the client."""

    def __init__(self, config: ClientConfig | None = None, *, tls_active: bool = False) -> None:
        self.config = cfg = config or ClientConfig()
        self.tls_active = tls_active
        self.capabilities: Capabilities | None = None
        self.authenticated = False
        self.closed = False
        self._buf = ReceiveBuffer()
        self._reader = ReplyReader(max_line=cfg.max_reply_line, max_lines=cfg.max_reply_lines)
        self._out: list[bytes] = []
        self._queue: deque[_Cmd] = deque()
        self._sent: deque[_Cmd] = deque([_Cmd("GREETING")])
        self._eof = False
        self._closed_reported = False
        self._tls_pending = False
        # The server's session state as the commands sent so far will leave it
        # when they succeed: the server's own table decides what may follow.
        self._state = State.GREETING
        self._txn_utf8 = False
        self._txn_body: Body | None = None
        self._accepted: list[str] = []
        self._body: DotStuffer | None = None
        self._bdat_size = 0
        self._txn_id = 0

    def __repr__(self) -> str:
        return (
            f"<smtp.ClientConnection queued={len(self._queue)} awaiting={len(self._sent)}"
            f" tls={self.tls_active}>"
        )

    @property
    def pending_plaintext(self) -> bytes:
        """Bytes received but not yet read as replies.  After a positive
        :class:`StartTLSReply` a binding checks this is empty before the
        handshake (a reply injected behind the 220 must never be read)."""
        return bytes(self._buf.raw)

    # -- the sans-IO contract -------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if data:
            self._buf.feed(data)
        else:
            self._eof = True

    def data_to_send(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | NeedData:
        if self._tls_pending:
            if self._buf:
                # A reply injected after "220" (CVE-2011-0411, client side).
                raise RemoteProtocolError("data received after the STARTTLS reply")
            if self._eof and not self._closed_reported:
                self._closed_reported = True
                self.closed = True
                return ConnectionClosed()
            return NEED_DATA
        while True:
            reply = self._reader.read(self._buf)
            if reply is None:
                if self._eof and not self._closed_reported:
                    self._closed_reported = True
                    self.closed = True
                    return ConnectionClosed()
                return NEED_DATA
            if not self._sent:
                if reply.code == 421:  # RFC 5321 3.8: the server may close any time
                    self.closed = True
                    return CommandReply(command="", reply=reply)
                raise RemoteProtocolError("reply received with no command outstanding")
            ev = self._on_reply(self._sent[0], reply)
            self._pump()
            if ev is not None:
                return ev

    def send(self, event: object) -> None:
        raise LocalProtocolError("use the typed command methods (ehlo(), mail_from(), ...)")

    # -- commands -------------------------------------------------------------------------------

    def ehlo(self, name: str | None = None) -> None:
        """EHLO (LHLO in LMTP mode); falls back to HELO if the server refuses it."""
        verb = "LHLO" if self.config.lmtp else "EHLO"
        self._greet(verb, name)

    def helo(self, name: str | None = None) -> None:
        if self.config.lmtp:
            raise LocalProtocolError("LMTP has no HELO")
        self._greet("HELO", name)

    def _greet(self, verb: str, name: str | None) -> None:
        raw = helo_name(self.config.local_hostname if name is None else name)
        self._check(Verb.EHLO)
        self.capabilities = None
        self._reset_txn()
        self._state = State.READY
        self._add(_Cmd(verb, verb.encode("ascii") + b" " + raw + b"\r\n", info=raw.decode()))

    def _check(self, verb: Verb) -> State:
        """The state after ``verb``, by the server's table; refuse what it refuses."""
        if self.closed:
            raise LocalProtocolError("the connection is closed")
        new = transition(self._state, verb)
        if new is None:
            raise LocalProtocolError(
                f"{verb.value} is out of sequence (session state {self._state.value})"
            )
        return new

    def _caps(self) -> Capabilities:
        return self.capabilities if self.capabilities is not None else Capabilities()

    def _need(self, keyword: str, what: str) -> None:
        if keyword not in self._caps():
            raise LocalProtocolError(f"{what} needs the server's {keyword} extension")

    def mail_from(self, sender: str, params: MailParams | None = None) -> None:
        """MAIL FROM: every parameter is checked against what the server offered."""
        new = self._check(Verb.MAIL)
        self._require_tls()
        params = params or MailParams()
        caps = self._caps()
        if params.size is not None:
            self._need("SIZE", "SIZE=")
            limit = caps.size
            if limit and params.size > limit:
                raise LocalProtocolError(f"message of {params.size} octets exceeds SIZE {limit}")
        if params.body is Body.BINARYMIME:
            self._need("BINARYMIME", "BODY=BINARYMIME")
            self._need("CHUNKING", "BODY=BINARYMIME")
        elif params.body is Body.EIGHT_BIT_MIME:
            self._need("8BITMIME", "BODY=8BITMIME")
        if params.smtputf8:
            self._need("SMTPUTF8", "SMTPUTF8")
        elif not sender.isascii():
            raise LocalProtocolError("a non-ASCII address needs SMTPUTF8")
        if params.ret is not None or params.envid is not None:
            self._need("DSN", "RET=/ENVID=")
        if params.auth is not None:
            self._need("AUTH", "AUTH=")
        if params.requiretls:
            self._need("REQUIRETLS", "REQUIRETLS")
            if not self.tls_active:
                raise LocalProtocolError("REQUIRETLS needs TLS")
        line = mail_line(sender, params)
        self._state = new
        self._txn_utf8 = params.smtputf8
        self._txn_body = params.body
        self._bdat_size = 0
        self._txn_id += 1
        cmd = _Cmd("MAIL", line)
        cmd.size = self._txn_id
        self._add(cmd)

    def rcpt_to(self, recipient: str, params: RcptParams | None = None) -> None:
        new = self._check(Verb.RCPT)
        params = params or RcptParams()
        if params.notify is not None or params.orcpt is not None:
            self._need("DSN", "NOTIFY=/ORCPT=")
        if not recipient.isascii() and not self._txn_utf8:
            raise LocalProtocolError("a non-ASCII address needs SMTPUTF8")
        line = rcpt_line(recipient, params)
        self._state = new
        self._add(_Cmd("RCPT", line, info=recipient))

    def data(self) -> None:
        """DATA; wait for :class:`DataReply` with ``proceed`` before the body."""
        self._check(Verb.DATA)
        if self._txn_body is Body.BINARYMIME:
            raise LocalProtocolError("BODY=BINARYMIME is sent with BDAT only")
        self._add(_Cmd("DATA", b"DATA\r\n"))

    def send_data(self, chunk: bytes) -> None:
        """Part of the body: dot-stuffed and CRLF-normalised across chunks."""
        body = self._body
        if body is None:
            raise LocalProtocolError("no DATA body is open")
        out = body.write(chunk)
        limit = self._caps().size
        if limit and body.size > limit:
            raise LocalProtocolError(f"message exceeds the server's SIZE {limit}")
        if out:
            self._out.append(out)

    def end_data(self) -> None:
        """End the body with CRLF "." CRLF."""
        body = self._body
        if body is None:
            raise LocalProtocolError("no DATA body is open")
        self._out.append(body.close())
        self._body = None
        self._state = State.READY
        if self.config.lmtp:
            for rcpt in self._accepted:
                self._sent.append(_Cmd("MESSAGE", info=rcpt))
        else:
            self._sent.append(_Cmd("MESSAGE"))
        self._pump()

    def bdat(self, chunk: bytes, *, last: bool = False) -> None:
        """One BDAT chunk (RFC 3030), sent as is; ``last`` ends the message."""
        self._check(Verb.BDAT)
        self._need("CHUNKING", "BDAT")
        self._bdat_size += len(chunk)
        limit = self._caps().size
        if limit and self._bdat_size > limit:
            raise LocalProtocolError(f"message exceeds the server's SIZE {limit}")
        head = b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"")
        cmd = _Cmd("BDAT", head + bytes(chunk))
        cmd.last = last
        cmd.size = self._bdat_size
        self._state = State.READY if last else State.CHUNKING
        self._add(cmd)

    def rset(self) -> None:
        new = self._check(Verb.RSET)
        self._reset_txn()
        self._state = new
        self._add(_Cmd("RSET", b"RSET\r\n"))

    def noop(self) -> None:
        self._check(Verb.NOOP)
        self._add(_Cmd("NOOP", b"NOOP\r\n"))

    def quit(self) -> None:
        self._state = self._check(Verb.QUIT)
        self._add(_Cmd("QUIT", b"QUIT\r\n"))

    def vrfy(self, argument: str) -> None:
        self._check(Verb.VRFY)
        if not argument:
            raise LocalProtocolError("VRFY needs an argument")
        self._add(_Cmd("VRFY", b"VRFY " + text_arg(argument, "VRFY argument") + b"\r\n"))

    def help(self, topic: str | None = None) -> None:
        self._check(Verb.HELP)
        arg = b"" if not topic else b" " + text_arg(topic, "HELP topic")
        self._add(_Cmd("HELP", b"HELP" + arg + b"\r\n"))

    def starttls(self) -> None:
        """STARTTLS; on :class:`StartTLSReply` 220 wrap TLS, then ``start_tls_done()``."""
        self._check(Verb.STARTTLS)
        if self.tls_active:
            raise LocalProtocolError("TLS is already active")
        self._need("STARTTLS", "STARTTLS")
        self._add(_Cmd("STARTTLS", b"STARTTLS\r\n"))

    def start_tls_done(self) -> None:
        """TLS is up: capabilities are forgotten; send EHLO again (RFC 3207 4.2)."""
        if not self._tls_pending:
            raise LocalProtocolError("STARTTLS was not accepted")
        if self._buf:
            raise RemoteProtocolError("data received after the STARTTLS reply")
        self._tls_pending = False
        self.tls_active = True
        self.capabilities = None
        self.authenticated = False
        self._state = State.GREETING
        self._pump()

    def auth(self, mechanism: ClientMechanism) -> None:
        """AUTH with any protokit.sasl client mechanism."""
        self._check(Verb.AUTH)
        self._require_tls()
        if self.authenticated:
            raise LocalProtocolError("already authenticated")
        name = mechanism.name.upper()
        if name not in self._caps().auth_mechanisms:
            raise LocalProtocolError(f"the server does not offer AUTH {name}")
        if mechanism.plaintext and not (self.tls_active or self.config.allow_plaintext_auth):
            raise LocalProtocolError(f"{name} sends the password in clear: TLS first")
        initial = mechanism.initial_response()
        cmd = _Cmd("AUTH")
        cmd.mech = mechanism
        head = b"AUTH " + name.encode("ascii")
        token = format_initial_response(initial)
        if token is not None and len(head) + len(token) + 3 <= (
            self.config.max_initial_response_line
        ):
            head += b" " + token
        else:
            # RFC 4954 4: too long for the line, so it answers the empty challenge.
            cmd.pending_ir = initial
        cmd.line = head + b"\r\n"
        self._add(cmd)

    # -- machinery ------------------------------------------------------------------------------

    def _require_tls(self) -> None:
        if self.config.require_tls and not self.tls_active:
            raise LocalProtocolError("TLS is required and not active")

    def _reset_txn(self) -> None:
        self._txn_utf8 = False
        self._txn_body = None
        if self._body is not None:
            raise LocalProtocolError("finish the DATA body first (end_data)")

    def _add(self, cmd: _Cmd) -> None:
        if self.closed:
            raise LocalProtocolError("the connection is closed")
        self._queue.append(cmd)
        self._pump()

    def _pump(self) -> None:
        """Release queued commands as far as pipelining allows."""
        queue = self._queue
        sent = self._sent
        if self._body is not None or self._tls_pending:
            return
        pipelining = self.capabilities is not None and "PIPELINING" in self.capabilities
        while queue:
            if sent and not (pipelining and sent[-1].kind in _PIPELINABLE):
                return
            cmd = queue.popleft()
            self._out.append(cmd.line)
            sent.append(cmd)

    def _on_reply(self, cmd: _Cmd, reply: Reply) -> Event | None:
        kind = cmd.kind
        if kind == "AUTH" and reply.code == 334:
            self._auth_continue(cmd, reply)
            return None
        self._sent.popleft()
        code = reply.code
        ok = code < 400
        if kind == "MAIL":
            self._accepted = []
            if not ok and cmd.size == self._txn_id:
                self._state = State.READY  # no transaction was opened: MAIL may be retried
            return MailReply(reply=reply)
        if kind == "RCPT":
            assert cmd.info is not None
            if ok:
                self._accepted.append(cmd.info)
            return RcptReply(recipient=cmd.info, reply=reply)
        if kind == "DATA":
            if code != 354:
                # The server's transaction stays open: RSET (or a new EHLO) ends it.
                return DataReply(reply=reply, proceed=False)
            if not self._accepted:
                # Every recipient failed yet DATA got 354: end it at once.
                self._out.append(b".\r\n")
                self._sent.appendleft(_Cmd("MESSAGE"))
                self._state = State.READY
                return DataReply(reply=reply, proceed=False)
            self._body = DotStuffer()
            return DataReply(reply=reply, proceed=True)
        if kind == "MESSAGE":
            return MessageReply(reply=reply, recipient=cmd.info)
        if kind == "BDAT":
            if not cmd.last:
                return ChunkReply(reply=reply, size=cmd.size)
            accepted = self._accepted
            if self.config.lmtp and accepted:
                for rcpt in reversed(accepted[1:]):
                    self._sent.appendleft(_Cmd("MESSAGE", info=rcpt))
                return MessageReply(reply=reply, recipient=accepted[0])
            return MessageReply(reply=reply)
        if kind in ("EHLO", "LHLO"):
            if ok:
                self.capabilities = parse_capabilities(reply)
                return HelloReply(reply=reply, esmtp=True, capabilities=self.capabilities)
            if kind == "EHLO" and code in _EHLO_UNKNOWN:
                # RFC 5321 3.2: fall back to HELO.
                assert cmd.info is not None
                self._sent.appendleft(_Cmd("HELO", info=cmd.info))
                self._out.append(b"HELO " + cmd.info.encode() + b"\r\n")
                return None
            return HelloReply(reply=reply, esmtp=True, capabilities=None)
        if kind == "HELO":
            self.capabilities = Capabilities() if ok else None
            return HelloReply(reply=reply, esmtp=False, capabilities=self.capabilities)
        if kind == "GREETING":
            return Greeting(reply=reply)
        if kind == "STARTTLS":
            if code == 220:
                if self._buf:
                    raise RemoteProtocolError("data received after the STARTTLS reply")
                self._tls_pending = True
            elif self.config.require_tls:
                raise RemoteProtocolError("STARTTLS refused and TLS is required")
            return StartTLSReply(reply=reply)
        if kind == "AUTH":
            mech = cmd.mech
            assert mech is not None
            if code == 235 and cmd.error is None:
                mech.finish(None)
                self.authenticated = True
                return AuthReply(reply=reply, success=True)
            return AuthReply(reply=reply, success=False, error=cmd.error)
        if kind == "QUIT":
            self.closed = True
        return CommandReply(command=kind, reply=reply)

    def _auth_continue(self, cmd: _Cmd, reply: Reply) -> None:
        mech = cmd.mech
        assert mech is not None
        if cmd.error is not None:
            raise RemoteProtocolError("challenge after the exchange was cancelled")
        if cmd.pending_ir is not None:
            response = cmd.pending_ir
            cmd.pending_ir = None
        else:
            try:
                challenge = parse_challenge(reply.lines[0].encode("ascii", "replace"))
                response = mech.respond(challenge)
            except (ProtocolError, InvalidBase64Error) as exc:
                cmd.error = exc.message
                self._out.append(format_response(CANCEL) + b"\r\n")
                return
        self._out.append(format_response(response) + b"\r\n")
