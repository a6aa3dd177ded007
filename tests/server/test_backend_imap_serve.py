"""serve()'s IMAP listeners in-process, on asyncio and trio: the 143 role
(STARTTLS: LOGINDISABLED and no plaintext mechanism before TLS, LOGIN
refused, the full capability list after) and the 993 role (implicit TLS),
their banner lines with a ready-to-paste curl command, and [ports] in the
TOML file."""

from __future__ import annotations

import io
import ssl
from pathlib import Path

import anyio
from anyio.streams.tls import TLSStream

from protokit.server import ROLES, ServeConfig, Store, load_config, serve
from tests.net.imap_wire import Wire, raw

CAPS_AFTER_TLS = (
    b"IMAP4rev1 LITERAL+ SASL-IR IDLE ENABLE ID UNSELECT NAMESPACE UIDPLUS MOVE CONDSTORE"
    b" SPECIAL-USE LIST-STATUS ESEARCH X-GM-EXT-1 AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1"
    b" AUTH=PLAIN AUTH=LOGIN AUTH=XOAUTH2 AUTH=OAUTHBEARER"
)


def test_roles_and_ports(tmp_path: Path) -> None:
    names = {r.name: (r.standard_port, r.tls.name) for r in ROLES}
    assert names["imap"] == (143, "STARTTLS")
    assert names["imaps"] == (993, "IMPLICIT")
    config = ServeConfig(data_dir=tmp_path)
    assert [config.port(r) for r in ROLES if r.protocol == "imap"] == [3143, 3993]
    toml = tmp_path / "serve.toml"
    toml.write_text("port_offset = 5000\n[ports]\nimaps = 6993\n")
    loaded = load_config(toml, config)
    assert [loaded.port(r) for r in ROLES if r.protocol == "imap"] == [5143, 6993]


async def test_imap_listeners_of_serve(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.open(data, password_iterations=1000, scram_iterations=64) as store:
        store.add_account("alice@example.com", "alice-pw")
    config = ServeConfig(data_dir=data, ports={r.name: 0 for r in ROLES})
    out = io.StringIO()
    async with anyio.create_task_group() as tg:
        info = await tg.start(lambda task_status: serve(config, out=out, task_status=task_status))
        cert = data / "tls-cert.pem"
        imap, imaps = info.port("imap"), info.port("imaps")
        lines = out.getvalue().splitlines()
        i = lines.index(f"  imap         127.0.0.1:{imap:<6} IMAP, STARTTLS")
        assert lines[i + 1] == (
            f"      try: curl --ssl-reqd --cacert {cert} -u alice@example.com:PASSWORD"
            f" 'imap://127.0.0.1:{imap}/INBOX;UID=1'"
        )
        assert lines[i + 2] == f"  imaps        127.0.0.1:{imaps:<6} IMAP, implicit TLS"
        assert lines[i + 3] == (
            f"      try: curl --cacert {cert} -u alice@example.com:PASSWORD"
            f" 'imaps://127.0.0.1:{imaps}/INBOX;UID=1'"
        )
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.check_hostname = False
        async with raw(imap) as w:
            assert await w.line() == (
                b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR IDLE ENABLE ID UNSELECT"
                b" NAMESPACE UIDPLUS MOVE CONDSTORE SPECIAL-USE LIST-STATUS ESEARCH X-GM-EXT-1"
                b" STARTTLS AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1 LOGINDISABLED]"
                b" protokit IMAP server ready\r\n"
            )
            assert await w.ask(b"a LOGIN alice@example.com alice-pw\r\n") == (
                b"a NO [PRIVACYREQUIRED] LOGIN is disabled without TLS\r\n"
            )
            assert await w.ask(b"b AUTHENTICATE PLAIN\r\n") == (
                b"b NO Unsupported authentication mechanism\r\n"
            )
            assert await w.ask(b"c STARTTLS\r\n") == b"c OK Begin TLS negotiation now\r\n"
            tls = await TLSStream.wrap(w.stream, hostname="localhost", ssl_context=ctx)
            w = Wire(tls)
            assert await w.ask(b"d CAPABILITY\r\n") == (
                b"* CAPABILITY " + CAPS_AFTER_TLS + b"\r\nd OK CAPABILITY completed\r\n"
            )
            assert await w.ask(b"e LOGIN alice@example.com alice-pw\r\n") == (
                b"e OK Logged in\r\n"
            )
        async with raw(imaps, tls=True, ssl_context=ctx, tls_standard_compatible=False) as w:
            assert await w.line() == (
                b"* OK [CAPABILITY " + CAPS_AFTER_TLS + b"] protokit IMAP server ready\r\n"
            )
            assert await w.ask(b"a LOGIN alice@example.com alice-pw\r\n") == (
                b"a OK Logged in\r\n"
            )
            assert await w.ask(b"b LOGOUT\r\n") == (
                b"* BYE Logging out\r\nb OK LOGOUT completed\r\n"
            )
        tg.cancel_scope.cancel()
