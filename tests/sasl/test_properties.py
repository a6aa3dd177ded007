"""Properties over every mechanism (hypothesis):

* arbitrary bytes fed to any server mechanism, as the initial response and as
  any later response, end in a Challenge, Request, Success or Failure, or in
  our ProtocolError family, never another exception;
* arbitrary bytes fed to any client mechanism as challenges raise nothing but
  our ProtocolError family;
* no password or token appears in any repr, str, Failure reason or error
  message, whatever the exchange did.
"""

from __future__ import annotations

import string
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from protokit import ProtocolError, Secret
from protokit.sasl import (
    AllowAnonymous,
    AnonymousServer,
    Challenge,
    ClientMechanism,
    CramMD5Client,
    CramMD5Server,
    ExternalClient,
    ExternalServer,
    Failure,
    LoginClient,
    LoginServer,
    LookupPassword,
    LookupScramCredentials,
    OAuthBearerClient,
    OAuthBearerServer,
    PlainClient,
    PlainServer,
    Request,
    ScramSHA1Client,
    ScramSHA1PlusServer,
    ScramSHA1Server,
    ScramSHA256Client,
    ScramSHA256PlusClient,
    ScramSHA256PlusServer,
    ScramSHA256Server,
    ServerMechanism,
    Step,
    Success,
    TokenResult,
    ValidateToken,
    VerifyExternal,
    VerifyPassword,
    XOAuth2Client,
    XOAuth2Server,
    derive_scram_credentials,
)

CB = b"\x11" * 32
CREDS = derive_scram_credentials("SHA-256", "pencil", b"salt", 16)
CREDS1 = derive_scram_credentials("SHA-1", "pencil", b"salt", 16)

SERVERS: dict[str, Callable[[], ServerMechanism]] = {
    "PLAIN": PlainServer,
    "LOGIN": LoginServer,
    "XOAUTH2": XOAuth2Server,
    "OAUTHBEARER": lambda: OAuthBearerServer(host="h", port=993),
    "CRAM-MD5": lambda: CramMD5Server(challenge=lambda: b"<1.2@h>"),
    "SCRAM-SHA-1": lambda: ScramSHA1Server(nonce="srv", fake_iterations=16),
    "SCRAM-SHA-256": lambda: ScramSHA256Server(
        nonce="srv", channel_binding=CB, fake_iterations=16
    ),
    "SCRAM-SHA-1-PLUS": lambda: ScramSHA1PlusServer(channel_binding=CB, fake_iterations=16),
    "SCRAM-SHA-256-PLUS": lambda: ScramSHA256PlusServer(
        nonce="srv", channel_binding=CB, fake_iterations=16
    ),
    "EXTERNAL": ExternalServer,
    "ANONYMOUS": AnonymousServer,
}

# Well-formed messages to mutate, so the fuzzer reaches the later states.
SEEDS = [
    b"\x00tim\x00pw",
    b"admin\x00tim\x00pw",
    b"user=u\x01auth=Bearer t\x01\x01",
    b"n,a=u,\x01host=h\x01port=993\x01auth=Bearer t\x01\x01",
    b"\x01",
    b"tim 0123456789abcdef0123456789abcdef",
    b"n,,n=user,r=cli",
    b"y,,n=user,r=cli",
    b"p=tls-server-end-point,,n=user,r=cli",
    b"c=biws,r=clisrv,p=" + b"A" * 44,
    b"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsERERERERERERERERERERERERERERERERERERERERERE=,r=clisrv,p=AAAA",
    b"",
    b"tim",
]


@st.composite
def message(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=200))
    seed = draw(st.sampled_from(SEEDS))
    if kind == 1:
        return seed
    cut = draw(st.integers(0, len(seed)))
    if kind == 2:
        return seed[:cut] + draw(st.binary(max_size=8)) + seed[cut + 1 :]
    return seed[:cut] + seed[cut:][::-1]


def answer_for(request: Request, draw: Callable[[st.SearchStrategy[object]], object]) -> object:
    if isinstance(request, VerifyPassword):
        return draw(st.booleans())
    if isinstance(request, LookupPassword):
        return draw(st.sampled_from([None, Secret("pw"), "pw"]))
    if isinstance(request, LookupScramCredentials):
        return draw(st.sampled_from([None, CREDS, CREDS1]))
    if isinstance(request, ValidateToken):
        return draw(
            st.sampled_from(
                [True, False, TokenResult(True, "x"), TokenResult(False, None, {"s": "1"})]
            )
        )
    if isinstance(request, VerifyExternal):
        return draw(st.sampled_from([None, "cn=x"]))
    assert isinstance(request, AllowAnonymous)
    return draw(st.booleans())


@given(
    name=st.sampled_from(sorted(SERVERS)),
    initial=st.none() | message(),
    responses=st.lists(message(), max_size=6),
    data=st.data(),
)
def test_any_bytes_to_any_server(
    name: str, initial: bytes | None, responses: list[bytes], data: st.DataObject
) -> None:
    server = SERVERS[name]()
    try:
        step: Step = server.start(initial)
        pending = list(responses)
        while not server.done:
            assert isinstance(step, (Challenge, Request, Success, Failure))
            if isinstance(step, Request):
                step = server.answer(answer_for(step, data.draw))
            elif pending:
                step = server.receive(pending.pop(0))
            else:
                break
        assert isinstance(step, (Challenge, Request, Success, Failure))
        if isinstance(step, Failure):
            assert step.reason.startswith(f"{name}") or step.reason.startswith(
                ("invalid base64", "non-canonical", "base64")
            )
    except ProtocolError:
        pass


CLIENTS: dict[str, Callable[[], ClientMechanism]] = {
    "PLAIN": lambda: PlainClient("u", "pw"),
    "LOGIN": lambda: LoginClient("u", "pw"),
    "XOAUTH2": lambda: XOAuth2Client("u", "t"),
    "OAUTHBEARER": lambda: OAuthBearerClient("u", "t"),
    "CRAM-MD5": lambda: CramMD5Client("u", "pw"),
    "SCRAM-SHA-1": lambda: ScramSHA1Client("u", "pw", nonce="cli", max_iterations=64),
    "SCRAM-SHA-256-PLUS": lambda: ScramSHA256PlusClient(
        "u", "pw", channel_binding=CB, nonce="cli", max_iterations=64
    ),
    "EXTERNAL": lambda: ExternalClient("z"),
}
SERVER_SEEDS = [
    b"r=clisrv,s=c2FsdA==,i=16",
    b"v=AAAA",
    b"e=invalid-proof",
    b'{"status":"401"}',
    b"<1.2@h>",
    b"Username:",
]


@st.composite
def challenge(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=120))
    seed = draw(st.sampled_from(SERVER_SEEDS))
    cut = draw(st.integers(0, len(seed)))
    return seed[:cut] + draw(st.binary(max_size=4)) + seed[cut:]


@given(
    name=st.sampled_from(sorted(CLIENTS)),
    use_initial=st.booleans(),
    challenges=st.lists(challenge(), max_size=4),
    finish=st.none() | challenge(),
)
def test_any_bytes_to_any_client(
    name: str, use_initial: bool, challenges: list[bytes], finish: bytes | None
) -> None:
    client = CLIENTS[name]()
    try:
        if use_initial:
            client.initial_response()
        for data in challenges:
            assert isinstance(client.respond(data), bytes)
        client.finish(finish)
    except ProtocolError:
        pass


# -- secrets never leak ---------------------------------------------------------

SECRET = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=40).map(
    lambda s: "Zq" + s
)


def _collect(objs: list[object], errors: list[BaseException]) -> list[str]:
    texts = []
    for obj in objs:
        texts += [repr(obj), str(obj)]
        if isinstance(obj, Failure):
            texts.append(obj.reason)
    for err in errors:
        texts += [repr(err), str(err)]
        if isinstance(err, ProtocolError):
            texts.append(err.message)
            texts.append(repr(err.reply))
    return texts


def _drive(
    client: ClientMechanism, server: ServerMechanism, answer: Callable[[Request], object]
) -> tuple[list[object], list[BaseException]]:
    seen: list[object] = [client, server]
    errors: list[BaseException] = []
    try:
        step = server.start(client.initial_response() if client.client_first else None)
        for _ in range(12):
            seen.append(step)
            if isinstance(step, Request):
                step = server.answer(answer(step))
            elif isinstance(step, Challenge):
                step = server.receive(client.respond(step.data))
            else:
                if isinstance(step, Success):
                    client.finish(step.data)
                break
    except ProtocolError as exc:
        errors.append(exc)
    seen += [client, server]
    return seen, errors


@given(password=SECRET, other=SECRET, right=st.booleans(), tamper=st.booleans())
def test_no_secret_in_any_repr_or_message(
    password: str, other: str, right: bool, tamper: bool
) -> None:
    creds = derive_scram_credentials("SHA-256", password, b"salt", 16)
    typed = password if right else other

    def answer(request: Request) -> object:
        if isinstance(request, VerifyPassword):
            return request.password == Secret(password)
        if isinstance(request, LookupPassword):
            return Secret(password)
        if isinstance(request, LookupScramCredentials):
            return creds
        if isinstance(request, ValidateToken):
            return TokenResult(request.token == Secret(password))
        raise AssertionError(request)

    pairs: list[tuple[ClientMechanism, ServerMechanism]] = [
        (PlainClient("u", typed, "z"), PlainServer()),
        (LoginClient("u", Secret(typed)), LoginServer()),
        (XOAuth2Client("u", lambda: typed), XOAuth2Server()),
        (OAuthBearerClient("u", Secret(typed), "h", 1), OAuthBearerServer()),
        (CramMD5Client("u", typed), CramMD5Server()),
        (ScramSHA256Client("u", typed), ScramSHA256Server(success_data_as_challenge=tamper)),
        (
            ScramSHA256PlusClient("u", typed, channel_binding=CB),
            ScramSHA256PlusServer(channel_binding=CB if right else b"\x22" * 32),
        ),
    ]
    texts: list[str] = [repr(creds)]
    for client, server in pairs:
        seen, errors = _drive(client, server, answer)
        texts += _collect(seen, errors)
    # A tampered SCRAM server-final and a hostile iteration count, too.
    client = ScramSHA256Client("u", typed, nonce="cli", max_iterations=16)
    client.initial_response()
    errors = []
    try:
        client.respond(b"r=clisrv,s=c2FsdA==,i=17")
    except ProtocolError as exc:
        errors.append(exc)
    texts += _collect([client], errors)
    for text in texts:
        assert password not in text
        assert other not in text
        assert creds.stored_key.expose().hex() not in text
