"""Helpers of the POP3 interop tests: Maildir delivery into a private
Dovecot, our POP3 server running in a test's task group, and the real POP3
clients' set-ups (a fetchmail run control file)."""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import trustme

from protokit.net import InMemoryPOP3Backend, Listener, ServerInfo, TLSMode, serve_pop3
from protokit.pop3 import ServerConfig
from tests.interop.peers import Dovecot

MAIL_UID = MAIL_GID = 65534
_counter = 0


def deliver_maildir(d: Dovecot, user: str, messages: Sequence[bytes]) -> list[Path]:
    """Write ``messages`` into ``user``'s Maildir/new as Dovecot's mail user
    (uid/gid 65534), in order; returns the files."""
    global _counter
    root = d.maildir(user)
    for path in (root.parent, root, root / "new", root / "cur", root / "tmp"):
        path.mkdir(exist_ok=True)
        os.chown(path, MAIL_UID, MAIL_GID)
    files = []
    for data in messages:
        _counter += 1
        # Dovecot numbers new messages in file-name order: keep names sortable.
        name = f"{int(time.time())}.P{os.getpid()}Q{_counter:08d}.{socket.gethostname()}"
        tmp = root / "tmp" / name
        tmp.write_bytes(data)
        os.chown(tmp, MAIL_UID, MAIL_GID)
        final = root / "new" / name
        tmp.rename(final)
        files.append(final)
    return files


@dataclass
class OurServer:
    """Our POP3 server in a test: its backend, ports and the CA to trust."""

    backend: InMemoryPOP3Backend
    info: ServerInfo
    ca: trustme.CA
    cafile: Path

    @property
    def plain(self) -> int:
        return self.info.port("plain")

    @property
    def implicit(self) -> int:
        return self.info.port("implicit")

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


@asynccontextmanager
async def our_pop3_server(
    directory: Path,
    backend: InMemoryPOP3Backend,
    config: ServerConfig | None = None,
    idle_timeout: float = 60.0,
) -> AsyncIterator[OurServer]:
    """serve_pop3 on 127.0.0.1: "plain" (with STLS) and "implicit" listeners,
    a trustme certificate for localhost and 127.0.0.1 (its CA in ``cafile``)."""
    ca = trustme.CA()
    cafile = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", common_name="localhost").configure_cert(server_ctx)
    listeners = [
        Listener(name="plain", ssl_context=server_ctx),
        Listener(name="implicit", tls=TLSMode.IMPLICIT, ssl_context=server_ctx),
    ]
    async with anyio.create_task_group() as tg:
        info = await tg.start(
            lambda task_status: serve_pop3(
                backend,
                listeners,
                config=config,
                idle_timeout=idle_timeout,
                task_status=task_status,
            )
        )
        try:
            yield OurServer(backend, info, ca, cafile)
        finally:
            tg.cancel_scope.cancel()


def fetchmailrc(
    path: Path,
    *,
    port: int,
    user: str,
    password: str,
    mode: str,
    mda: str,
    cafile: Path,
    keep: bool,
) -> Path:
    """A fetchmail run control file (mode 0600, as fetchmail demands) that
    polls 127.0.0.1 with POP3: ``mode`` "plain", "stls" or "ssl"."""
    tls = {
        "plain": "sslproto ''",
        "stls": f"sslproto TLS1.2+ sslcertck sslcertfile {cafile} sslcommonname localhost",
        "ssl": f"ssl sslcertck sslcertfile {cafile} sslcommonname localhost",
    }[mode]
    path.write_text(
        "set no bouncemail\n"
        "set no syslog\n"
        "set invisible\n"
        f"poll 127.0.0.1 service {port} protocol POP3 uidl auth password timeout 20\n"
        f'  user "{user}" there with password "{password}" is "root" here\n'
        f"  {tls}\n"
        f"  {'keep' if keep else 'no keep'} fetchall no stripcr\n"
        f'  mda "{mda}"\n'
    )
    path.chmod(0o600)
    return path
