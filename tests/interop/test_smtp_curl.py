"""curl against serve_smtp on the in-memory backend: smtp:// with --ssl-reqd
(STARTTLS before AUTH), smtps:// (implicit TLS), --mail-from/--mail-rcpt/
--upload-file with -u user:pass, a refused password, and a server without
STARTTLS refused by --ssl-reqd."""

from __future__ import annotations

from pathlib import Path

from protokit.smtp import ServerConfig
from tests.interop.clients import run_client_async
from tests.interop.smtp_peers import OurSMTPServer, make_backend, our_smtp_server

CONFIG = ServerConfig(hostname="mx.test", auth_mechanisms=("PLAIN", "LOGIN"))
MESSAGE = b"From: alice@client.example\r\nSubject: curl\r\n\r\n.dot line\r\nend\r\n"


async def curl(srv: OurSMTPServer, url: str, *args: str) -> tuple[int, str]:
    result = await run_client_async(
        ["curl", "-sS", "-v", "--max-time", "20", "--cacert", str(srv.cafile), *args, url],
        timeout=30,
    )
    return result.returncode, result.stderr.decode(errors="replace")


def upload(tmp_path: Path) -> tuple[str, ...]:
    path = tmp_path / "message.eml"
    path.write_bytes(MESSAGE)
    return (
        "--mail-from", "alice@client.example",
        "--mail-rcpt", "bob@mx.test",
        "--mail-rcpt", "carol@mx.test",
        "--upload-file", str(path),
    )  # fmt: skip


async def test_curl_starttls_and_implicit_tls_with_login(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:
        code, log = await curl(
            srv,
            f"smtp://127.0.0.1:{srv.plain}/client.example",
            "--ssl-reqd",
            "-u",
            "alice:alicepw",
            *upload(tmp_path),
        )
        assert code == 0, log
        assert "> EHLO client.example" in log
        assert log.index("> STARTTLS") < log.index("> AUTH PLAIN")
        assert "< 250 2.0.0 Message accepted" in log
        code, log = await curl(
            srv, f"smtps://127.0.0.1:{srv.implicit}", "-u", "bob:bobpw", *upload(tmp_path)
        )
        assert code == 0, log
        assert "> STARTTLS" not in log
    assert [(m.sender, m.recipients, m.data, m.user, m.tls) for m in backend.messages] == [
        ("alice@client.example", ("bob@mx.test", "carol@mx.test"), MESSAGE, "alice", True),
        ("alice@client.example", ("bob@mx.test", "carol@mx.test"), MESSAGE, "bob", True),
    ]


async def test_curl_wrong_password_sends_nothing(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_smtp_server(backend, CONFIG) as srv:
        code, log = await curl(
            srv,
            f"smtps://127.0.0.1:{srv.implicit}",
            "-u",
            "alice:wrong",
            *upload(tmp_path),
        )
    assert code == 67, log  # CURLE_LOGIN_DENIED
    assert "< 535 5.7.8 Authentication credentials invalid" in log
    assert "> MAIL FROM" not in log
    assert backend.messages == []


async def test_curl_ssl_reqd_refuses_a_server_without_starttls(tmp_path: Path) -> None:
    backend = make_backend()
    # A listener without ssl_context offers no STARTTLS.
    import anyio

    from protokit.net import Listener
    from protokit.net._smtp_server import serve_smtp

    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_smtp(
                backend, [Listener(name="p")], config=CONFIG, task_status=task_status
            )
        )
        result = await run_client_async(
            [
                "curl", "-sS", "-v", "--max-time", "20", "--ssl-reqd",
                f"smtp://127.0.0.1:{info.port('p')}", *upload(tmp_path),
            ],
            timeout=30,
        )  # fmt: skip
        tg.cancel_scope.cancel()
    log = result.stderr.decode(errors="replace")
    assert result.returncode == 64, log  # CURLE_USE_SSL_FAILED
    assert "> MAIL FROM" not in log
    assert backend.messages == []
