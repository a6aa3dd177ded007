"""SASLprep (RFC 4013): the RFC's examples and the bidi rules."""

from __future__ import annotations

import pytest

from protokit.sasl import SASLprepError, saslprep

from .exchange import load

EXAMPLES = load("rfc4013-saslprep.json")["examples"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["comment"] for e in EXAMPLES])
def test_rfc4013_examples(example: dict[str, str | None]) -> None:
    value = str(example["input"])
    if example["output"] is None:
        with pytest.raises(SASLprepError) as info:
            saslprep(value)
        assert value not in str(info.value)
    else:
        assert saslprep(value) == example["output"]


def test_spaces_and_unassigned() -> None:
    assert saslprep("a\u00a0b") == "a b"
    assert saslprep("") == ""
    assert saslprep("\u00ad") == ""
    with pytest.raises(SASLprepError):
        saslprep("\u0221")  # unassigned in Unicode 3.2
    assert saslprep("\u0221", allow_unassigned=True) == "\u0221"
    assert saslprep("\u0627\u0628") == "\u0627\u0628"
    with pytest.raises(SASLprepError):
        saslprep("\u0627a\u0628")
    with pytest.raises(SASLprepError):
        saslprep("\ue000")
