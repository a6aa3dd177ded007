"""``protokit serve`` with tokens from an identity provider, configured in
its TOML file: opaque access tokens checked at an RFC 7662 introspection
endpoint (the fake provider, a real HTTP server on loopback) and JWTs
checked against a configured HS256 key.  Driven by smtplib and imaplib."""

from __future__ import annotations

import base64
import imaplib
import json
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.oauth import make_jwt
from tests.interop.oauth_provider import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Provider,
    oauth_provider,
)
from tests.interop.serve_peers import (
    Served,
    make_data_dir,
    protokit_command,
    run,
    serving,
)

ALICE = "alice@example.com"
JWT_KEY = b"k" * 40
TIMEOUT = 20


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oauth_provider(user=ALICE) as p:
        yield p


def write_config(directory: Path, provider: Provider) -> Path:
    (directory / "introspection-secret").write_text(DEFAULT_CLIENT_SECRET + "\n")
    (directory / "default.key").write_bytes(JWT_KEY)
    config = directory / "serve.toml"
    config.write_text(
        f"""
[introspection]
url = "{provider.introspect_url}"
client_id = "{DEFAULT_CLIENT_ID}"
client_secret_file = "introspection-secret"
cache_ttl = 0

[jwt]
issuer = "https://idp.test"
audience = "mail.test"
hmac_key_files = ["default.key"]
identity_claims = ["sub"]
"""
    )
    return config


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("serve-idp")
    data = make_data_dir(directory / "data", {ALICE: "alicepw"})
    config = write_config(directory, provider)
    with serving(data, "--config", str(config)) as server:
        yield server


def tls(served: Served) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(served.cafile))


def xoauth2(user: str, token: str) -> str:
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def smtp_xoauth2(served: Served, token: str) -> tuple[int, bytes]:
    with smtplib.SMTP_SSL(
        "127.0.0.1", served.port("submissions"), context=tls(served), timeout=TIMEOUT
    ) as client:
        client.ehlo("client.test")
        encoded = base64.b64encode(xoauth2(ALICE, token).encode()).decode()
        code, text = client.docmd("AUTH", f"XOAUTH2 {encoded}")
        if code == 334:
            # The error challenge: the client answers with an empty line.
            challenge = json.loads(base64.b64decode(text))
            assert challenge["status"] == "401"
            code, text = client.docmd("")
        return code, text


def test_an_introspected_token_submits_until_it_is_revoked(
    served: Served, provider: Provider
) -> None:
    grant = provider.issue(ALICE)
    token = provider.access_token(grant)
    assert smtp_xoauth2(served, token) == (235, b"2.7.0 Authentication successful")
    provider.revoke(grant)
    code, text = smtp_xoauth2(served, token)
    assert code == 535
    assert text.startswith(b"5.7.8 ")


def test_a_jwt_reads_over_imap_and_a_wrong_audience_is_refused(served: Served) -> None:
    # make_jwt's tokens name the key "default": the key file's name.
    good = make_jwt(JWT_KEY, ALICE, extra={"iss": "https://idp.test", "aud": "mail.test"})
    bad = make_jwt(JWT_KEY, ALICE, extra={"iss": "https://idp.test", "aud": "other.test"})
    with imaplib.IMAP4_SSL(
        "127.0.0.1", served.port("imaps"), ssl_context=tls(served), timeout=TIMEOUT
    ) as imap:
        typ, _ = imap.authenticate("XOAUTH2", lambda _: xoauth2(ALICE, good).encode())
        assert typ == "OK"
        assert imap.select("INBOX")[0] == "OK"
    with (
        imaplib.IMAP4_SSL(
            "127.0.0.1", served.port("imaps"), ssl_context=tls(served), timeout=TIMEOUT
        ) as imap,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        imap.authenticate("XOAUTH2", lambda _: xoauth2(ALICE, bad).encode())


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            '[introspection]\nurl = "http://idp.example.com/introspect"\nclient_id = "x"\n',
            "introspection.url must be https:// (plain http only to a loopback address)",
        ),
        ('[introspection]\nurl = "https://idp.test/i"\n', "introspection.client_id is required"),
        (
            '[introspection]\nurl = "https://idp.test/i"\nclient_id = "x"\nsecret = "s"\n',
            "[introspection]: unknown setting(s) secret",
        ),
        (
            '[jwt]\nissuer = "i"\naudience = "a"\n',
            "jwt needs public_keys or hmac_key_files",
        ),
        (
            '[jwt]\nissuer = "i"\naudience = "a"\nhmac_key_files = ["missing.key"]\n',
            "jwt: cannot read",
        ),
    ],
)
def test_unusable_token_settings_are_usage_errors(
    tmp_path: Path, table: str, message: str
) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(table)
    done = run(
        protokit_command("serve", "--data-dir", str(tmp_path / "d"), "--config", str(config))
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
