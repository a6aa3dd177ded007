"""The proxy's TOML configuration: what a good file gives, and an error that
names the key for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from protokit.net import TLSMode
from protokit.proxy import ConfigError, ProxyLimits, load_config
from protokit.wire import Secret

GOOD = """\
state_dir = "state"

[providers.example]
token_endpoint = "https://oauth2.example.com/token"
authorization_endpoint = "https://oauth2.example.com/auth"
device_authorization_endpoint = "https://oauth2.example.com/device"
client_id = "my-client"
client_secret = "s3cret-value"
scopes = ["https://mail.example.com/"]

[accounts.work]
protocol = "imap"
listen_port = 1143
local_user = "me"
upstream_host = "imap.example.com"
upstream_port = 993
upstream_user = "me@example.com"
provider = "example"

[accounts.send]
protocol = "smtp"
listen_host = "0.0.0.0"
listen_port = 1465
listen_tls = "implicit"
cert_file = "cert.pem"
key_file = "key.pem"
local_user = "me"
upstream_host = "smtp.example.com"
upstream_port = 587
upstream_tls = "starttls"
upstream_cafile = "ca.pem"
upstream_server_hostname = "mx.example.com"
upstream_user = "me@example.com"
mechanisms = ["oauthbearer"]
grant = "work"
[accounts.send.provider]
token_endpoint = "http://127.0.0.1:8080/token"
client_id = "other"

[limits]
idle_timeout = 600
max_connections = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proxy.toml"
    path.write_text(text)
    return path


def test_a_good_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.state_dir == tmp_path / "state"
    assert config.limits == ProxyLimits(idle_timeout=600.0, max_connections=5)
    work, send = config.accounts
    assert work.name == "work" and work.protocol == "imap"
    assert (work.listen_host, work.listen_port, work.listen_tls) == (
        "127.0.0.1",
        1143,
        TLSMode.PLAIN,
    )
    assert (work.upstream_host, work.upstream_port, work.upstream_tls) == (
        "imap.example.com",
        993,
        TLSMode.IMPLICIT,
    )
    assert work.mechanisms == ("XOAUTH2", "OAUTHBEARER")
    assert work.grant_name == "work"
    assert work.provider.client_secret == Secret("s3cret-value")
    assert work.provider.scopes == ("https://mail.example.com/",)
    assert send.cert_file == tmp_path / "cert.pem" and send.key_file == tmp_path / "key.pem"
    assert send.upstream_cafile == str(tmp_path / "ca.pem")
    assert send.upstream_server_hostname == "mx.example.com"
    assert send.mechanisms == ("OAUTHBEARER",)
    assert send.grant_name == "work"
    assert send.provider.token_endpoint == "http://127.0.0.1:8080/token"
    assert send.provider.client_secret is None
    assert config.account("send") is send
    with pytest.raises(ConfigError, match=r"^no account 'nope' in the configuration"):
        config.account("nope")


def test_the_client_secret_never_shows(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert "s3cret-value" not in repr(config)
    assert "s3cret-value" not in str(config.accounts[0].provider)


def _edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_edit('state_dir = "state"', 'state_dir = "state"\nport = 1'), "unknown setting(s) port"),
        (_edit('protocol = "imap"', 'protocol = "http"'),
         'accounts.work.protocol must be "imap", "pop3" or "smtp"'),
        (_edit('listen_port = 1143\n', ''), "accounts.work.listen_port is required"),
        (_edit("listen_port = 1143", "listen_port = 70000"),
         "accounts.work.listen_port must be a port number, 0 to 65535"),
        (_edit('local_user = "me"\n', 'local_user = "me"\nlisten_host = "0.0.0.0"\n'),
         "accounts.work.listen_host is 0.0.0.0: a plain listener only on loopback"),
        (_edit('cert_file = "cert.pem"\n', ''),
         "accounts.send.cert_file is required with listen_tls = 'implicit'"),
        (_edit('listen_tls = "implicit"', 'listen_tls = "tls"'),
         'accounts.send.listen_tls must be "plain", "starttls" or "implicit"'),
        (_edit('upstream_port = 993\n', 'upstream_port = 993\nupstream_tls = "plain"\n'),
         'accounts.work.upstream_tls is "plain": bearer tokens go to imap.example.com only '
         "over TLS"),
        (_edit('mechanisms = ["oauthbearer"]', 'mechanisms = ["PLAIN"]'),
         'accounts.send.mechanisms must list "XOAUTH2" and/or "OAUTHBEARER"'),
        (_edit('provider = "example"', 'provider = "nope"'),
         "accounts.work.provider names no [providers.nope] (known: example)"),
        (_edit('provider = "example"\n', ''), "accounts.work.provider is required"),
        (_edit('token_endpoint = "http://127.0.0.1:8080/token"',
               'token_endpoint = "http://oauth.example.com/token"'),
         "accounts.send.provider.token_endpoint must be https://"),
        (_edit('client_id = "my-client"\n', ''), "providers.example.client_id is required"),
        (_edit("listen_port = 1465", "listen_port = 1143\nlisten_host = '127.0.0.1'")
         .replace('listen_host = "0.0.0.0"\n', ''),
         "accounts.send.listen_port 1143 is already used by accounts.work"),
        (_edit("idle_timeout = 600", "idle_timeout = -1"),
         "limits.idle_timeout must be greater than 0"),
        (_edit("max_connections = 5", "max_connections = true"),
         "limits.max_connections must be a whole number, at least 1"),
        (_edit("[accounts.work]", "[accounts.'a b']"),
         "accounts.'a b': an account name is letters, digits"),
        ('state_dir = "x"\n', "no [accounts.NAME] table: nothing to proxy"),
        ("state_dir = \n", "is not valid TOML"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as failed:
        load_config(path)
    # The file, then the dotted key and what is wrong with it.
    separator = " " if message.startswith("is not valid TOML") else ": "
    assert str(failed.value).startswith(f"{path}{separator}{message}")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as failed:
        load_config(tmp_path / "absent.toml")
    assert (
        str(failed.value) == f"cannot read {tmp_path / 'absent.toml'}: No such file or directory"
    )
