"""curl against our POP3 server: pop3:// with --ssl-reqd (STLS) and pop3s://,
listing, retrieving, DELE applied by curl's QUIT, and XOAUTH2 with
--oauth2-bearer (a good and a bad token)."""

from __future__ import annotations

import base64
from pathlib import Path

from protokit.net import InMemoryPOP3Backend
from protokit.pop3 import ServerConfig
from tests.interop.clients import run_client_async
from tests.interop.pop3_peers import OurServer, our_pop3_server

MSG1 = b"Subject: one\r\n\r\nfirst line\r\n.starts with a dot\r\nlast\r\n"
MSG2 = b"Subject: two\r\n\r\nx\r\n"
CONFIG = ServerConfig(sasl_mechanisms=("PLAIN", "XOAUTH2"))


def make_backend() -> InMemoryPOP3Backend:
    b = InMemoryPOP3Backend()
    b.add_user("alice", "alicepw")
    b.deliver("alice", MSG1)
    b.deliver("alice", MSG2)
    b.add_token("token-for-alice", "alice")
    return b


async def curl(srv: OurServer, url: str, *args: str) -> tuple[int, bytes, str]:
    result = await run_client_async(
        ["curl", "-sS", "-v", "--max-time", "20", "--cacert", str(srv.cafile), *args, url],
        timeout=30,
    )
    return result.returncode, result.stdout, result.stderr.decode(errors="replace")


async def test_curl_lists_and_retrieves_over_stls_and_implicit_tls(tmp_path: Path) -> None:
    async with our_pop3_server(tmp_path, make_backend(), CONFIG) as srv:
        plain = f"pop3://127.0.0.1:{srv.plain}"
        user = ("-u", "alice:alicepw")
        code, out, log = await curl(srv, f"{plain}/", "--ssl-reqd", *user)
        assert (code, out) == (0, b"1 54\r\n2 19\r\n"), log
        assert "> STLS" in log and "> AUTH PLAIN" in log
        assert log.index("> STLS") < log.index("> AUTH PLAIN")
        code, out, log = await curl(srv, f"{plain}/1", "--ssl-reqd", *user)
        assert (code, out) == (0, MSG1), log
        code, out, log = await curl(srv, f"pop3s://127.0.0.1:{srv.implicit}/2", *user)
        assert (code, out) == (0, MSG2), log
        assert "> STLS" not in log


async def test_curl_dele_is_applied_at_quit(tmp_path: Path) -> None:
    backend = make_backend()
    async with our_pop3_server(tmp_path, backend, CONFIG) as srv:
        url = f"pop3s://127.0.0.1:{srv.implicit}/1"
        code, out, log = await curl(srv, url, "-u", "alice:alicepw", "-X", "DELE", "-I")
        assert (code, out) == (0, b""), log
        assert "< +OK message 1 deleted" in log
        code, out, log = await curl(
            srv, f"pop3s://127.0.0.1:{srv.implicit}/", "-u", "alice:alicepw"
        )
        assert (code, out) == (0, b"1 19\r\n"), log
    assert backend.messages("alice") == [MSG2]


async def test_curl_xoauth2_good_and_bad_token(tmp_path: Path) -> None:
    async with our_pop3_server(tmp_path, make_backend(), CONFIG) as srv:
        url = f"pop3://127.0.0.1:{srv.plain}/"
        good = ("--ssl-reqd", "-u", "alice:", "--oauth2-bearer", "token-for-alice")
        code, out, log = await curl(srv, url, *good)
        assert (code, out) == (0, b"1 54\r\n2 19\r\n"), log
        assert "> AUTH XOAUTH2" in log
        bad = ("--ssl-reqd", "-u", "alice:", "--oauth2-bearer", "wrong-token")
        code, out, log = await curl(srv, url, *bad)
        # Our server sends the JSON error challenge; curl 7.88 does not
        # answer it but gives up: 67 is CURLE_LOGIN_DENIED.
        assert (code, out) == (67, b""), log
        error = base64.b64encode(
            b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'
        )
        assert f"< + {error.decode()}" in log
        assert "< +OK alice's maildrop" not in log
