"""``protokit proxy`` and ``protokit proxy authorize`` on the command line:
the device and PKCE flows against the fake provider, the proxy as a
subprocess (banner, a login through it to Dovecot, SIGTERM), exit codes."""

from __future__ import annotations

import imaplib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from protokit.net import TLSMode
from protokit.oauth import TokenStorage
from protokit.proxy import AccountConfig, ProviderConfig
from protokit.proxy._cli import client_command, main
from protokit.wire import Secret
from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Provider,
    oauth_provider,
)
from tests.interop.peers import Dovecot, free_port

from .conftest import LOCAL_PASSWORD, LOCAL_USER, fresh_user

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    # Poll every second (the RFC 8628 minimum the client accepts) for speed.
    with oauth_provider(device_interval=1) as p:
        yield p


def config_file(
    tmp: Path, provider: Provider, d: Dovecot, user: str, port: int = 0, extra: str = ""
) -> Path:
    path = tmp / "proxy.toml"
    path.write_text(
        f'state_dir = "state"\n'
        f"[providers.fake]\n"
        f'token_endpoint = "{provider.token_url}"\n'
        f'authorization_endpoint = "{provider.authorize_url}"\n'
        f'device_authorization_endpoint = "{provider.device_url}"\n'
        f'client_id = "{DEFAULT_CLIENT_ID}"\n'
        f'client_secret = "{DEFAULT_CLIENT_SECRET}"\n'
        f'scopes = ["mail"]\n'
        f"[accounts.work]\n"
        f'protocol = "imap"\n'
        f"listen_port = {port}\n"
        f'local_user = "{LOCAL_USER}"\n'
        f'upstream_host = "127.0.0.1"\n'
        f"upstream_port = {d.imaps}\n"
        f'upstream_cafile = "{d.cert}"\n'
        f'upstream_user = "{user}"\n'
        f'provider = "fake"\n' + extra
    )
    return path


class Output(io.StringIO):
    """stdout that calls ``on_line`` with each complete line as it is written."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        super().__init__()
        self.on_line = on_line
        self.partial = ""

    def write(self, text: str) -> int:
        self.partial += text
        while "\n" in self.partial:
            line, self.partial = self.partial.split("\n", 1)
            self.on_line(line)
        return super().write(text)


def authorize(path: Path, *flags: str, on_line: Callable[[str], None]) -> tuple[int, str, str]:
    out, err = Output(on_line), io.StringIO()
    code = main(
        [
            "authorize",
            "work",
            "--config",
            str(path),
            "--password-stdin",
            "--timeout",
            "30",
            *flags,
        ],
        stdin=io.StringIO(LOCAL_PASSWORD + "\n"),
        stdout=out,
        stderr=err,
    )
    return code, out.getvalue(), err.getvalue()


def stored_refresh_token(path: Path) -> str | None:
    storage = TokenStorage(path.parent / "state")
    assert storage.unlock("work", Secret(LOCAL_PASSWORD))
    token = storage.load("work").refresh_token
    return None if token is None else token.expose()


def test_authorize_with_the_device_flow(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    path = config_file(tmp_path, provider, upstream, user)

    def approve(line: str) -> None:
        m = re.fullmatch(r"Open http://127\.0\.0\.1:\d+/\S+ \(code (\S+)\)", line)
        if m is not None:
            provider.approve(m.group(1), user)

    code, out, err = authorize(path, "--device", on_line=approve)
    assert (code, err) == (0, "")
    state = (tmp_path / "state").resolve()
    assert out.splitlines()[-1] == (
        f"authorized work: tokens stored in {state}/account-work.tokens, "
        "encrypted with the local password"
    )
    (grant,) = [g for g in provider.grants() if g.user == user]
    assert stored_refresh_token(path) == provider.current_refresh_token(grant)


def test_authorize_with_pkce_and_a_loopback_redirect(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    path = config_file(tmp_path, provider, upstream, user)
    provider.user = user
    opened: list[int] = []

    def open_in_browser(line: str) -> None:
        if line.startswith("http://"):
            # The browser: the provider approves at once and redirects to
            # the CLI's loopback listener, which urllib follows.
            def visit() -> None:
                with urllib.request.urlopen(line, timeout=10) as answer:
                    opened.append(answer.status)

            threading.Thread(target=visit, daemon=True).start()

    code, out, err = authorize(path, "--pkce", on_line=open_in_browser)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "Open this URL in a browser to authorize work:"
    (grant,) = [g for g in provider.grants() if g.user == user]
    assert stored_refresh_token(path) == provider.current_refresh_token(grant)


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["authorize", "nope", "--password-stdin"], "pw\n",
         "protokit proxy authorize: error: no account 'nope' in the configuration"),
        (["authorize", "work"], "",
         "protokit proxy authorize: error: no terminal to ask for the local password on: "
         "use --password-stdin"),
        (["authorize", "work", "--password-stdin"], "\n",
         "protokit proxy authorize: error: --password-stdin: the first line of stdin is empty"),
    ],
)  # fmt: skip
def test_authorize_usage_errors(
    provider: Provider,
    upstream: Dovecot,
    tmp_path: Path,
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    path = config_file(tmp_path, provider, upstream, "x@example.com")
    err = io.StringIO()
    code = main(
        [*argv, "--config", str(path)], stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=err
    )
    assert code == 2
    assert err.getvalue().startswith(message)


def test_bad_configuration_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text("[accounts.work]\nprotocol = 'imap'\n")
    err = io.StringIO()
    assert (
        main(["--config", str(path)], stdin=io.StringIO(), stdout=io.StringIO(), stderr=err) == 2
    )
    assert err.getvalue() == (
        f"protokit proxy: error: {path}: accounts.work.upstream_host is required\n"
    )


def test_a_port_in_use_and_a_bad_certificate_are_exit_1(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = config_file(tmp_path, provider, upstream, "x@example.com", port)
        err = io.StringIO()
        code = main(["--config", str(path)], stdin=io.StringIO(), stdout=io.StringIO(), stderr=err)
    assert code == 1
    assert err.getvalue().startswith("protokit proxy: a port is already in use: ")
    (tmp_path / "bad.pem").write_text("not a certificate")
    path = config_file(
        tmp_path, provider, upstream, "x@example.com",
        extra='listen_tls = "implicit"\ncert_file = "bad.pem"\nkey_file = "bad.pem"\n',
    )  # fmt: skip
    err = io.StringIO()
    code = main(["--config", str(path)], stdin=io.StringIO(), stdout=io.StringIO(), stderr=err)
    assert code == 1
    assert err.getvalue().startswith(
        "protokit proxy: cannot start: accounts.work: cannot load the certificate "
        f"{tmp_path}/bad.pem"
    )


def test_the_proxy_process_banner_login_and_sigterm(
    provider: Provider, upstream: Dovecot, tmp_path: Path
) -> None:
    user = fresh_user()
    port = free_port()
    path = config_file(tmp_path, provider, upstream, user, port)

    def approve(line: str) -> None:
        m = re.fullmatch(r"Open \S+ \(code (\S+)\)", line)
        if m is not None:
            provider.approve(m.group(1), user)

    assert authorize(path, "--device", on_line=approve)[0] == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "protokit.cli", "proxy", "--config", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        lines = []
        while len(lines) < 3 and time.monotonic() < deadline:
            lines.append(proc.stdout.readline().rstrip("\n"))
        assert lines == [
            "protokit proxy: ready",
            f"  work: imap on 127.0.0.1:{port} (plain) -> 127.0.0.1:{upstream.imaps} (implicit) "
            f"as {user}, local user {LOCAL_USER}",
            f"    try: curl -u {LOCAL_USER} imap://127.0.0.1:{port}/INBOX",
        ]
        c = imaplib.IMAP4("127.0.0.1", port, timeout=20)
        assert c.login(LOCAL_USER, LOCAL_PASSWORD)[0] == "OK"
        assert c.select("INBOX")[0] == "OK"
        c.logout()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert err.splitlines()[-1] == "protokit proxy: stopped"
    assert "level=INFO logger=protokit.proxy account=work logged in upstream as" in err
    assert LOCAL_PASSWORD not in err


def test_client_commands_for_each_protocol_and_tls_mode(tmp_path: Path) -> None:
    base = AccountConfig(
        name="a", protocol="imap", listen_port=0, local_user="me",
        upstream_host="h", upstream_port=1, upstream_user="me@example.com",
        provider=ProviderConfig(name="p", token_endpoint="https://t", client_id="c"),
    )  # fmt: skip
    cert = tmp_path / "cert.pem"
    starttls = replace(base, listen_tls=TLSMode.STARTTLS, cert_file=cert)
    implicit = replace(base, listen_tls=TLSMode.IMPLICIT, cert_file=cert)
    assert client_command(base, "127.0.0.1", 1143) == "curl -u me imap://127.0.0.1:1143/INBOX"
    assert client_command(starttls, "127.0.0.1", 1143) == (
        f"curl --ssl-reqd --cacert {cert} -u me imap://127.0.0.1:1143/INBOX"
    )
    assert client_command(replace(implicit, protocol="pop3"), "::1", 995) == (
        f"curl --cacert {cert} -u me pop3s://[::1]:995/"
    )
    assert client_command(replace(base, protocol="smtp"), "127.0.0.1", 1587) == (
        "curl -u me --mail-from me@example.com --mail-rcpt me@example.com -T message.eml "
        "smtp://127.0.0.1:1587"
    )
