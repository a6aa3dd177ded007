"""Public names, event shapes, xtext, replies and configuration checks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protokit.smtp as smtp
from protokit import LocalProtocolError, RemoteProtocolError
from protokit.smtp import Event, Reply, ServerConfig, _events, xtext_decode, xtext_encode


def test_all_is_exactly_the_public_names() -> None:
    public = {n for n in dir(smtp) if not n.startswith("_")}
    modules = {"annotations"} | {n for n in public if type(getattr(smtp, n)).__name__ == "module"}
    assert set(smtp.__all__) == public - modules
    assert smtp.__all__ == sorted(smtp.__all__)


def test_events_are_frozen_slotted_keyword_only() -> None:
    for name in _events.__all__:
        cls = getattr(_events, name)
        assert dataclasses.is_dataclass(cls)
        params = cls.__dataclass_params__
        assert params.frozen, name
        assert "__slots__" in cls.__dict__, name
        assert all(f.kw_only for f in dataclasses.fields(cls)), name
        assert issubclass(cls, Event)


def test_events_refuse_mutation_and_positional_arguments() -> None:
    ev = smtp.Hello(verb="EHLO", domain="x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.domain = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        smtp.Hello("EHLO", "x")  # type: ignore[misc]
    assert repr(smtp.MessageData(data=b"x" * 10_000)) == "MessageData(<10000 bytes>)"


@given(st.text(max_size=40))
def test_xtext_round_trips(value: str) -> None:
    encoded = xtext_encode(value)
    assert all(33 <= ord(c) <= 126 for c in encoded)
    assert xtext_decode(encoded.encode("ascii")) == value


@pytest.mark.parametrize("bad", [b"a+", b"a+4", b"a+zz", b"a b", b"a=b", b"+FF"])
def test_malformed_xtext(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        xtext_decode(bad)


def test_reply_properties() -> None:
    r = Reply(code=452, enhanced="4.5.3", lines=("a", "b"))
    assert r.text == "a\nb" and r.is_transient and not r.is_positive
    assert r.to_bytes(enhanced=False) == b"452-a\r\n452 b\r\n"
    with pytest.raises(LocalProtocolError):
        Reply(code=250, lines=())


def test_config_limits_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        ServerConfig(max_command_line=100)
    with pytest.raises(LocalProtocolError):
        ServerConfig(max_auth_line=200)
    with pytest.raises(LocalProtocolError):
        smtp.ClientConfig(local_hostname="not a name")


def test_the_core_imports_only_the_standard_library() -> None:
    code = (
        "import sys\n"
        "for n in ('anyio', 'trio', 'h11', 'cryptography', 'sniffio'): sys.modules[n] = None\n"
        "import protokit.smtp\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
