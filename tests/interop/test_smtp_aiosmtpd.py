"""Our SMTP client against aiosmtpd (run in this process, its own event loop
in a thread): STARTTLS with a trustme certificate, AUTH PLAIN and LOGIN only
under TLS, SMTPUTF8, an EmailMessage, and a wrong password."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from protokit.net import TLSMode
from protokit.net._smtp_client import (
    SMTPAuthenticationError,
    SMTPNotSupported,
    SMTPSenderRefused,
    open_smtp,
)
from protokit.sasl import LoginClient
from protokit.smtp import Reply
from tests.interop.smtp_peers import aiosmtpd_server, certificate_authority

ACCEPTED = Reply(code=250, enhanced="2.0.0", lines=("Message accepted",))
BODY = b"Subject: hi\r\n\r\n.dot line\r\nbye\r\n"


async def test_starttls_auth_plain_and_login_then_send() -> None:
    with certificate_authority() as ca, aiosmtpd_server(ca, auth_required=True) as peer:
        async with open_smtp(
            "127.0.0.1",
            peer.port,
            ssl_context=ca.client_context(),
            local_hostname="client.example",
            login=("alice", "alicepw"),
        ) as client:
            assert client.tls_active and client.authenticated
            assert {"PLAIN", "LOGIN"} <= client.capabilities.auth_mechanisms
            result = await client.send_message(
                BODY, sender="alice@client.example", recipients=["a@x.example", "b@x.example"]
            )
            assert result.reply == ACCEPTED
        async with open_smtp(
            "127.0.0.1",
            peer.port,
            ssl_context=ca.client_context(),
            login=LoginClient("bob", "bobpw"),
        ) as client:
            await client.send_message(BODY, sender="bob@client.example", recipients=["c@x"])
    assert peer.messages == [
        ("alice@client.example", ["a@x.example", "b@x.example"], BODY, False, "alice"),
        ("bob@client.example", ["c@x"], BODY, False, "bob"),
    ]


async def test_plaintext_auth_is_not_even_offered_before_tls() -> None:
    with certificate_authority() as ca, aiosmtpd_server(ca, require_starttls=False) as peer:
        async with open_smtp("127.0.0.1", peer.port, tls=TLSMode.PLAIN) as client:
            assert "STARTTLS" in client.capabilities
            with pytest.raises(SMTPNotSupported, match="no usable AUTH mechanism"):
                await client.login("alice", "alicepw")


async def test_wrong_password() -> None:
    with certificate_authority() as ca, aiosmtpd_server(ca) as peer:
        with pytest.raises(SMTPAuthenticationError) as info:
            async with open_smtp(
                "127.0.0.1", peer.port, ssl_context=ca.client_context(), login=("alice", "nope")
            ):
                pass
        assert info.value.reply.code == 535


async def test_smtputf8_and_an_email_message() -> None:
    msg = EmailMessage()
    msg["From"] = "Jörg <jörg@bücher.example>"
    msg["To"] = "zoë@例え.example"
    msg["Subject"] = "grüße"
    msg.set_content("héllo\n")
    with certificate_authority() as ca, aiosmtpd_server(ca) as peer:
        async with open_smtp("127.0.0.1", peer.port, ssl_context=ca.client_context()) as client:
            assert "SMTPUTF8" in client.capabilities
            result = await client.send_message(msg)
            assert result.accepted == ["zoë@例え.example"]
    [(sender, rcpts, content, utf8, _)] = peer.messages
    assert (sender, rcpts, utf8) == ("jörg@bücher.example", ["zoë@例え.example"], True)
    assert "To: zoë@例え.example\r\n".encode() in content
    assert peer.mail_options == [[f"SIZE={len(content)}", "BODY=8BITMIME", "SMTPUTF8"]]


async def test_without_smtputf8_a_clear_error_and_mail_needs_starttls() -> None:
    with certificate_authority() as ca, aiosmtpd_server(ca, smtputf8=False) as peer:
        async with open_smtp("127.0.0.1", peer.port, ssl_context=ca.client_context()) as client:
            with pytest.raises(SMTPNotSupported, match="needs SMTPUTF8"):
                await client.send_message(BODY, sender="a@x", recipients=["zoë@x.example"])
        async with open_smtp("127.0.0.1", peer.port, tls=TLSMode.PLAIN) as client:
            with pytest.raises(SMTPSenderRefused) as info:
                await client.send_message(BODY, sender="a@x", recipients=["b@x"])
            assert info.value.reply.code == 530
    assert peer.messages == []
