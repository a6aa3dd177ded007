"""For random valid values of every command and response type,
parse(write(x)) == x, and writing what we parsed is stable."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protokit.imap import parse_command, parse_response, write_command, write_response

from .codec_helpers import msg, pieces_bytes
from .codec_strategies import commands, responses


def _split(data: bytes) -> Any:
    """Cut written bytes into the fragments the framer would give (literal
    announcements found by the writer's own layout)."""
    import re

    frags: list[bytes] = []
    pos = 0
    ann = re.compile(rb"~?\{([0-9]+)\+?\}\r\n")
    while True:
        end = data.find(b"\r\n", pos)
        m = ann.search(data, pos, end + 2)
        if m is None or m.end() != end + 2:
            frags.append(data[pos:end])
            assert end + 2 == len(data), data
            return msg(*frags)
        frags.append(data[pos:end])
        n = int(m.group(1))
        frags.append(data[end + 2 : end + 2 + n])
        pos = end + 2 + n


@settings(max_examples=300)
@given(responses, st.booleans())
def test_response_round_trip(resp: Any, utf8: bool) -> None:
    data = write_response(resp, utf8=utf8)
    back = parse_response(_split(data), utf8=utf8)
    assert back == resp
    assert write_response(back, utf8=utf8) == data


@settings(max_examples=300)
@given(commands, st.booleans(), st.booleans())
def test_command_round_trip(cmd: Any, plus: bool, utf8: bool) -> None:
    data = pieces_bytes(write_command(cmd, literal_plus=plus, utf8=utf8))
    back = parse_command(_split(data), utf8=utf8)
    assert back == cmd
    assert pieces_bytes(write_command(back, literal_plus=plus, utf8=utf8)) == data
