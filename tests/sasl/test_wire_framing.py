"""Every mechanism through the shared SASL framing of protokit.wire, as the
protocol codecs use it: absent vs empty ("=") initial response, base64 both
ways, and "*" cancelling at any step."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protokit import Secret
from protokit.sasl import (
    AllowAnonymous,
    AnonymousClient,
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
    ScramSHA256Client,
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
from protokit.wire import (
    CANCEL,
    b64encode,
    format_initial_response,
    format_response,
    parse_challenge,
    parse_initial_response,
    parse_response,
)

CREDS = derive_scram_credentials("SHA-256", "pw", b"salt", 16)


def answer(request: Request) -> object:
    if isinstance(request, VerifyPassword):
        return request.password == Secret("pw")
    if isinstance(request, LookupPassword):
        return Secret("pw")
    if isinstance(request, LookupScramCredentials):
        return CREDS
    if isinstance(request, ValidateToken):
        return TokenResult(request.token == Secret("pw"))
    if isinstance(request, VerifyExternal):
        return "cn=u"
    assert isinstance(request, AllowAnonymous)
    return True


PAIRS: dict[str, tuple[Callable[[], ClientMechanism], Callable[[], ServerMechanism]]] = {
    "PLAIN": (lambda: PlainClient("u", "pw"), PlainServer),
    "LOGIN": (lambda: LoginClient("u", "pw"), LoginServer),
    "XOAUTH2": (lambda: XOAuth2Client("u", "pw"), XOAuth2Server),
    "OAUTHBEARER": (lambda: OAuthBearerClient("u", "pw"), OAuthBearerServer),
    "CRAM-MD5": (lambda: CramMD5Client("u", "pw"), CramMD5Server),
    "SCRAM-SHA-256": (
        lambda: ScramSHA256Client("u", "pw"),
        lambda: ScramSHA256Server(success_data_as_challenge=True),
    ),
    "EXTERNAL": (ExternalClient, ExternalServer),
    "ANONYMOUS": (AnonymousClient, AnonymousServer),
}


def framed(
    client: ClientMechanism,
    server: ServerMechanism,
    *,
    use_initial: bool,
    cancel_at: int | None = None,
) -> tuple[Success | Failure, list[bytes]]:
    """Run an exchange with every message encoded and decoded as on the wire."""
    wire: list[bytes] = []
    initial = client.initial_response() if use_initial and client.client_first else None
    token = format_initial_response(initial)
    wire.append(b"AUTH " + (token or b"(none)"))
    step: Step = server.start(parse_initial_response(token))
    challenges = 0
    while True:
        if isinstance(step, Request):
            step = server.answer(answer(step))
        elif isinstance(step, Challenge):
            line = b64encode(step.data)
            wire.append(b"+ " + line)
            reply = CANCEL if challenges == cancel_at else client.respond(parse_challenge(line))
            challenges += 1
            encoded = format_response(reply)
            wire.append(encoded)
            decoded = parse_response(encoded)
            step = server.cancel() if decoded is CANCEL else server.receive(decoded)
        else:
            if isinstance(step, Success):
                client.finish(step.data)
            return step, wire


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("use_initial", [True, False])
def test_success_through_the_framing(name: str, use_initial: bool) -> None:
    make_client, make_server = PAIRS[name]
    outcome, wire = framed(make_client(), make_server(), use_initial=use_initial)
    assert isinstance(outcome, Success), (outcome, wire)
    client_first = make_client().client_first
    assert client_first is (name not in ("LOGIN", "CRAM-MD5"))
    if use_initial and client_first:
        assert wire[0] != b"AUTH (none)"
    elif client_first:
        # No initial response: the server asks for it with an empty challenge.
        assert wire[:2] == [b"AUTH (none)", b"+ "]
    else:
        # Server-first mechanisms never send one, and the server speaks first.
        assert wire[0] == b"AUTH (none)"
        assert wire[1] != b"+ "


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_cancel_at_the_first_challenge(name: str) -> None:
    make_client, make_server = PAIRS[name]
    outcome, wire = framed(make_client(), make_server(), use_initial=False, cancel_at=0)
    assert outcome == Failure(reason=f"{name}: cancelled by the client")
    assert wire[-1] == b"*"


def test_absent_and_empty_initial_responses_differ() -> None:
    # EXTERNAL: "=" is an empty authzid; absent asks for it with an empty challenge.
    assert ExternalServer().start(parse_initial_response(b"=")) == VerifyExternal(authzid=None)
    assert ExternalServer().start(parse_initial_response(None)) == Challenge(data=b"")
    assert format_initial_response(ExternalClient().initial_response()) == b"="
    # PLAIN: "=" is an (invalid) empty message, not a request for one.
    assert PlainServer().start(parse_initial_response(b"=")) == Failure(
        reason="PLAIN: the message must contain exactly two NULs"
    )
    assert PlainServer().start(parse_initial_response(None)) == Challenge(data=b"")
