"""SASL: the spec/sasl/vectors and generated messages go to protokit's server
mechanisms and to pyparsing grammars of RFC 4616 (PLAIN) and RFC 5802 7
(SCRAM client-first-message); accept/reject and the identities must agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyparsing as pp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protokit.sasl import (
    Failure,
    LookupScramCredentials,
    PlainServer,
    VerifyPassword,
    create_server,
)
from protokit.testing import strategies as S

from .grammars import Inconclusive, Reject, _run

VECTORS = Path(__file__).resolve().parents[2] / "spec" / "sasl" / "vectors"

# RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd; SAFE = any UTF-8 but NUL
safe = pp.Regex(r"[^\x00]+")
plain = pp.Optional(safe, default=None) + pp.Suppress("\x00") + safe + pp.Suppress("\x00") + safe

# RFC 5802 7 (no channel binding offered: "n" or "y")
value_safe = r"(?:[^\x00,=]|=2C|=3D)+"
saslname = pp.Regex(value_safe).set_parse_action(
    lambda t: t[0].replace("=2C", ",").replace("=3D", "=")
)
gs2_header = (
    pp.Suppress(pp.one_of("n y"))
    + pp.Suppress(",")
    + pp.Optional(pp.Suppress("a=") + saslname, default=None)
    + pp.Suppress(",")
)
nonce = pp.Regex(r"r=[\x21-\x2b\x2d-\x7e]+")
extensions = pp.Regex(r"(,[A-Za-z]=[^\x00,]*)*")
client_first = (
    gs2_header
    + pp.Suppress("n=")
    + saslname
    + pp.Suppress(",")
    + pp.Suppress(nonce)
    + pp.Suppress(extensions)
)


def oracle_plain(message: bytes) -> tuple[Any, ...]:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise Reject("not UTF-8") from None
    authzid, authcid, passwd = _run(plain, text)
    return authcid, authzid, passwd


def oracle_scram(message: bytes) -> tuple[Any, ...]:
    if not message.isascii():
        raise Inconclusive("8-bit names are SASLprep's business")
    if message.startswith(b"p="):
        raise Inconclusive("channel binding is refused without TLS data")
    authzid, authcid = _run(client_first, message.decode("ascii"))
    return authcid, authzid


def ours_plain(message: bytes) -> tuple[Any, ...]:
    step = PlainServer().start(message)
    if isinstance(step, Failure):
        raise Reject(step.reason)
    assert isinstance(step, VerifyPassword)
    return step.authcid, step.authzid, step.password.expose()


def ours_scram(message: bytes) -> tuple[Any, ...]:
    step = create_server("SCRAM-SHA-256").start(message)
    if isinstance(step, Failure):
        raise Reject(step.reason)
    assert isinstance(step, LookupScramCredentials)
    return step.authcid, step.authzid


def compare(ours: Any, oracle: Any, data: bytes) -> None:
    try:
        theirs: Any = ("accept", oracle(data))
    except Reject:
        theirs = ("reject",)
    except Inconclusive:
        return
    try:
        mine: Any = ("accept", ours(data))
    except Reject:
        mine = ("reject",)
    assert mine == theirs, (data, mine, theirs)


def load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text("utf-8"))["cases"]
    return cases


def encode(case: dict[str, Any]) -> bytes:
    text: str = case["input"]
    return text.encode(case.get("encoding", "utf-8"))


PLAIN = load("plain.json")
SCRAM = load("scram-client-first.json")


@pytest.mark.parametrize("case", PLAIN, ids=[repr(c["input"])[:30] for c in PLAIN])
def test_plain_vectors(case: dict[str, Any]) -> None:
    data = encode(case)
    step = PlainServer().start(data)
    if case["valid"]:
        assert isinstance(step, VerifyPassword)
        assert [step.authcid, step.authzid, step.password.expose()] == case["expect"]
    else:
        assert step == Failure(reason=case["error"])
    compare(ours_plain, oracle_plain, data)


@pytest.mark.parametrize("case", SCRAM, ids=[c["input"][:30] for c in SCRAM])
def test_scram_vectors(case: dict[str, Any]) -> None:
    data = encode(case)
    step = create_server("SCRAM-SHA-256").start(data)
    if case["valid"]:
        assert isinstance(step, LookupScramCredentials)
        assert [step.authcid, step.authzid] == case["expect"]
    else:
        assert step == Failure(reason=case["error"])
    compare(ours_scram, oracle_scram, data)


@settings(max_examples=200)
@given(
    S.sasl_plain_messages()
    | st.lists(st.sampled_from([b"\x00", b"a", b"\xc3\xa9", b" "]), max_size=7).map(b"".join)
)
def test_plain_agrees(message: bytes) -> None:
    compare(ours_plain, oracle_plain, message)


SCRAM_PIECES = st.sampled_from(
    [b"n", b"y", b",", b"a=", b"n=", b"r=", b"user", b"=2C", b"=3D", b"=", b"x", b"m=1", b"e"]
)


@settings(max_examples=300)
@given(st.lists(SCRAM_PIECES, min_size=1, max_size=10).map(b"".join))
def test_scram_client_first_agrees(message: bytes) -> None:
    compare(ours_scram, oracle_scram, message)
