"""curl against our IMAP server: imap:// with --ssl-reqd (STARTTLS) and
imaps://, listing mailboxes, fetching ``INBOX;UID=n`` byte-identical,
uploading (APPEND), -u user:pass (AUTHENTICATE PLAIN with SASL-IR) and
--oauth2-bearer (OAUTHBEARER, a good and a bad token)."""

from __future__ import annotations

from pathlib import Path

from tests.interop.clients import run_client_async
from tests.interop.imap_server_peers import MSG1, MSG2, OurServer, make_backend, our_imap_server

TOKEN = "token-for-alice"
LISTING = (
    b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
    b'* LIST (\\HasNoChildren \\Drafts) "/" Drafts\r\n'
    b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
    b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n'
    b'* LIST (\\HasNoChildren \\Junk) "/" Junk\r\n'
)


async def curl(srv: OurServer, url: str, *args: str) -> tuple[int, bytes, str]:
    result = await run_client_async(
        ["curl", "-sS", "-v", "--max-time", "20", "--cacert", str(srv.cafile), *args, url],
        timeout=30,
    )
    return result.returncode, result.stdout, result.stderr.decode(errors="replace")


async def test_curl_lists_and_fetches_over_starttls_and_implicit_tls(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend(TOKEN)) as srv:
        plain = f"imap://127.0.0.1:{srv.plain}"
        user = ("-u", "alice:alicepw")
        code, out, log = await curl(srv, f"{plain}/", "--ssl-reqd", *user)
        assert (code, out) == (0, LISTING), log
        assert "> A001 CAPABILITY" in log and "STARTTLS" in log
        assert log.index("STARTTLS\r\n") < log.index("AUTHENTICATE PLAIN")
        code, out, log = await curl(srv, f"{plain}/INBOX;UID=1", "--ssl-reqd", *user)
        assert (code, out) == (0, MSG1), log
        code, out, log = await curl(srv, f"imaps://127.0.0.1:{srv.implicit}/INBOX;UID=2", *user)
        assert (code, out) == (0, MSG2), log
        assert "STARTTLS" not in log.split("AUTHENTICATE")[1]


async def test_curl_refuses_a_server_without_starttls_when_required(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend()) as srv:
        # the implicit-TLS port spoken to in plaintext: no greeting curl reads
        url = f"imap://127.0.0.1:{srv.implicit}/"
        code, out, _ = await curl(srv, url, "--ssl-reqd", "-u", "alice:alicepw", "--max-time", "3")
        assert code != 0 and out == b""


async def test_curl_wrong_password(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend()) as srv:
        url = f"imaps://127.0.0.1:{srv.implicit}/"
        code, out, log = await curl(srv, url, "-u", "alice:wrong")
        assert (code, out) == (67, b""), log  # CURLE_LOGIN_DENIED
        assert "NO [AUTHENTICATIONFAILED] Authentication failed" in log


async def test_curl_uploads_with_append(tmp_path: Path) -> None:
    backend = make_backend()
    message = tmp_path / "msg.eml"
    data = b"From: up@example.org\r\nSubject: uploaded\r\n\r\nbody\r\n"
    message.write_bytes(data)
    async with our_imap_server(tmp_path, backend) as srv:
        url = f"imaps://127.0.0.1:{srv.implicit}/Drafts"
        code, out, log = await curl(srv, url, "-u", "alice:alicepw", "-T", str(message))
        assert (code, out) == (0, b""), log
    # curl appends with (\Seen)
    assert backend.messages("alice", "Drafts") == [(1, data, {"\\Seen"})]


async def test_curl_oauth2_bearer_good_and_bad_token(tmp_path: Path) -> None:
    async with our_imap_server(tmp_path, make_backend(TOKEN)) as srv:
        url = f"imap://127.0.0.1:{srv.plain}/INBOX;UID=1"
        good = ("--ssl-reqd", "-u", "alice:", "--oauth2-bearer", TOKEN)
        code, out, log = await curl(srv, url, *good)
        assert (code, out) == (0, MSG1), log
        assert "AUTHENTICATE OAUTHBEARER" in log
        bad = ("--ssl-reqd", "-u", "alice:", "--oauth2-bearer", "wrong-token")
        code, out, log = await curl(srv, url, *bad)
        assert (code, out) == (67, b""), log
