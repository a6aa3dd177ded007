"""README's proxy.toml is a configuration the proxy accepts, with the
meaning README gives it."""

from __future__ import annotations

import re
from pathlib import Path

from protokit.net import TLSMode
from protokit.proxy import load_config

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_proxy_toml_loads(tmp_path: Path) -> None:
    section = README[README.index("## The OAuth2 proxy") :]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match is not None
    path = tmp_path / "proxy.toml"
    path.write_text(match.group(1))
    config = load_config(path)
    (account,) = config.accounts
    assert account.name == "work"
    assert account.protocol == "imap"
    assert (account.listen_host, account.listen_port) == ("127.0.0.1", 1143)
    assert account.listen_tls is TLSMode.PLAIN
    assert (account.upstream_host, account.upstream_port) == ("imap.example.com", 993)
    assert account.upstream_tls is TLSMode.IMPLICIT
    assert account.upstream_user == "me@example.com"
    assert account.provider.client_id == "my-client"
    assert config.state_dir == tmp_path / "proxy-state"
