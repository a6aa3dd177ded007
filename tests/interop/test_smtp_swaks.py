"""swaks against serve_smtp on the in-memory backend: AUTH PLAIN, LOGIN and
CRAM-MD5, STARTTLS, implicit TLS, --pipeline, and a refused password.
swaks always gets -t (else it prompts) and a closed stdin."""

from __future__ import annotations

import pytest

from protokit.smtp import ServerConfig
from tests.interop.clients import run_client_async
from tests.interop.smtp_peers import OurSMTPServer, make_backend, our_smtp_server

CONFIG = ServerConfig(hostname="mx.test", auth_mechanisms=("PLAIN", "LOGIN", "CRAM-MD5"))


async def swaks(srv: OurSMTPServer, port: int, *args: str) -> tuple[int, str]:
    result = await run_client_async(
        [
            "swaks", "-t", "bob@mx.test", "-f", "alice@client.example",
            "--server", "127.0.0.1", "--port", str(port), "--helo", "client.example",
            "--timeout", "20", "--body", "swaks body\n.dot line", *args,
        ],
        timeout=40,
    )  # fmt: skip
    return result.returncode, result.stdout.decode(errors="replace")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
async def test_swaks_auth_over_starttls_with_pipelining(mechanism: str) -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:
        code, out = await swaks(
            srv,
            srv.plain,
            "-tls",
            "--pipeline",
            "--auth", mechanism, "--auth-user", "alice", "--auth-password", "alicepw",
        )  # fmt: skip
    assert code == 0, out
    assert "<-  220 2.0.0 Ready to start TLS" in out
    assert "~> AUTH " + mechanism in out
    assert "<~  235 2.7.0 Authentication successful" in out
    # --pipeline: MAIL, RCPT and DATA went as one group (swaks prints them together).
    assert "~> MAIL FROM:<alice@client.example>\n ~> RCPT TO:<bob@mx.test>\n ~> DATA" in out
    assert "<~  250 2.0.0 Message accepted" in out
    [m] = backend.messages
    assert (m.sender, m.recipients, m.user, m.tls) == (
        "alice@client.example",
        ("bob@mx.test",),
        "alice",
        True,
    )
    # swaks ends its body with two empty lines of its own.
    assert m.data.endswith(b"\r\n\r\nswaks body\r\n.dot line\r\n\r\n\r\n")


async def test_swaks_implicit_tls_and_a_refused_password() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:
        code, out = await swaks(
            srv, srv.implicit, "--tls-on-connect", "--auth", "PLAIN",
            "--auth-user", "bob", "--auth-password", "bobpw",
        )  # fmt: skip
        assert code == 0, out
        code, out = await swaks(
            srv, srv.implicit, "--tls-on-connect", "--auth", "LOGIN",
            "--auth-user", "bob", "--auth-password", "wrong",
        )  # fmt: skip
    assert code == 28, out  # swaks: authentication failed
    assert "<~* 535 5.7.8 Authentication credentials invalid" in out
    assert [m.user for m in backend.messages] == ["bob"]


async def test_swaks_plaintext_auth_is_refused_without_tls() -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:
        code, out = await swaks(
            srv, srv.plain, "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "alicepw"
        )
    # PLAIN is not advertised before TLS (only CRAM-MD5 is): swaks gives up.
    assert code != 0, out
    assert "250 AUTH CRAM-MD5" in out
    assert backend.messages == []
