"""Fuzz entry points for the SMTP and POP3 connections (both sides), each
driven by a small scripted application.  See :mod:`protokit.testing.fuzz`."""

from __future__ import annotations

from typing import Any, Final

from .._sentinel import NEED_DATA
from ..errors import LocalProtocolError, ProtocolError
from ..pop3 import (
    ApopLogin,
    MaildropEntry,
    MessageRequested,
    PasswordLogin,
    SaslAuthenticated,
    SaslRequest,
    UpdateRequested,
    UserReceived,
)
from ..pop3 import ClientConfig as Pop3ClientConfig
from ..pop3 import ClientConnection as Pop3Client
from ..pop3 import ConnectionClosed as Pop3Closed
from ..pop3 import MessageData as Pop3Data
from ..pop3 import ServerConfig as Pop3ServerConfig
from ..pop3 import ServerConnection as Pop3Server
from ..pop3 import StartTLS as Pop3StartTLS
from ..sasl import PlainClient, Request
from ..smtp import AuthRequest, DataReply, MessageData, MessageReply, StartTLS, StartTLSReply
from ..smtp import ClientConnection as SmtpClient
from ..smtp import ConnectionClosed as SmtpClosed
from ..smtp import ServerConfig as SmtpServerConfig
from ..smtp import ServerConnection as SmtpServer
from ..wire import BareLineEndingPolicy
from ._harness import (
    Outcome,
    bounded,
    merge,
    protocol_error,
    same_for_every_chunking,
    tls_handoff,
)
from ._sasl_app import PASSWORD, answer_request

__all__ = ["fuzz_pop3_client", "fuzz_pop3_server", "fuzz_smtp_client", "fuzz_smtp_server"]

_POLICIES: Final = tuple(BareLineEndingPolicy)
_SMTP_MECHANISMS: Final = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "XOAUTH2",
    "OAUTHBEARER",
    "EXTERNAL",
    "ANONYMOUS",
)


# -- SMTP server ----------------------------------------------------------------------


def _smtp_config(selector: int) -> SmtpServerConfig:
    return SmtpServerConfig(
        lmtp=bool(selector & 1),
        starttls=True,
        auth_mechanisms=_SMTP_MECHANISMS,
        allow_plaintext_auth=True,
        bare_line_ending=_POLICIES[(selector >> 1) % len(_POLICIES)],
        max_chunk=64,
        max_recipients=5,
        max_message_size=4096,
        max_bad_commands=20,
    )


def _smtp_server_run(chunks: list[bytes], config: SmtpServerConfig) -> Outcome:
    conn = SmtpServer(config)
    out = Outcome()
    written = bytearray(conn.data_to_send())
    limit = max(config.max_command_line, config.max_text_line, config.max_auth_line) + 2
    try:
        for data in chunks:
            conn.receive_data(data)
            while (ev := conn.next_event()) is not NEED_DATA:
                out.events.append(ev)
                if isinstance(ev, StartTLS | SmtpClosed):
                    # After STARTTLS only a TLS handshake may follow: the
                    # binding's business (bytes already here are an attack).
                    out.output = bytes(written + conn.data_to_send())
                    out.events = merge(out.events, MessageData)
                    return out
                if isinstance(ev, AuthRequest):
                    conn.answer_auth(answer_request(ev.request, ev.mechanism))
                while conn.pending is not None and conn.pending != "AuthRequest":
                    conn.reply()
            written += conn.data_to_send()
            bounded("smtp server", len(conn.pending_plaintext), limit)
        conn.receive_data(b"")
        while (ev := conn.next_event()) is not NEED_DATA:
            out.events.append(ev)
            if isinstance(ev, SmtpClosed):
                break
    except ProtocolError as exc:
        out.error = protocol_error(exc)
    written += conn.data_to_send()
    out.output = bytes(written)
    out.events = merge(out.events, MessageData)
    return out


def fuzz_smtp_server(data: bytes) -> None:
    """The SMTP/LMTP server fed client bytes; an application that accepts
    everything answers it.  The third octet picks LMTP and the bare line
    ending policy."""
    if len(data) < 3:
        return
    config = _smtp_config(data[2])
    data = data[:2] + data[3:]
    same_for_every_chunking(
        "smtp server", data, lambda c: tls_handoff(_smtp_server_run(c, config), StartTLS)
    )


# -- SMTP client ------------------------------------------------------------------------

_BODY: Final = b"Subject: fuzz\r\n\r\n.leading dot\r\nbare\nline\r\n"


def _smtp_client_run(chunks: list[bytes]) -> Outcome:
    conn = SmtpClient()
    out = Outcome()
    written = bytearray()
    conn.ehlo()
    conn.mail_from("a@example.org")
    conn.rcpt_to("b@example.org")
    conn.data()
    closed = False
    try:
        for data in chunks:
            if closed:
                break
            conn.receive_data(data)
            while (ev := conn.next_event()) is not NEED_DATA:
                out.events.append(ev)
                if isinstance(ev, SmtpClosed):
                    closed = True
                    break
                if isinstance(ev, StartTLSReply):
                    return out
                try:
                    if isinstance(ev, DataReply) and ev.proceed:
                        conn.send_data(_BODY)
                        conn.end_data()
                    elif isinstance(ev, MessageReply):
                        conn.quit()
                except LocalProtocolError:
                    pass  # the driver asked for something the state forbids
            written += conn.data_to_send()
            bounded("smtp client", len(conn.pending_plaintext), 2048 + 2)
    except ProtocolError as exc:
        out.error = protocol_error(exc)
    written += conn.data_to_send()
    out.output = bytes(written)
    return out


def fuzz_smtp_client(data: bytes) -> None:
    """The SMTP client sending one message, fed server bytes."""
    same_for_every_chunking("smtp client", data, _smtp_client_run)


# -- POP3 server -------------------------------------------------------------------------

_MESSAGES: Final = (b"Subject: one\r\n\r\n.dot\r\nbody\r\n", b"Subject: two\r\n\r\nbare\nlf\r\n")
_MAILDROP: Final = tuple(
    MaildropEntry(size=len(m) + 2, uid=f"uid{i}") for i, m in enumerate(_MESSAGES)
)


def _pop3_answer(conn: Pop3Server, ev: Any) -> None:
    if isinstance(ev, PasswordLogin):
        if ev.password.expose() == PASSWORD:
            conn.accept_login(_MAILDROP)
        else:
            conn.reject_login()
    elif isinstance(ev, ApopLogin):
        if ev.verify(PASSWORD):
            conn.accept_login(_MAILDROP)
        else:
            conn.reject_login()
    elif isinstance(ev, UserReceived):
        conn.accept_user()
    elif isinstance(ev, SaslRequest):
        request = ev.request
        if isinstance(request, Request):
            conn.answer_sasl(answer_request(request, ev.mechanism))
    elif isinstance(ev, SaslAuthenticated):
        conn.accept_login(_MAILDROP)
    elif isinstance(ev, MessageRequested):
        body = _MESSAGES[ev.number - 1]
        if conn.message_wanted:
            conn.send_message_data(body[:10])
        if conn.message_wanted:
            conn.send_message_data(body[10:])
        conn.end_message()
    elif isinstance(ev, UpdateRequested):
        conn.finish_update()


def _pop3_server_run(chunks: list[bytes], config: Pop3ServerConfig) -> Outcome:
    conn = Pop3Server(config)
    out = Outcome()
    written = bytearray(conn.data_to_send())
    limit = config.max_auth_line + 2
    try:
        for data in chunks:
            conn.receive_data(data)
            while (ev := conn.next_event()) is not NEED_DATA:
                out.events.append(ev)
                if isinstance(ev, Pop3StartTLS | Pop3Closed):
                    out.output = bytes(written + conn.data_to_send())
                    return out
                _pop3_answer(conn, ev)
            written += conn.data_to_send()
            bounded("pop3 server", len(getattr(conn, "_buf", b"")), limit)
    except ProtocolError as exc:
        out.error = protocol_error(exc)
    written += conn.data_to_send()
    out.output = bytes(written)
    return out


def fuzz_pop3_server(data: bytes) -> None:
    """The POP3 server fed client bytes (USER/PASS, APOP and SASL accept the
    password ``PASSWORD``); the third octet picks APOP, check_user and TLS."""
    if len(data) < 3:
        return
    sel = data[2]
    config = Pop3ServerConfig(
        apop=bool(sel & 1),
        apop_timestamp=lambda: "<1.2@fuzz>",
        check_user=bool(sel & 2),
        tls_available=not sel & 4,
        tls_active=bool(sel & 4),
        allow_plaintext_auth=True,
        sasl_mechanisms=_SMTP_MECHANISMS,
        max_errors=20,
    )
    data = data[:2] + data[3:]
    same_for_every_chunking(
        "pop3 server", data, lambda c: tls_handoff(_pop3_server_run(c, config), Pop3StartTLS)
    )


# -- POP3 client --------------------------------------------------------------------------


def _pop3_client_run(chunks: list[bytes]) -> Outcome:
    conn = Pop3Client(Pop3ClientConfig(allow_plaintext_auth=True))
    out = Outcome()
    written = bytearray()
    script = [
        conn.capa,
        lambda: conn.auth(PlainClient("user", PASSWORD)),
        conn.stat,
        conn.list_,
        conn.uidl,
        lambda: conn.retr(1),
        lambda: conn.top(1, 0),
        lambda: conn.dele(1),
        conn.quit,
    ]
    closed = False
    try:
        for data in chunks:
            if closed:
                break
            conn.receive_data(data)
            while (ev := conn.next_event()) is not NEED_DATA:
                out.events.append(ev)
                if isinstance(ev, Pop3Closed):
                    closed = True
                    break
                if isinstance(ev, Pop3Data):
                    continue
                while script:
                    step = script.pop(0)
                    try:
                        step()
                        break
                    except LocalProtocolError:
                        continue
            written += conn.data_to_send()
            bounded("pop3 client", len(getattr(conn, "_buf", b"")), 16 * 1024)
    except ProtocolError as exc:
        out.error = protocol_error(exc)
    written += conn.data_to_send()
    out.output = bytes(written)
    out.events = merge(out.events, Pop3Data)
    return out


def fuzz_pop3_client(data: bytes) -> None:
    """The POP3 client (CAPA, AUTH PLAIN, STAT, LIST, UIDL, RETR, TOP, DELE,
    QUIT, each sent once the reply before it came) fed server bytes."""
    same_for_every_chunking("pop3 client", data, _pop3_client_run)
