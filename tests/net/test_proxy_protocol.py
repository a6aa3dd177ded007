from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.net import ProxyHeader, ProxyProtocolError, build_v1, build_v2, parse_proxy_header


def test_v1_tcp4() -> None:
    data = b"PROXY TCP4 192.0.2.1 127.0.0.1 56324 3143\r\na1 CAPABILITY\r\n"
    h = parse_proxy_header(data)
    assert h == ProxyHeader(
        version=1, source=("192.0.2.1", 56324), destination=("127.0.0.1", 3143), length=43
    )
    assert data[h.length :] == b"a1 CAPABILITY\r\n"


def test_v1_tcp6_and_unknown() -> None:
    h = parse_proxy_header(b"PROXY TCP6 2001:db8::1 ::1 1 25\r\n")
    assert h is not None
    assert (h.source, h.destination) == (("2001:db8::1", 1), ("::1", 25))
    u = parse_proxy_header(b"PROXY UNKNOWN ffff\r\n")
    assert u == ProxyHeader(version=1, source=None, destination=None, length=20)


@pytest.mark.parametrize(
    "bad",
    [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXX TCP4",
        b"EHLO x\r\n",
        b"PROXY " + b"x" * 200,
        b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + b"\x00" * 12,  # version 3
        b"\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x0c" + b"\x00" * 12,  # command 2
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04" + b"\x00" * 4,  # short IPv4 block
        b"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c" + b"\x00" * 12,  # UDP
        b"\r\n\r\nX",
    ],
)
def test_invalid_headers(bad: bytes) -> None:
    with pytest.raises(ProxyProtocolError):
        parse_proxy_header(bad)


def test_v2_round_trip_both_families() -> None:
    for src, dst in ((("192.0.2.7", 4000), ("127.0.0.1", 3025)), (("2001:db8::7", 1), ("::1", 2))):
        wire = build_v2(src, dst)
        assert wire.startswith(b"\r\n\r\n\x00\r\nQUIT\n\x21")
        h = parse_proxy_header(wire + b"EHLO")
        assert h == ProxyHeader(version=2, source=src, destination=dst, length=len(wire))


def test_v2_local_command() -> None:
    wire = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    assert parse_proxy_header(wire) == ProxyHeader(
        version=2, source=None, destination=None, length=16
    )


@pytest.mark.parametrize(
    "whole",
    [
        build_v1(("192.0.2.1", 5), ("127.0.0.1", 25)),
        build_v2(("192.0.2.1", 5), ("127.0.0.1", 25)),
    ],
)
def test_every_prefix_needs_more(whole: bytes) -> None:
    for i in range(len(whole)):
        assert parse_proxy_header(whole[:i]) is None
    assert parse_proxy_header(whole) is not None


@given(st.binary(max_size=120))
def test_arbitrary_bytes_raise_only_our_error(data: bytes) -> None:
    try:
        parse_proxy_header(data)
    except ProxyProtocolError:
        pass
