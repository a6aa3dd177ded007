"""RFC 5801 saslnames and GS2 headers; token sources; strict UTF-8."""

from __future__ import annotations

import pytest

from protokit import Secret
from protokit.sasl import SASLError
from protokit.sasl._common import (
    Gs2Header,
    escape_saslname,
    parse_gs2_header,
    resolve_token,
    secret,
    unescape_saslname,
    utf8,
)


def test_saslname_round_trip() -> None:
    for name in ("user", "a,b", "a=b", "=2C", ",=,", "jürgen"):
        assert unescape_saslname(escape_saslname(name).encode(), "t") == name
    assert escape_saslname("a,b=c") == "a=2Cb=3Dc"


@pytest.mark.parametrize("raw", [b"", b"a=", b"a=2c", b"a=41", b"a,b", b"a\x00", b"\xff"])
def test_saslname_strict(raw: bytes) -> None:
    with pytest.raises(SASLError):
        unescape_saslname(raw, "t")


def test_gs2_header() -> None:
    assert parse_gs2_header(b"n,,rest", "t") == (Gs2Header("n", None, None, b"n,,"), b"rest")
    assert parse_gs2_header(b"y,a=b=2Cc,", "t") == (
        Gs2Header("y", None, "b,c", b"y,a=b=2Cc,"),
        b"",
    )
    header, rest = parse_gs2_header(b"p=tls-exporter,,x", "t")
    assert (header.cb_flag, header.cb_name, rest) == ("p", "tls-exporter", b"x")
    for bad in (b"", b"n", b"n,", b"F,n,,", b"p=,,", b"p=a b,,", b"n,x=1,", b"N,,"):
        with pytest.raises(SASLError):
            parse_gs2_header(bad, "t")


def test_token_sources() -> None:
    assert resolve_token("t") == Secret("t")
    assert resolve_token(Secret("t")) == Secret("t")
    assert resolve_token(lambda: "t") == Secret("t")
    assert resolve_token(lambda: Secret("t")) == Secret("t")
    with pytest.raises(TypeError):
        secret(b"bytes")  # type: ignore[arg-type]


def test_utf8() -> None:
    assert utf8("é".encode(), "t") == "é"
    with pytest.raises(SASLError, match="t is not valid UTF-8"):
        utf8(b"\xc3", "t")
