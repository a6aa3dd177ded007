"""The async SMTP/LMTP client (RFC 5321, 2033, 2920, 3030, 3207, 3461, 4954,
6152, 6531), layered as STYLE.md item 11 asks: :func:`open_smtp` (an async
context manager) over :func:`connect_smtp` over :func:`wrap_smtp_stream`.

:meth:`SMTPClient.send_message` sends an :class:`email.message.EmailMessage`
or raw bytes to many recipients and returns a :class:`SendResult` with every
recipient's reply; it pipelines when the server offers PIPELINING, uses BDAT
under CHUNKING (BINARYMIME for binary content), asks for SMTPUTF8 and
8BITMIME when the message needs them, and checks SIZE before sending.

TLS is required by default: STARTTLS mode (the default for every port but
465) refuses a server that does not offer or refuses STARTTLS before any
credential or message leaves.  A client is for one task at a time.
"""

from __future__ import annotations

import email.generator
import email.policy
import email.utils
import io
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Final, TypeAlias

import anyio.abc

from ..errors import LocalProtocolError, RemoteProtocolError
from ..sasl import (
    ClientMechanism,
    TokenSource,
    choose_mechanism,
)
from ..smtp import (
    AuthReply,
    Body,
    Capabilities,
    ChunkReply,
    ClientConfig,
    ClientConnection,
    CommandReply,
    DataReply,
    Event,
    Greeting,
    HelloReply,
    MailParams,
    MailReply,
    MessageReply,
    Notify,
    RcptParams,
    RcptReply,
    Reply,
    Ret,
    StartTLSReply,
)
from ..smtp import ConnectionClosed as ClosedEvent
from ..wire._secret import Secret
from ._client_common import ChannelBinding, ClosedOnError, dial, sasl_client
from ._errors import ConnectionClosed, TLSError, TransportError
from ._pump import Pump, Timeouts
from ._tls import TLSMode, client_ssl_context

__all__ = [
    "Login",
    "SMTPAuthenticationError",
    "SMTPClient",
    "SMTPDataError",
    "SMTPError",
    "SMTPNotSupported",
    "SMTPRecipientsRefused",
    "SMTPResponseError",
    "SMTPSenderRefused",
    "SendResult",
    "connect_smtp",
    "open_smtp",
    "wrap_smtp_stream",
]

log = logging.getLogger("protokit.net.smtp")

#: DATA bodies are written in pieces of this size; BDAT chunks are this big.
CHUNK_SIZE: Final = 256 * 1024

#: What ``login=`` takes: (user, password), (user, token source callable), or
#: a ready ``protokit.sasl`` client mechanism.
Login: TypeAlias = tuple[str, str | Secret[str]] | tuple[str, TokenSource] | ClientMechanism


class SMTPError(Exception):
    """Base of the SMTP client's errors about the conversation."""


class SMTPNotSupported(SMTPError):
    """The message or the options need something the server did not offer
    (SMTPUTF8, 8BITMIME, DSN, a larger SIZE ...).  Nothing was sent."""


class SMTPResponseError(SMTPError):
    """The server answered with an error.  ``reply`` is its reply."""

    def __init__(self, command: str, reply: Reply) -> None:
        self.command = command
        self.reply = reply
        enh = f"{reply.enhanced} " if reply.enhanced else ""
        super().__init__(f"{command}: {reply.code} {enh}{reply.text}".rstrip())

    @property
    def code(self) -> int:
        return self.reply.code


class SMTPAuthenticationError(SMTPResponseError):
    """AUTH was refused (or the mechanism failed).  For XOAUTH2/OAUTHBEARER,
    ``sasl_error`` holds the server's JSON error, if it sent one."""

    def __init__(
        self, command: str, reply: Reply, *, sasl_error: dict[str, object] | None = None
    ) -> None:
        super().__init__(command, reply)
        self.sasl_error = sasl_error


class SMTPSenderRefused(SMTPResponseError):
    """MAIL FROM was refused."""

    def __init__(self, sender: str, reply: Reply) -> None:
        super().__init__("MAIL", reply)
        self.sender = sender


class SMTPRecipientsRefused(SMTPError):
    """No recipient was accepted (or, in LMTP, none got the message).
    ``refused`` maps each recipient to its reply."""

    def __init__(self, refused: Mapping[str, Reply]) -> None:
        self.refused = dict(refused)
        parts = ", ".join(f"{r}: {rep.code}" for r, rep in self.refused.items())
        super().__init__(f"every recipient was refused ({parts})")


class SMTPDataError(SMTPResponseError):
    """The message itself was refused (the reply to DATA, BDAT or the end of
    the message)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one message.

    ``recipients`` maps every recipient to its reply: the RCPT reply if it
    was refused there, else the final reply (in LMTP, its own final reply;
    in SMTP, the message's).  ``reply`` is the final reply (LMTP: the last
    one received).
    """

    sender: str
    recipients: dict[str, Reply]
    reply: Reply
    mail_reply: Reply
    rcpt_replies: dict[str, Reply] = field(default_factory=dict)

    @property
    def accepted(self) -> list[str]:
        return [r for r, rep in self.recipients.items() if rep.code < 400]

    @property
    def refused(self) -> dict[str, Reply]:
        return {r: rep for r, rep in self.recipients.items() if rep.code >= 400}


def _addresses(msg: Message, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values.extend(str(v) for v in msg.get_all(name, []))
    return [addr for _, addr in email.utils.getaddresses(values) if addr]


def _envelope_from_message(msg: Message) -> tuple[str, list[str]]:
    """smtplib.send_message's rules: the last Resent- block if there is one,
    else Sender or From, and To/Cc/Bcc."""
    resent = msg.get_all("Resent-Date")
    if resent:
        if len(resent) > 1:
            raise LocalProtocolError("more than one Resent- block: give sender and recipients")
        sender = _addresses(msg, "Resent-Sender") or _addresses(msg, "Resent-From")
        rcpts = _addresses(msg, "Resent-To", "Resent-Cc", "Resent-Bcc")
    else:
        sender = _addresses(msg, "Sender") or _addresses(msg, "From")
        rcpts = _addresses(msg, "To", "Cc", "Bcc")
    return (sender[0] if sender else ""), rcpts


def _serialize(msg: Message[str, str], utf8: bool) -> bytes:
    """The message with CRLF line endings and without Bcc/Resent-Bcc."""
    copy = msg
    if "Bcc" in msg or "Resent-Bcc" in msg:
        copy = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
        del copy["Bcc"]
        del copy["Resent-Bcc"]
    policy = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
    out = io.BytesIO()
    gen = email.generator.BytesGenerator(out, policy=policy)
    gen.flatten(copy, linesep="\r\n")  # type: ignore[arg-type]
    return out.getvalue()


def _has_bare_line_ending(data: bytes) -> bool:
    crlf = data.count(b"\r\n")
    return data.count(b"\r") != crlf or data.count(b"\n") != crlf


class SMTPClient(ChannelBinding[Event]):
    """An SMTP or LMTP session over an anyio byte stream, past its greeting
    and EHLO/LHLO.

    Build it with :func:`open_smtp`, :func:`connect_smtp` or
    :func:`wrap_smtp_stream`.  Error replies raise :class:`SMTPResponseError`
    subclasses; transport failures raise
    :class:`~protokit.net.TransportError` subclasses.  A cancelled operation
    leaves the session unusable (its replies are unaccounted for); close it.
    """

    def __init__(
        self,
        pump: Pump[Event],
        conn: ClientConnection,
        greeting: Reply,
        *,
        server_hostname: str | None,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._pump = pump
        self._conn = conn
        #: The server's 220 greeting.
        self.greeting = greeting
        #: The last EHLO/LHLO (or HELO) reply.
        self.ehlo_reply: Reply | None = None
        self._server_hostname = server_hostname
        self._ssl_context = ssl_context
        self._closed = False
        self._closing: Reply | None = None

    def __repr__(self) -> str:
        kind = "LMTP" if self._conn.config.lmtp else "SMTP"
        return f"<{kind}Client {self._server_hostname} tls={self.tls_active}>"

    # -- properties -------------------------------------------------------------------

    @property
    def connection(self) -> ClientConnection:
        """The sans-IO connection underneath."""
        return self._conn

    @property
    def capabilities(self) -> Capabilities:
        """What the last EHLO/LHLO reply advertised (empty after HELO)."""
        return self._conn.capabilities or Capabilities()

    @property
    def tls_active(self) -> bool:
        return self._conn.tls_active

    @property
    def authenticated(self) -> bool:
        return self._conn.authenticated

    @property
    def lmtp(self) -> bool:
        return self._conn.config.lmtp

    # -- plumbing ---------------------------------------------------------------------

    async def _event(self) -> Event:
        if self._closing is not None:
            raise SMTPResponseError("(the server is closing)", self._closing)
        if self._closed:
            raise ConnectionClosed("the SMTP session is over")
        ev = await self._pump.next_event()
        if isinstance(ev, ClosedEvent):
            self._closed = True
            raise ConnectionClosed("the SMTP server closed the connection")
        reply: Reply | None = getattr(ev, "reply", None)
        if reply is not None and reply.code == 421:
            # RFC 5321 3.8: the server is closing the session, whatever the
            # command; nothing more is sent (not even QUIT).
            self._closed = True
            self._closing = reply
            if isinstance(ev, CommandReply) and ev.command == "":
                raise SMTPResponseError("(unsolicited)", ev.reply)
        return ev

    async def _expect(self, kind: type[Event]) -> Event:
        ev = await self._event()
        if not isinstance(ev, kind):
            raise LocalProtocolError(f"expected {kind.__name__}, got {type(ev).__name__}")
        return ev

    async def _reply_to(self, command: str) -> Reply:
        """The reply to a simple command just queued."""
        ev = await self._expect(CommandReply)
        assert isinstance(ev, CommandReply)
        return ev.reply

    # -- session commands ---------------------------------------------------------------

    async def ehlo(self, name: str | None = None) -> Reply:
        """EHLO (LHLO for LMTP), falling back to HELO when EHLO is unknown."""
        self._conn.ehlo(name)
        ev = await self._expect(HelloReply)
        assert isinstance(ev, HelloReply)
        if not ev.reply.is_positive:
            raise SMTPResponseError("LHLO" if self.lmtp else "EHLO", ev.reply)
        self.ehlo_reply = ev.reply
        return ev.reply

    async def starttls(
        self, ssl_context: ssl.SSLContext | None = None, *, server_hostname: str | None = None
    ) -> None:
        """STARTTLS (RFC 3207), then EHLO again.

        A server that does not offer STARTTLS or refuses it raises
        :class:`~protokit.net.TLSError` before anything else is sent; a reply
        injected behind the 220 is a ``RemoteProtocolError``.
        """
        if self.tls_active:
            raise LocalProtocolError("TLS is already active")
        if "STARTTLS" not in self.capabilities:
            raise TLSError("the server does not offer STARTTLS: refusing to continue without TLS")
        self._conn.starttls()
        try:
            ev = await self._expect(StartTLSReply)
        except RemoteProtocolError as exc:
            if exc.message.startswith("STARTTLS refused"):
                # The connection refuses the reply itself when TLS is required.
                raise TLSError(
                    "the server refused STARTTLS: refusing to continue without TLS"
                ) from exc
            raise
        assert isinstance(ev, StartTLSReply)
        if ev.reply.code != 220:
            raise TLSError(
                f"the server refused STARTTLS ({ev.reply.code} {ev.reply.text}): "
                "refusing to continue without TLS"
            )
        ctx = ssl_context or self._ssl_context or client_ssl_context()
        await self._pump.start_tls(
            ctx,
            server_hostname=server_hostname or self._server_hostname,
            pending=self._conn.pending_plaintext,
        )
        self._conn.start_tls_done()
        # RFC 3207 4.2: forget what was said before TLS; ask again.
        await self.ehlo()

    async def authenticate(self, mechanism: ClientMechanism) -> None:
        """AUTH (RFC 4954) with a ready ``protokit.sasl`` client mechanism."""
        self._conn.auth(mechanism)
        ev = await self._expect(AuthReply)
        assert isinstance(ev, AuthReply)
        if not ev.success:
            error = getattr(mechanism, "error", None)
            raise SMTPAuthenticationError(
                f"AUTH {mechanism.name}",
                ev.reply,
                sasl_error=dict(error) if error is not None else None,
            )
        log.info("authenticated with %s", mechanism.name)

    async def login(
        self,
        user: str,
        password: str | Secret[str] | None = None,
        *,
        token: TokenSource | None = None,
        authzid: str | None = None,
        mechanisms: Iterable[str] | None = None,
    ) -> str:
        """AUTH with the strongest mechanism both sides can use (protokit.sasl's
        preference), given a password, a bearer token (or a callable returning
        one), or both.  PLAIN, LOGIN and the token mechanisms need TLS unless
        the client allows plaintext authentication.  Returns the mechanism."""
        offered = list(mechanisms) if mechanisms is not None else self.capabilities.auth_mechanisms
        cb = self.channel_binding
        name = choose_mechanism(
            offered,
            have_password=password is not None,
            have_token=token is not None,
            tls=self.tls_active,
            channel_binding_available=cb is not None,
            allow_plaintext=self._conn.config.allow_plaintext_auth,
        )
        if name is None:
            raise SMTPNotSupported(
                "no usable AUTH mechanism among "
                f"{', '.join(sorted(offered)) or 'none offered'}"
                + ("" if self.tls_active else " (plaintext mechanisms need TLS)")
            )
        mech = sasl_client(
            name, user, password=password, token=token, authzid=authzid, channel_binding=cb
        )
        await self.authenticate(mech)
        return name

    async def noop(self) -> Reply:
        self._conn.noop()
        reply = await self._reply_to("NOOP")
        if not reply.is_positive:
            raise SMTPResponseError("NOOP", reply)
        return reply

    async def rset(self) -> Reply:
        self._conn.rset()
        reply = await self._reply_to("RSET")
        if not reply.is_positive:
            raise SMTPResponseError("RSET", reply)
        return reply

    async def vrfy(self, argument: str) -> Reply:
        """VRFY: the reply as it is (250/251/252 positive, 550/551/553 not)."""
        self._conn.vrfy(argument)
        return await self._reply_to("VRFY")

    async def quit(self) -> Reply | None:
        """QUIT, then close; the reply, or ``None`` if the server had gone."""
        try:
            if self._closed or self._conn.closed:
                return None
            self._conn.quit()
            try:
                return await self._reply_to("QUIT")
            except TransportError:
                return None  # the server went first: the session is over anyway
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (without QUIT)."""
        self._closed = True
        await self._pump.aclose()

    # -- sending ------------------------------------------------------------------------------

    async def send_message(
        self,
        message: Message | bytes,
        *,
        sender: str | None = None,
        recipients: Iterable[str] | None = None,
        mail_params: MailParams | None = None,
        rcpt_params: RcptParams | Mapping[str, RcptParams] | None = None,
        ret: Ret | None = None,
        envid: str | None = None,
        notify: Iterable[Notify] | None = None,
        body: Body | None = None,
        chunking: bool = True,
    ) -> SendResult:
        """Send one message to every recipient; the per-recipient result.

        ``message`` is an :class:`email.message.Message` (sender and
        recipients default to its headers, as smtplib's ``send_message``;
        Bcc is never sent) or the raw bytes of one (``sender`` and
        ``recipients`` then required).  ``ret``, ``envid`` and ``notify``
        ask for DSNs (RFC 3461); ``mail_params``/``rcpt_params`` give full
        control of the parameters.  ``chunking=False`` avoids BDAT.

        Raises :class:`SMTPNotSupported` (nothing sent) when the message
        needs an extension the server lacks or exceeds its SIZE,
        :class:`SMTPSenderRefused`, :class:`SMTPRecipientsRefused` when no
        recipient was accepted, :class:`SMTPDataError` when the message was
        refused.  After a failure the transaction is reset (RSET).
        """
        caps = self.capabilities
        if isinstance(message, Message):
            env_sender, env_rcpts = _envelope_from_message(message)
            sender = env_sender if sender is None else sender
            rcpts = list(env_rcpts if recipients is None else recipients)
            utf8 = not (sender.isascii() and all(r.isascii() for r in rcpts))
            if not utf8:
                try:
                    data = _serialize(message, False)
                except UnicodeEncodeError:
                    utf8 = True
            if utf8:
                data = _serialize(message, True)
        else:
            if sender is None or recipients is None:
                raise LocalProtocolError("raw bytes need sender= and recipients=")
            data = bytes(message)
            rcpts = list(recipients)
        if not rcpts:
            raise LocalProtocolError("no recipients")
        mp = mail_params or MailParams()
        smtputf8 = mp.smtputf8 or not (sender.isascii() and all(r.isascii() for r in rcpts))
        binary = body is Body.BINARYMIME or mp.body is Body.BINARYMIME
        eight_bit = not data.isascii()
        use_bdat = chunking and "CHUNKING" in caps
        if not binary and body is None and mp.body is None and use_bdat and "BINARYMIME" in caps:
            binary = b"\x00" in data or _has_bare_line_ending(data)
        # What the message needs, checked before anything is sent.
        if smtputf8 and "SMTPUTF8" not in caps:
            raise SMTPNotSupported(
                "the message needs SMTPUTF8 (a non-ASCII address) and the server does not offer it"
            )
        if binary:
            if not ("BINARYMIME" in caps and "CHUNKING" in caps and chunking):
                raise SMTPNotSupported(
                    "BODY=BINARYMIME needs the server's BINARYMIME and CHUNKING"
                )
            use_bdat = True
            body_kind: Body | None = Body.BINARYMIME
        elif eight_bit:
            if "8BITMIME" not in caps:
                raise SMTPNotSupported(
                    "the message has 8-bit data and the server does not offer 8BITMIME"
                )
            body_kind = Body.EIGHT_BIT_MIME
        else:
            body_kind = body if body is not None else mp.body
        limit = caps.size
        if limit and len(data) > limit:
            raise SMTPNotSupported(
                f"the message ({len(data)} octets) exceeds the server's SIZE limit ({limit})"
            )
        if (ret is not None or envid is not None or notify is not None) and "DSN" not in caps:
            raise SMTPNotSupported("delivery status notifications need the server's DSN")
        mp = MailParams(
            size=len(data) if "SIZE" in caps else mp.size,
            body=body_kind,
            smtputf8=smtputf8,
            ret=ret if ret is not None else mp.ret,
            envid=envid if envid is not None else mp.envid,
            auth=mp.auth,
            requiretls=mp.requiretls,
            extra=mp.extra,
        )
        notify_set = frozenset(notify) if notify is not None else None

        def params_for(rcpt: str) -> RcptParams | None:
            p = rcpt_params.get(rcpt) if isinstance(rcpt_params, Mapping) else rcpt_params
            if notify_set is not None:
                p = RcptParams(
                    notify=notify_set,
                    orcpt=p.orcpt if p else None,
                    extra=p.extra if p else (),
                )
            return p

        return await self._transaction(sender, rcpts, data, mp, params_for, use_bdat)

    async def _transaction(
        self,
        sender: str,
        rcpts: Sequence[str],
        data: bytes,
        mp: MailParams,
        params_for: Callable[[str], RcptParams | None],
        use_bdat: bool,
    ) -> SendResult:
        conn = self._conn
        pipelining = "PIPELINING" in self.capabilities
        conn.mail_from(sender, mp)
        if not pipelining:
            mail = await self._mail_reply()
            if not mail.is_positive:
                raise SMTPSenderRefused(sender, mail)
        for r in rcpts:
            conn.rcpt_to(r, params_for(r))
        chunks = (
            [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
            if use_bdat
            else []
        )
        if pipelining:
            # RFC 2920: the whole envelope, and the message too under
            # CHUNKING (RFC 3030 4.2), goes before the first reply is read.
            if use_bdat:
                for i, chunk in enumerate(chunks):
                    conn.bdat(chunk, last=i == len(chunks) - 1)
            else:
                conn.data()
            await self._pump.flush()
            mail = await self._mail_reply()
        rcpt_replies: dict[str, Reply] = {}
        for _ in rcpts:
            ev = await self._expect(RcptReply)
            assert isinstance(ev, RcptReply)
            rcpt_replies[ev.recipient] = ev.reply
        accepted = [r for r in rcpts if rcpt_replies[r].is_positive]
        if pipelining:
            return await self._finish_pipelined(
                sender, rcpts, mail, rcpt_replies, accepted, data, chunks, use_bdat
            )
        if not accepted:
            await self._reset_quietly()
            raise SMTPRecipientsRefused(rcpt_replies)
        if use_bdat:
            for i, chunk in enumerate(chunks):
                conn.bdat(chunk, last=i == len(chunks) - 1)
        else:
            conn.data()
        return await self._finish_pipelined(
            sender, rcpts, mail, rcpt_replies, accepted, data, chunks, use_bdat
        )

    async def _mail_reply(self) -> Reply:
        ev = await self._expect(MailReply)
        assert isinstance(ev, MailReply)
        return ev.reply

    async def _finish_pipelined(
        self,
        sender: str,
        rcpts: Sequence[str],
        mail: Reply,
        rcpt_replies: dict[str, Reply],
        accepted: list[str],
        data: bytes,
        chunks: list[bytes],
        use_bdat: bool,
    ) -> SendResult:
        """Read the replies to the message (sent with the envelope, or now)."""
        conn = self._conn
        finals: list[MessageReply] = []
        failure: Reply | None = None
        if use_bdat:
            for _ in chunks[:-1]:
                ev = await self._expect(ChunkReply)
                assert isinstance(ev, ChunkReply)
                if failure is None and not ev.reply.is_positive:
                    failure = ev.reply
            expected = len(accepted) if self.lmtp and accepted else 1
            for _ in range(expected):
                ev = await self._expect(MessageReply)
                assert isinstance(ev, MessageReply)
                finals.append(ev)
        else:
            ev = await self._expect(DataReply)
            assert isinstance(ev, DataReply)
            if ev.proceed:
                view = memoryview(data)
                for i in range(0, len(data), CHUNK_SIZE):
                    conn.send_data(view[i : i + CHUNK_SIZE].tobytes())
                    await self._pump.flush()
                conn.end_data()
                for _ in accepted if self.lmtp else [None]:
                    ev2 = await self._expect(MessageReply)
                    assert isinstance(ev2, MessageReply)
                    finals.append(ev2)
            else:
                if ev.reply.code == 354:
                    # Every recipient failed; the client ended the body at once.
                    await self._expect(MessageReply)
                else:
                    failure = ev.reply
        if not mail.is_positive:
            await self._reset_quietly()
            raise SMTPSenderRefused(sender, mail)
        if not accepted:
            await self._reset_quietly()
            raise SMTPRecipientsRefused(rcpt_replies)
        if failure is not None or not finals:
            await self._reset_quietly()
            assert failure is not None
            raise SMTPDataError("BDAT" if use_bdat else "DATA", failure)
        results: dict[str, Reply] = {}
        if self.lmtp:
            final_for = {f.recipient: f.reply for f in finals}
            for r in rcpts:
                results[r] = final_for.get(r, rcpt_replies[r])
        else:
            final = finals[0].reply
            if not final.is_positive:
                raise SMTPDataError("end of message", final)
            for r in rcpts:
                results[r] = final if rcpt_replies[r].is_positive else rcpt_replies[r]
        result = SendResult(
            sender=sender,
            recipients=results,
            reply=finals[-1].reply,
            mail_reply=mail,
            rcpt_replies=rcpt_replies,
        )
        if self.lmtp and not result.accepted:
            raise SMTPRecipientsRefused(result.recipients)
        return result

    async def _reset_quietly(self) -> None:
        """RSET after a failed transaction, unless the session has ended."""
        if self._closed or self._conn.closed:
            return
        try:
            await self.rset()
        except SMTPResponseError:
            pass

    async def sendmail(
        self, sender: str, recipients: Iterable[str], message: bytes
    ) -> dict[str, Reply]:
        """smtplib's shape: send raw bytes; the refused recipients."""
        result = await self.send_message(message, sender=sender, recipients=recipients)
        return result.refused


async def wrap_smtp_stream(
    stream: anyio.abc.ByteStream,
    *,
    server_hostname: str | None = None,
    tls_active: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    config: ClientConfig | None = None,
    timeouts: Timeouts | None = None,
    ehlo: bool = True,
) -> SMTPClient:
    """Start an SMTP/LMTP session on a connected stream: read the greeting
    and (unless ``ehlo=False``) send EHLO (LHLO).  The stream is closed if
    either fails."""
    conn = ClientConnection(config, tls_active=tls_active)
    pump: Pump[Event] = Pump(stream, conn, timeouts=timeouts)
    try:
        ev = await pump.next_event()
        if isinstance(ev, ClosedEvent):
            raise ConnectionClosed("the SMTP server closed the connection before its greeting")
        if not isinstance(ev, Greeting):
            raise LocalProtocolError(f"expected the greeting, got {type(ev).__name__}")
        if ev.reply.code != 220:
            raise SMTPResponseError("greeting", ev.reply)
        client = SMTPClient(
            pump, conn, ev.reply, server_hostname=server_hostname, ssl_context=ssl_context
        )
        if ehlo:
            await client.ehlo()
    except BaseException:
        await pump.aclose()
        raise
    return client


def _default_port(tls: TLSMode, lmtp: bool) -> int:
    if lmtp:
        return 24
    return {TLSMode.IMPLICIT: 465, TLSMode.STARTTLS: 587, TLSMode.PLAIN: 25}[tls]


async def connect_smtp(
    host: str,
    port: int | None = None,
    *,
    tls: TLSMode | None = None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    local_hostname: str | None = None,
    login: Login | None = None,
    lmtp: bool = False,
    allow_plaintext_auth: bool = False,
    timeouts: Timeouts | None = None,
    config: ClientConfig | None = None,
) -> SMTPClient:
    """Connect, read the greeting, EHLO; STARTTLS in STARTTLS mode; AUTH
    when ``login`` is given.

    ``tls`` defaults to IMPLICIT on port 465 and STARTTLS everywhere else
    (the 587 submission role): TLS is then required, and a server that does
    not offer or refuses STARTTLS raises :class:`~protokit.net.TLSError`
    before any credential or message is sent.  Pass ``TLSMode.PLAIN``
    explicitly for plaintext; ``allow_plaintext_auth`` then lets PLAIN and
    LOGIN go out (loopback and tests).  ``port`` defaults to 465/587/25 by
    mode (24 for LMTP).
    """
    if tls is None:
        tls = TLSMode.IMPLICIT if port == 465 else TLSMode.STARTTLS
    if port is None:
        port = _default_port(tls, lmtp)
    if config is None:
        config = ClientConfig(
            local_hostname=local_hostname or "localhost",
            lmtp=lmtp,
            require_tls=tls is not TLSMode.PLAIN,
            allow_plaintext_auth=allow_plaintext_auth and tls is TLSMode.PLAIN,
        )
    d = await dial(
        host,
        port,
        tls=tls,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        timeouts=timeouts,
    )
    client = await d.greeted(
        wrap_smtp_stream(
            d.stream,
            server_hostname=d.hostname,
            tls_active=tls is TLSMode.IMPLICIT,
            ssl_context=d.ssl_context,
            config=config,
            timeouts=d.timeouts,
            ehlo=False,
        )
    )
    async with ClosedOnError(client):
        await client.ehlo()
        if tls is TLSMode.STARTTLS:
            await client.starttls(d.ssl_context, server_hostname=d.hostname)
        if login is not None:
            if isinstance(login, ClientMechanism):
                await client.authenticate(login)
            else:
                user, secret = login
                if callable(secret):
                    await client.login(user, token=secret)
                else:
                    await client.login(user, secret)
    return client


@asynccontextmanager
async def open_smtp(
    host: str,
    port: int | None = None,
    *,
    tls: TLSMode | None = None,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    local_hostname: str | None = None,
    login: Login | None = None,
    lmtp: bool = False,
    allow_plaintext_auth: bool = False,
    timeouts: Timeouts | None = None,
    config: ClientConfig | None = None,
) -> AsyncIterator[SMTPClient]:
    """:func:`connect_smtp` as an async context manager: QUIT on a clean
    exit, a plain close after an exception."""
    client = await connect_smtp(
        host,
        port,
        tls=tls,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        local_hostname=local_hostname,
        login=login,
        lmtp=lmtp,
        allow_plaintext_auth=allow_plaintext_auth,
        timeouts=timeouts,
        config=config,
    )
    try:
        yield client
    except BaseException:
        await client.aclose()
        raise
    await client.quit()
