"""The second, independent IMAP oracle: the ``abnf`` package's RFC 9051
grammar, for single-line messages (no literals).  Every spec/imap example
protokit accepts must be accepted by RFC 9051's ABNF too, unless it matches a
known difference below (an extension RFC 9051 does not define, or a named
protokit leniency); and what protokit's writer emits for the base response
types must be RFC 9051 ABNF."""

from __future__ import annotations

import re
from typing import Any

import pytest
from abnf.grammars import rfc9051
from hypothesis import given, settings
from hypothesis import strategies as st

from protokit import ProtocolError
from protokit.imap import (
    Exists,
    Expunge,
    Flags,
    Message,
    Search,
    Status,
    parse_command,
    parse_response,
    write_response,
)
from protokit.testing._imap_strategies import flags as flag_values
from protokit.testing._imap_strategies import texts

from ..fuzz.corpus import imap_examples

RESPONSE_RULES = [
    rfc9051.Rule(n)
    for n in ("response-data", "response-tagged", "continue-req", "response-fatal", "greeting")
]
COMMAND_RULE = rfc9051.Rule("command")

# Inputs RFC 9051's ABNF rejects that protokit accepts on purpose.
KNOWN: list[tuple[str, str]] = [
    (r"SORT|THREAD|QUOTA|QUOTAROOT|GETQUOTA|SETQUOTA", "RFC 5256 / RFC 9208 extension"),
    (r"X-GM-", "Gmail extension (X-GM-EXT-1)"),
    (r"MODSEQ|VANISHED|CONDSTORE|QRESYNC|CHANGEDSINCE|UNCHANGEDSINCE", "RFC 7162 extension"),
    (r"\bLSUB\b|\bCHECK\b", "IMAP4rev1 command removed in IMAP4rev2"),
    (r"CAPABILITY IMAP4rev1(?!.*IMAP4rev2)", "IMAP4rev1 server (RFC 3501 example)"),
    (r"^[^ ]+ ID |^\S+ COMPRESS", "RFC 2971 / RFC 4978 extension"),
    (r"APPENDLIMIT", "RFC 7889 extension"),
    (r"\(USE ", "RFC 6154 extension"),
    (
        r"^\S+ IDLE\r\n$|^DONE\r\n$",
        "IDLE is one command over two lines in the ABNF; framed as two",
    ),
    (r'LIST "" \(', "RFC 5258 multiple patterns (LIST-EXTENDED)"),
    (r"XPIG-LATIN|X-UNKNOWN", "IMAP-GENERIC-RESPONSE: unknown names are kept generic"),
]


def abnf_accepts(line: str, rules: list[Any]) -> bool:
    for rule in rules:
        try:
            rule.parse_all(line)
        except Exception:
            continue
        return True
    return False


def known(line: str) -> str | None:
    for pattern, reason in KNOWN:
        if re.search(pattern, line):
            return reason
    return None


EXAMPLES = [
    (d, e.decode()) for d in "CS" for e in imap_examples(d) if b"{" not in e and e.isascii()
]


@pytest.mark.parametrize(("direction", "line"), EXAMPLES, ids=[e[1][:40] for e in EXAMPLES])
def test_examples_agree_with_rfc9051_abnf(direction: str, line: str) -> None:
    data = line.encode()
    parse = parse_command if direction == "C" else parse_response
    parse(Message(fragments=(data[:-2],)))  # protokit accepts every example
    rules = [COMMAND_RULE] if direction == "C" else RESPONSE_RULES
    if not abnf_accepts(line, rules):
        assert known(line) is not None, f"RFC 9051 ABNF rejects {line!r}"


def test_the_known_list_is_not_stale() -> None:
    used = {known(line) for _, line in EXAMPLES if known(line)}
    assert used == {reason for _, reason in KNOWN}


BASE = st.one_of(
    st.builds(
        Status,
        tag=st.just("a1"),
        status=st.sampled_from(["OK", "NO", "BAD"]),
        text=texts.filter(bool),
    ),
    st.builds(
        Status,
        tag=st.none(),
        status=st.sampled_from(["OK", "NO", "BAD", "BYE"]),
        text=texts.filter(bool),
    ),
    st.builds(Exists, count=st.integers(0, 2**32 - 1)),
    st.builds(Expunge, seq=st.integers(1, 2**32 - 1)),
    st.builds(Flags, flags=st.lists(flag_values, max_size=4, unique=True).map(tuple)),
    st.builds(Search, ids=st.lists(st.integers(1, 2**32 - 1), max_size=5).map(tuple)),
)


@settings(max_examples=150)
@given(BASE)
def test_writer_output_is_rfc9051(resp: Any) -> None:
    try:
        data = write_response(resp)
    except ProtocolError:
        return
    if b"{" in data or not data.isascii():
        return  # literals and 8-bit text are outside this oracle
    assert abnf_accepts(data.decode(), RESPONSE_RULES), data
