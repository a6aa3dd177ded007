"""protokit.oauth's public API: the exports are consistent, and the module
docstring's example runs (against the fake provider)."""

from __future__ import annotations

import contextlib
import importlib
import io
import textwrap
import threading
import time
from pathlib import Path

import pytest

import protokit.oauth
from tests.interop.oauth_provider import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, oauth_provider


def test_exports() -> None:
    """Every name in __all__ comes from a private module's __all__, and the
    package exports nothing else."""
    exported = protokit.oauth.__all__
    assert len(set(exported)) == len(exported)
    public = {name for name in vars(protokit.oauth) if not name.startswith("_")}
    assert public - set(exported) == set()
    sources: set[str] = set()
    for module in ("_errors", "_flows", "_http", "_introspect", "_manager", "_storage"):
        sources |= set(importlib.import_module(f"protokit.oauth.{module}").__all__)
    assert set(exported) <= sources


def docstring_example() -> str:
    doc = protokit.oauth.__doc__ or ""
    start = doc.index("::\n") + 3
    end = doc.index("\nAfter a restart")
    return textwrap.dedent(doc[start:end])


def test_the_docstring_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with oauth_provider(user="alice@example.com", device_interval=1) as provider:
        code = (
            docstring_example()
            .replace("https://login.example.com", provider.base_url)
            .replace('"my-mail-client"', repr(DEFAULT_CLIENT_ID))
            .replace('"my-client-secret"', repr(DEFAULT_CLIENT_SECRET))
        )
        monkeypatch.chdir(tmp_path)
        stop = threading.Event()

        def user_approves() -> None:  # the user types the code at the provider
            while not stop.is_set():
                for user_code in provider.user_codes():
                    provider.approve(user_code)
                    return
                time.sleep(0.01)

        approver = threading.Thread(target=user_approves)
        approver.start()
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                exec(compile(code, "protokit.oauth docstring", "exec"), {})
        finally:
            stop.set()
            approver.join(timeout=5)
        user_code = provider.user_codes()[0]
        assert err.getvalue() == (
            f"Open {provider.base_url}/device?user_code={user_code} (code {user_code})\n"
        )
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("access token valid until 20")
        assert lines[1] == "active: True account: alice@example.com"
        assert [p.name for p in (tmp_path / "tokens").iterdir()] == ["account-alice.tokens"]
