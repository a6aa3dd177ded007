"""SCRAM (RFC 5802, RFC 7677) with -PLUS (RFC 5929): the published
exchanges on both sides, every check SECURITY.md names, and client against
server for every outcome."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable

import pytest

from protokit import LocalProtocolError, Secret
from protokit.sasl import (
    AuthenticationFailed,
    Challenge,
    Failure,
    LookupScramCredentials,
    Request,
    SASLError,
    ScramClient,
    ScramCredentials,
    ScramServer,
    ScramSHA1Client,
    ScramSHA1PlusClient,
    ScramSHA1PlusServer,
    ScramSHA1Server,
    ScramSHA256Client,
    ScramSHA256PlusClient,
    ScramSHA256PlusServer,
    ScramSHA256Server,
    Success,
    derive_scram_credentials,
    tls_server_end_point,
)

from .exchange import SPEC, load, run, traced

V = load("scram.json")["exchanges"]
CB = tls_server_end_point((SPEC / "certs" / "rsa-sha256.der").read_bytes())
OTHER_CB = tls_server_end_point((SPEC / "certs" / "ecdsa-sha384.der").read_bytes())
CREDS = {
    h: derive_scram_credentials(h, "pencil", salt=b"saltsalt", iterations=4096)
    for h in ("SHA-1", "SHA-256")
}


def db(hash_name: str) -> Callable[[Request], object]:
    def answer(request: object) -> object:
        assert isinstance(request, LookupScramCredentials)
        return CREDS[hash_name] if request.authcid == "user" else None

    return answer


@pytest.mark.parametrize("v", V, ids=[v["mechanism"] for v in V])
def test_published_exchange(v: dict[str, object]) -> None:
    client = ScramClient(str(v["hash"]), "user", "pencil", nonce=str(v["client_nonce"]))
    server = ScramServer(str(v["hash"]), nonce=str(v["server_nonce"]))
    assert client.name == server.name == v["mechanism"]
    first = client.initial_response()
    assert first == str(v["client_first"]).encode()
    assert server.start(first) == LookupScramCredentials(authcid="user", authzid=None)
    salt = base64.b64decode(str(v["salt_base64"]))
    creds = derive_scram_credentials(str(v["hash"]), "pencil", salt, int(v["iterations"]))  # type: ignore[call-overload]
    server_first = server.answer(creds)
    assert server_first == Challenge(data=str(v["server_first"]).encode())
    final = client.respond(str(v["server_first"]).encode())
    assert final == str(v["client_final"]).encode()
    assert server.receive(final) == Success(
        authcid="user", authzid=None, data=str(v["server_final"]).encode()
    )
    client.finish(str(v["server_final"]).encode())


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (ScramSHA1Client, "SCRAM-SHA-1"),
        (ScramSHA256Client, "SCRAM-SHA-256"),
    ],
)
def test_named_clients_reproduce_the_vectors(cls: Callable[..., ScramClient], name: str) -> None:
    v = next(v for v in V if v["mechanism"] == name)
    client = cls("user", "pencil", nonce=v["client_nonce"])
    assert client.name == name
    assert client.initial_response() == v["client_first"].encode()
    assert client.respond(v["server_first"].encode()) == v["client_final"].encode()
    client.finish(v["server_final"].encode())


# -- client and server against each other --------------------------------------

PAIRS: list[tuple[Callable[[], ScramClient], Callable[[], ScramServer], str]] = [
    (lambda: ScramSHA1Client("user", "pencil"), lambda: ScramSHA1Server(), "SHA-1"),
    (lambda: ScramSHA256Client("user", "pencil"), lambda: ScramSHA256Server(), "SHA-256"),
    (
        lambda: ScramSHA1PlusClient("user", "pencil", channel_binding=CB),
        lambda: ScramSHA1PlusServer(channel_binding=CB),
        "SHA-1",
    ),
    (
        lambda: ScramSHA256PlusClient("user", "pencil", channel_binding=CB),
        lambda: ScramSHA256PlusServer(channel_binding=CB),
        "SHA-256",
    ),
]
IDS = ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"]


@pytest.mark.parametrize(("client", "server", "hash_name"), PAIRS, ids=IDS)
def test_success(
    client: Callable[[], ScramClient], server: Callable[[], ScramServer], hash_name: str
) -> None:
    result = run(client(), server(), db(hash_name))
    assert result.outcome.authcid == "user"  # type: ignore[union-attr]
    assert isinstance(result.outcome, Success)
    assert result.outcome.data is not None
    assert result.outcome.data.startswith(b"v=")


@pytest.mark.parametrize(("client", "server", "hash_name"), PAIRS, ids=IDS)
def test_success_without_initial_response_and_data_as_challenge(
    client: Callable[[], ScramClient], server: Callable[[], ScramServer], hash_name: str
) -> None:
    srv = server()
    srv.success_data_as_challenge = True
    result = run(client(), srv, db(hash_name), use_initial=False)
    assert result.outcome == Success(authcid="user")
    assert result.transcript[1] == ("S", b"")
    assert result.transcript[-2][1].startswith(b"v=")  # type: ignore[union-attr]
    assert result.transcript[-1] == ("C", b"")


def test_wrong_password_and_unknown_user_fail_alike_on_one_path() -> None:
    outcomes, traces = [], []
    for user, password in (("user", "wrong"), ("nobody", "wrong")):
        server = ScramSHA256Server(nonce="srv", fake_iterations=4096)
        client = ScramSHA256Client(user, password, nonce="cli")
        request = server.start(client.initial_response())
        assert isinstance(request, LookupScramCredentials)
        with traced() as lines:
            challenge = server.answer(db("SHA-256")(request))
        assert isinstance(challenge, Challenge)
        final = client.respond(challenge.data)
        with traced() as lines2:
            outcomes.append(server.receive(final))
        traces.append((lines, lines2))
    assert outcomes == [Failure(reason="SCRAM-SHA-256: invalid-proof")] * 2
    assert traces[0] == traces[1]


def test_unknown_user_gets_a_stable_fake_salt() -> None:
    def server_first(user: str, key: bytes) -> bytes:
        server = ScramSHA256Server(nonce="srv", fake_key=key)
        server.start(b"n,,n=" + user.encode() + b",r=cli")
        step = server.answer(None)
        assert isinstance(step, Challenge)
        return step.data

    a = server_first("ghost", b"k" * 32)
    assert a == server_first("ghost", b"k" * 32)
    assert re.fullmatch(rb"r=clisrv,s=[A-Za-z0-9+/]{22}==,i=4096", a)
    assert a != server_first("phantom", b"k" * 32)
    assert a != server_first("ghost", b"j" * 32)


def test_tampered_server_signature() -> None:
    v = V[1]
    client = ScramSHA256Client("user", "pencil", nonce=v["client_nonce"])
    client.initial_response()
    client.respond(v["server_first"].encode())
    signature = bytearray(base64.b64decode(v["server_final"][2:]))
    signature[-1] ^= 1
    with pytest.raises(AuthenticationFailed, match="server signature does not verify"):
        client.finish(b"v=" + base64.b64encode(bytes(signature)))


def test_server_signature_is_mandatory() -> None:
    v = V[1]
    client = ScramSHA256Client("user", "pencil", nonce=v["client_nonce"])
    client.initial_response()
    client.respond(v["server_first"].encode())
    with pytest.raises(AuthenticationFailed, match="did not prove its identity"):
        client.finish()
    with pytest.raises(AuthenticationFailed):
        ScramSHA256Client("user", "pencil").finish(None)


def test_server_signature_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    v = V[1]
    expected = base64.b64decode(v["server_final"][2:])
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    client = ScramSHA256Client("user", "pencil", nonce=v["client_nonce"])
    client.initial_response()
    client.respond(v["server_first"].encode())
    monkeypatch.setattr(hmac, "compare_digest", spy)
    client.finish(v["server_final"].encode())
    assert (expected, expected) in calls


def test_server_error_is_an_authentication_failure() -> None:
    v = V[1]
    client = ScramSHA256Client("user", "pencil", nonce=v["client_nonce"])
    client.initial_response()
    client.respond(v["server_first"].encode())
    with pytest.raises(AuthenticationFailed, match="the server reported invalid-proof"):
        client.finish(b"e=invalid-proof")
    client = ScramSHA256Client("user", "pencil", nonce=v["client_nonce"])
    client.initial_response()
    client.respond(v["server_first"].encode())
    with pytest.raises(AuthenticationFailed, match=r"\(malformed\)"):
        client.respond(b"e=SECRET stuff")


# -- the nonce, the iteration cap, the server-first message ----------------------


@pytest.mark.parametrize(
    "server_first",
    [
        b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        b"r=XOprNGfwEbeRWgbNEkqO%hvYD,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        b"r=rOprNGfwEbeRWgbNEkq,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        b"r=attacker,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    ],
)
def test_nonce_prefix_check(server_first: bytes) -> None:
    client = ScramSHA256Client("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    client.initial_response()
    with pytest.raises(AuthenticationFailed, match="server nonce does not start with ours"):
        client.respond(server_first)


def test_iteration_cap() -> None:
    client = ScramSHA256Client("user", "pencil", nonce="abc")
    client.initial_response()
    with pytest.raises(AuthenticationFailed, match="iteration count 1000001 above the cap"):
        client.respond(b"r=abcdef,s=c2FsdA==,i=1000001")
    client = ScramSHA256Client("user", "pencil", nonce="abc", max_iterations=5000)
    client.initial_response()
    with pytest.raises(AuthenticationFailed, match="above the cap of 5000"):
        client.respond(b"r=abcdef,s=c2FsdA==,i=5001")
    client = ScramSHA256Client("user", "pencil", nonce="abc", max_iterations=5000)
    client.initial_response()
    assert client.respond(b"r=abcdef,s=c2FsdA==,i=5000").startswith(b"c=biws,r=abcdef,p=")


@pytest.mark.parametrize(
    "server_first",
    [
        b"m=ext,r=abcdef,s=c2FsdA==,i=1",
        b"s=c2FsdA==,r=abcdef,i=1",
        b"r=abcdef,s=c2FsdA==",
        b"r=abcdef,s=,i=1",
        b"r=abcdef,s=c2FsdA,i=1",
        b"r=abcdef,s=c2FsdA==,i=0",
        b"r=abcdef,s=c2FsdA==,i=01",
        b"r=abcdef,s=c2FsdA==,i=-1",
        b"r=abcdef,s=c2FsdA==,i=1,",
        b"r=abc def,s=c2FsdA==,i=1",
    ],
)
def test_malformed_server_first(server_first: bytes) -> None:
    client = ScramSHA256Client("user", "pencil", nonce="abc")
    client.initial_response()
    with pytest.raises(SASLError, match=r"^SCRAM-SHA-256: "):
        client.respond(server_first)


def test_server_first_extensions_are_ignored() -> None:
    client = ScramSHA256Client("user", "pencil", nonce="abc")
    client.initial_response()
    assert client.respond(b"r=abcdef,s=c2FsdA==,i=1,x=future").startswith(b"c=biws,")


# -- channel binding ---------------------------------------------------------------


def test_plus_binds_the_certificate_hash() -> None:
    client = ScramSHA256PlusClient("user", "pencil", channel_binding=CB, nonce="abc")
    first = client.initial_response()
    assert first == b"p=tls-server-end-point,,n=user,r=abc"
    final = client.respond(b"r=abcdef,s=c2FsdA==,i=1")
    expected_c = base64.b64encode(b"p=tls-server-end-point,," + CB)
    assert final.startswith(b"c=" + expected_c + b",r=abcdef,p=")


def test_plus_binding_mismatch() -> None:
    client = ScramSHA256PlusClient("user", "pencil", channel_binding=OTHER_CB)
    server = ScramSHA256PlusServer(channel_binding=CB)
    result = run(client, server, db("SHA-256"))
    assert result.outcome == Failure(reason="SCRAM-SHA-256-PLUS: channel-bindings-dont-match")


def test_y_flag_is_a_downgrade_when_the_server_offers_plus() -> None:
    # A client that can bind but did not see -PLUS sends "y"; a server that
    # offered -PLUS (it has binding data) knows the list was tampered with.
    client = ScramSHA256Client("user", "pencil", channel_binding=CB)
    assert client.initial_response().startswith(b"y,,")
    result = run(client, ScramSHA256Server(channel_binding=CB), db("SHA-256"))
    assert result.outcome == Failure(reason="SCRAM-SHA-256: server-does-support-channel-binding")
    # Without TLS binding data on the server, "y" is fine.
    result = run(
        ScramSHA256Client("user", "pencil", channel_binding=CB), ScramSHA256Server(), db("SHA-256")
    )
    assert isinstance(result.outcome, Success)


@pytest.mark.parametrize(
    ("first", "server", "reason"),
    [
        (
            b"p=tls-server-end-point,,n=user,r=abc",
            lambda: ScramSHA256Server(channel_binding=CB),
            "SCRAM-SHA-256: channel binding with a mechanism without it",
        ),
        (
            b"n,,n=user,r=abc",
            lambda: ScramSHA256PlusServer(channel_binding=CB),
            "SCRAM-SHA-256-PLUS: channel binding is required",
        ),
        (
            b"y,,n=user,r=abc",
            lambda: ScramSHA256PlusServer(channel_binding=CB),
            "SCRAM-SHA-256-PLUS: channel binding is required",
        ),
        (
            b"p=tls-unique,,n=user,r=abc",
            lambda: ScramSHA256PlusServer(channel_binding=CB),
            "SCRAM-SHA-256-PLUS: unsupported channel binding type",
        ),
    ],
)
def test_channel_binding_flags(
    first: bytes, server: Callable[[], ScramServer], reason: str
) -> None:
    assert server().start(first) == Failure(reason=reason)


def test_c_attribute_must_match_the_gs2_header_without_plus() -> None:
    server = ScramSHA256Server(nonce="srv")
    server.start(b"n,,n=user,r=cli")
    server.answer(CREDS["SHA-256"])
    # c= claims "y" while the header said "n": the header is covered by c=.
    step = server.receive(b"c=eSws,r=clisrv,p=" + base64.b64encode(b"x" * 32))
    assert step == Failure(reason="SCRAM-SHA-256: channel-bindings-dont-match")


def test_plus_needs_binding_data() -> None:
    with pytest.raises(LocalProtocolError):
        ScramSHA256PlusClient("user", "pencil")
    with pytest.raises(LocalProtocolError):
        ScramSHA256PlusServer()


# -- the server's strict parse ------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (b"n,,m=ext,n=user,r=abc", "SCRAM-SHA-256: extensions-not-supported"),
        (b"n,,n=,r=abc", "SCRAM-SHA-256: empty user name"),
        (b"n,,n=us=2Xer,r=abc", "SCRAM-SHA-256: malformed name"),
        (b"n,,n=user", "SCRAM-SHA-256: malformed client-first-message"),
        (b"n,,r=abc,n=user", "SCRAM-SHA-256: malformed client-first-message"),
        (b"n,,n=user,r=", "SCRAM-SHA-256: malformed nonce"),
        (b"n,,n=user,r=a\x7fb", "SCRAM-SHA-256: malformed nonce"),
        (b"n,n=user,r=abc", "SCRAM-SHA-256: malformed GS2 header"),
        (b"F,n,,n=user,r=abc", "SCRAM-SHA-256: malformed GS2 header"),
        (b"n,,n=user,r=abc,", "SCRAM-SHA-256: malformed attribute"),
        (b"n,,n=user,r=abc,1=x", "SCRAM-SHA-256: malformed attribute"),
    ],
)
def test_malformed_client_first(first: bytes, reason: str) -> None:
    assert ScramSHA256Server().start(first) == Failure(reason=reason)


def _after_server_first() -> ScramSHA256Server:
    server = ScramSHA256Server(nonce="srv")
    server.start(b"n,,n=user,r=cli")
    server.answer(CREDS["SHA-256"])
    return server


@pytest.mark.parametrize(
    ("final", "reason"),
    [
        (b"c=biws,r=clisrv", "SCRAM-SHA-256: the proof is missing"),
        (
            b"c=biws,r=clisrvX,p=" + base64.b64encode(b"x" * 32),
            "SCRAM-SHA-256: the nonce does not match",
        ),
        (
            b"c=biws,r=cli,p=" + base64.b64encode(b"x" * 32),
            "SCRAM-SHA-256: the nonce does not match",
        ),
        (
            b"r=clisrv,c=biws,p=" + base64.b64encode(b"x" * 32),
            "SCRAM-SHA-256: malformed client-final-message",
        ),
        (b"c=biws,r=clisrv,p=" + base64.b64encode(b"x" * 20), "SCRAM-SHA-256: malformed proof"),
        (b"c=biws,r=clisrv,p=!!!!", "SCRAM-SHA-256: invalid base64"),
        (
            b"c=bi ws,r=clisrv,p=" + base64.b64encode(b"x" * 32),
            "SCRAM-SHA-256: invalid base64",
        ),
        (b"c=biws,r=clisrv,p=" + base64.b64encode(b"x" * 32), "SCRAM-SHA-256: invalid-proof"),
    ],
)
def test_malformed_client_final(final: bytes, reason: str) -> None:
    assert _after_server_first().receive(final) == Failure(reason=reason)


def test_authzid_is_escaped_and_reported() -> None:
    client = ScramSHA256Client("us,er", "pencil", authzid="ad=min")
    assert client.initial_response().startswith(b"n,a=ad=3Dmin,n=us=2Cer,r=")
    seen: list[object] = []

    def answer(request: object) -> object:
        seen.append(request)
        return CREDS["SHA-256"]

    result = run(client, ScramSHA256Server(), answer)
    assert seen == [LookupScramCredentials(authcid="us,er", authzid="ad=min")]
    assert result.outcome == Success(
        authcid="us,er",
        authzid="ad=min",
        data=result.outcome.data,  # type: ignore[union-attr]
    )


def test_saslprep_applies_to_the_password() -> None:
    # RFC 4013: U+00AD is mapped to nothing, U+2168 normalises to "IX".
    creds = derive_scram_credentials("SHA-256", "I\u00adX", salt=b"s" * 16, iterations=4096)
    result = run(ScramSHA256Client("user", "\u2168"), ScramSHA256Server(), lambda r: creds)
    assert isinstance(result.outcome, Success)


def test_too_many_steps_and_cancel() -> None:
    server = ScramSHA256Server(max_steps=1)
    result = run(ScramSHA256Client("user", "pencil"), server, db("SHA-256"), use_initial=False)
    assert result.outcome == Failure(reason="SCRAM-SHA-256: too many steps")
    server = ScramSHA256Server()
    server.start(b"n,,n=user,r=cli")
    server.answer(CREDS["SHA-256"])
    assert server.cancel() == Failure(reason="SCRAM-SHA-256: cancelled by the client")


def test_client_state_errors() -> None:
    client = ScramSHA256Client("user", "pencil", nonce="abc")
    with pytest.raises(SASLError):
        client.finish(b"v=AAAA")
    client.initial_response()
    assert client.respond(b"") == b"n,,n=user,r=abc"
    client.respond(b"r=abcdef,s=c2FsdA==,i=1")
    with pytest.raises(AuthenticationFailed):
        client.respond(b"v=AAAA")
    with pytest.raises(SASLError):
        client.respond(b"v=AAAA")


def test_answer_type_is_checked() -> None:
    server = ScramSHA256Server()
    server.start(b"n,,n=user,r=cli")
    with pytest.raises(LocalProtocolError):
        server.answer(Secret("pencil"))


def test_credentials_repr_hides_keys() -> None:
    creds = CREDS["SHA-256"]
    assert isinstance(creds, ScramCredentials)
    text = repr(creds)
    assert creds.stored_key.expose().hex() not in text
    assert "[REDACTED]" in text


def test_hash_names() -> None:
    assert ScramClient("sha256", "u", "p").name == "SCRAM-SHA-256"
    assert ScramClient("SHA1", "u", "p", plus=True, channel_binding=CB).name == "SCRAM-SHA-1-PLUS"
    with pytest.raises(ValueError):
        ScramClient("MD5", "u", "p")
    with pytest.raises(LocalProtocolError):
        ScramClient("SHA-256", "u", "p", nonce="a,b")


def test_server_compares_the_proof_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    v = V[1]
    salt = base64.b64decode(v["salt_base64"])
    creds = derive_scram_credentials("SHA-256", "pencil", salt, 4096)
    server = ScramSHA256Server(nonce=v["server_nonce"])
    server.start(v["client_first"].encode())
    server.answer(creds)
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert isinstance(server.receive(v["client_final"].encode()), Success)
    stored = creds.stored_key.expose()
    assert (stored, stored) in calls
