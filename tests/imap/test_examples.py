"""The examples of RFC 9051 and RFC 3501 (spec/imap/examples) parse, and
write back to bytes that parse to the same value."""

from __future__ import annotations

import pytest

from protokit.imap import parse_command, parse_response, write_response

from .codec_helpers import command_bytes, examples, one_message

ENTRIES = [
    pytest.param(d, data, id=f"{name}:{i}")
    for name in ("rfc3501.txt", "rfc9051.txt")
    for i, (d, data) in enumerate(examples(name))
]


def test_there_are_many_examples() -> None:
    assert len(ENTRIES) > 250


@pytest.mark.parametrize(("direction", "data"), ENTRIES)
def test_example_round_trips(direction: str, data: bytes) -> None:
    server = direction == "C"
    value = (parse_command if server else parse_response)(one_message(data, server=server))
    written = command_bytes(value) if server else write_response(value)
    again = (parse_command if server else parse_response)(one_message(written, server=server))
    assert again == value
    # writing is stable: what we wrote, we write again identically
    assert (command_bytes(again) if server else write_response(again)) == written
