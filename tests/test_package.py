from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import protokit
from protokit import (
    NEED_DATA,
    LocalProtocolError,
    NeedData,
    ProtocolError,
    RemoteProtocolError,
    Secret,
)
from protokit.errors import BareLineEndingError, LineTooLongError


def test_version() -> None:
    assert protokit.__version__ == "0.1.0"


def test_public_names_are_exported() -> None:
    for name in protokit.__all__:
        assert getattr(protokit, name) is not None
    assert set(protokit.__all__) == {
        "NEED_DATA",
        "LocalProtocolError",
        "NeedData",
        "ProtocolError",
        "RemoteProtocolError",
        "Secret",
        "__version__",
    }


def test_core_imports_without_anyio() -> None:
    code = (
        "import sys\n"
        "for m in ('anyio', 'trio', 'h11', 'cryptography', 'sniffio'): sys.modules[m] = None\n"
        "import protokit, protokit.wire\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "ok\n"


def test_need_data_is_a_singleton_with_a_plain_repr() -> None:
    assert repr(NEED_DATA) == "NEED_DATA"
    assert str(NEED_DATA) == "NEED_DATA"
    assert NEED_DATA is NeedData.NEED_DATA
    assert list(NeedData) == [NEED_DATA]


def test_error_family_carries_the_reply() -> None:
    err = RemoteProtocolError("bad command", reply=b"500 5.5.2 Syntax error\r\n")
    assert isinstance(err, ProtocolError)
    assert err.message == "bad command"
    assert err.reply == b"500 5.5.2 Syntax error\r\n"
    assert str(err) == "bad command"
    assert repr(err) == "RemoteProtocolError('bad command', reply=b'500 5.5.2 Syntax error\\r\\n')"
    assert repr(LocalProtocolError("x")) == "LocalProtocolError('x')"
    assert LocalProtocolError("x").reply is None
    assert not issubclass(LocalProtocolError, RemoteProtocolError)


def test_with_reply_keeps_class_and_fields() -> None:
    err = LineTooLongError("too long", limit=512, complete=False)
    err2 = err.with_reply(b"500 5.5.6 Line too long\r\n")
    assert type(err2) is LineTooLongError
    assert isinstance(err2, LineTooLongError)
    assert (err2.limit, err2.complete, err2.message) == (512, False, "too long")
    assert err2.reply == b"500 5.5.6 Line too long\r\n"
    assert err.reply is None
    bare = BareLineEndingError("bare LF", line=b"x\n").with_reply(b"-ERR\r\n")
    assert isinstance(bare, BareLineEndingError)
    assert bare.line == b"x\n"


def test_secret_never_shows_its_value() -> None:
    s = Secret("hunter2")
    for text in (repr(s), str(s), f"{s}", f"{s!r}", f"{s:>20}", f"{s}", repr([s])):
        assert "hunter2" not in text
    assert repr(s) == "Secret('[REDACTED]')"
    assert str(s) == "[REDACTED]"
    assert s.expose() == "hunter2"
    assert len(s) == 7
    b = Secret(b"\x00tim\x00pw")
    assert "pw" not in repr(b)
    assert b.expose() == b"\x00tim\x00pw"


def test_secret_equality_hashing_and_pickling() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != Secret(b"a")
    assert Secret("a") != "a"
    with pytest.raises(TypeError, match="not hashable"):
        hash(Secret("a"))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret("a"))
    with pytest.raises(TypeError, match="str or bytes"):
        Secret(123)  # type: ignore[type-var]


def test_secret_in_an_exception_message_stays_hidden() -> None:
    s = Secret("topsecret")
    err = RemoteProtocolError(f"login failed for token {s}")
    assert "topsecret" not in str(err)
    assert "topsecret" not in repr(err)
