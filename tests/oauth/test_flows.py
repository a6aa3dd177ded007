"""The sans-IO flows: exact requests, exact parse results, exact errors."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protokit.oauth import (
    AccessDenied,
    AuthorizationRequest,
    DeviceAuthorization,
    DevicePoll,
    ExpiredToken,
    HTTPRequest,
    Introspection,
    InvalidGrant,
    InvalidResponse,
    OAuthError,
    OAuthProvider,
    TokenResponse,
    TransientError,
    authorization_code_request,
    client_credentials_request,
    device_authorization_request,
    device_token_request,
    introspection_request,
    parse_device_authorization,
    parse_introspection,
    parse_token_response,
    pkce_pair,
    refresh_request,
)
from protokit.oauth._flows import MAX_EXPIRES_IN
from protokit.wire import Secret

JSON = [("content-type", "application/json")]

BASIC = OAuthProvider(
    token_url="https://idp.example/token",
    client_id="my client:1",
    client_secret=Secret("s3cr+t/é"),
    scopes=("mail", "offline_access"),
    authorize_url="https://idp.example/authorize",
    device_url="https://idp.example/device",
    introspect_url="https://idp.example/introspect",
)
POST = OAuthProvider(
    token_url="https://idp.example/token",
    client_id="cid",
    client_secret=Secret("sec ret"),
    client_auth="client_secret_post",
)
PUBLIC = OAuthProvider(token_url="https://idp.example/token", client_id="cid")


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


# -- requests ---------------------------------------------------------------------


def test_refresh_request_with_basic_auth_form_encodes_id_and_secret() -> None:
    # RFC 6749 section 2.3.1: id and secret are form-urlencoded, then joined
    # with ":" and base64-encoded.
    request = refresh_request(BASIC, Secret("rt/1+2 3"))
    expected_pair = b"my+client%3A1:s3cr%2Bt%2F%C3%A9"
    assert request == HTTPRequest(
        "POST",
        "https://idp.example/token",
        (
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("Authorization", "Basic " + base64.b64encode(expected_pair).decode()),
        ),
        b"grant_type=refresh_token&refresh_token=rt%2F1%2B2+3",
    )


def test_refresh_request_with_scope() -> None:
    request = refresh_request(BASIC, Secret("r"), scope="mail offline_access")
    assert request.body == b"grant_type=refresh_token&refresh_token=r&scope=mail+offline_access"


def test_client_secret_post_puts_the_credentials_in_the_body() -> None:
    request = refresh_request(POST, Secret("r"))
    assert request.headers == (
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    )
    assert request.body == (
        b"grant_type=refresh_token&refresh_token=r&client_id=cid&client_secret=sec+ret"
    )


def test_public_client_sends_only_its_id() -> None:
    assert PUBLIC.client_auth == "none"
    request = refresh_request(PUBLIC, Secret("r"))
    assert request.body == b"grant_type=refresh_token&refresh_token=r&client_id=cid"
    assert [name for name, _ in request.headers] == ["Content-Type", "Accept"]


def test_client_credentials_request_uses_the_provider_scopes() -> None:
    request = client_credentials_request(BASIC)
    assert request.body == b"grant_type=client_credentials&scope=mail+offline_access"
    assert client_credentials_request(POST, scope="x").body == (
        b"grant_type=client_credentials&scope=x&client_id=cid&client_secret=sec+ret"
    )


def test_request_repr_shows_no_secret() -> None:
    request = refresh_request(BASIC, Secret("the-refresh-token"))
    text = repr(request)
    assert text == (
        "HTTPRequest(POST https://idp.example/token, "
        "headers=[Content-Type, Accept, Authorization], body=56 bytes)"
    )
    assert "the-refresh-token" not in text and "s3cr" not in text


def test_introspection_request() -> None:
    request = introspection_request(BASIC, Secret("at-1"))
    assert request.url == "https://idp.example/introspect"
    assert request.body == b"token=at-1&token_type_hint=access_token"
    assert dict(request.headers)["Authorization"].startswith("Basic ")
    with pytest.raises(ValueError, match="no introspection endpoint"):
        introspection_request(PUBLIC, Secret("x"))


def test_device_requests() -> None:
    request = device_authorization_request(BASIC)
    assert request.url == "https://idp.example/device"
    assert request.body == b"scope=mail+offline_access"
    device = DeviceAuthorization(
        device_code=Secret("dc 1"),
        user_code="ABCD-EFGH",
        verification_uri="https://idp.example/device",
        verification_uri_complete=None,
        expires_in=600,
        interval=5,
    )
    assert device_token_request(PUBLIC, device).body == (
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
        b"&device_code=dc+1&client_id=cid"
    )


# -- PKCE and the redirect ---------------------------------------------------------


def test_pkce_pair_is_s256() -> None:
    verifier, challenge = pkce_pair()
    raw = verifier.expose()
    assert len(raw) == 43 and set(raw) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )
    digest = hashlib.sha256(raw.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert pkce_pair()[1] != challenge


def test_rfc7636_appendix_b_vector() -> None:
    from protokit.oauth._flows import _s256

    assert (
        _s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_authorization_url_and_redirect() -> None:
    auth = AuthorizationRequest.create(BASIC, "http://127.0.0.1:5000/callback")
    parts = urllib.parse.urlsplit(auth.url)
    assert parts.netloc == "idp.example" and parts.path == "/authorize"
    query = dict(urllib.parse.parse_qsl(parts.query))
    digest = hashlib.sha256(auth.verifier.expose().encode()).digest()
    assert query == {
        "response_type": "code",
        "client_id": "my client:1",
        "redirect_uri": "http://127.0.0.1:5000/callback",
        "state": auth.state.expose(),
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "scope": "mail offline_access",
    }
    state = auth.state.expose()
    assert repr(auth) == (
        "AuthorizationRequest(redirect_uri='http://127.0.0.1:5000/callback',"
        " state=Secret('[REDACTED]'), verifier=Secret('[REDACTED]'))"
    )
    code = auth.parse_redirect(f"/callback?code=c%2F1&state={state}")
    assert code.expose() == "c/1"
    request = authorization_code_request(BASIC, auth, code)
    assert request.body == (
        b"grant_type=authorization_code&code=c%2F1"
        b"&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcallback"
        b"&code_verifier=" + auth.verifier.expose().encode()
    )


@pytest.mark.parametrize(
    ("query", "exc", "message"),
    [
        ("code=c&state=wrong", InvalidResponse, "state does not match"),
        ("code=c", InvalidResponse, "state does not match"),
        ("state=STATE", InvalidResponse, "the redirect has no code"),
        ("state=STATE&state=STATE&code=c", InvalidResponse, "repeats 'state'"),
        ("error=access_denied&state=STATE", AccessDenied, "access_denied"),
        (
            "error=server_error&error_description=down&state=STATE",
            OAuthError,
            "server_error: down",
        ),
    ],
)
def test_redirect_errors(query: str, exc: type[Exception], message: str) -> None:
    auth = AuthorizationRequest.create(BASIC, "http://127.0.0.1:1/")
    target = "/?" + query.replace("STATE", auth.state.expose())
    with pytest.raises(exc) as info:
        auth.parse_redirect(target)
    assert type(info.value) is exc
    assert message in str(info.value)


def test_an_error_redirect_with_a_forged_state_is_a_state_failure() -> None:
    auth = AuthorizationRequest.create(BASIC, "http://127.0.0.1:1/")
    with pytest.raises(InvalidResponse, match="state does not match"):
        auth.parse_redirect("/?error=access_denied&state=forged")


# -- token responses -----------------------------------------------------------------


def test_parse_token_response() -> None:
    answer = parse_token_response(
        200,
        JSON,
        body(
            {
                "access_token": "at",
                "token_type": "bearer",
                "expires_in": 3599,
                "refresh_token": "rt",
                "scope": "mail",
            }
        ),
    )
    assert answer == TokenResponse(
        access_token=Secret("at"),
        token_type="Bearer",
        expires_in=3599,
        refresh_token=Secret("rt"),
        scope="mail",
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    access = answer.access(now)
    assert access.expires_at == now + timedelta(seconds=3599)
    assert access.token == Secret("at")
    assert "at" not in repr(answer).replace("access_token", "").replace("Secret", "")


def test_minimal_token_response() -> None:
    answer = parse_token_response(200, {}, b'{"access_token": "a", "token_type": "Bearer"}')
    assert (answer.expires_in, answer.refresh_token, answer.scope) == (None, None, None)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert answer.access(now, default_lifetime=60).expires_at == now + timedelta(seconds=60)


def test_expires_in_as_digits_huge_is_capped() -> None:
    ok = {"access_token": "a", "token_type": "Bearer"}
    assert parse_token_response(200, JSON, body({**ok, "expires_in": "3599"})).expires_in == 3599
    assert parse_token_response(200, JSON, body({**ok, "expires_in": 10**30})).expires_in == (
        MAX_EXPIRES_IN
    )
    assert parse_token_response(200, JSON, body({**ok, "expires_in": 60.0})).expires_in == 60


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "the body is not JSON"),
        (b"\xff\xfe", "the body is not JSON"),
        (b"[1]", "the body is not a JSON object"),
        (body({"token_type": "Bearer"}), "no access_token"),
        (body({"access_token": "", "token_type": "Bearer"}), "no access_token"),
        (body({"access_token": 5, "token_type": "Bearer"}), "no access_token"),
        (body({"access_token": "a"}), "no token_type"),
        (body({"access_token": "a", "token_type": "mac"}), "token_type 'mac' is not Bearer"),
        (
            body({"access_token": "a", "token_type": "Bearer", "expires_in": -1}),
            "expires_in is negative",
        ),
        (
            body({"access_token": "a", "token_type": "Bearer", "expires_in": True}),
            "expires_in is not an integer",
        ),
        (
            body({"access_token": "a", "token_type": "Bearer", "expires_in": 1.5}),
            "expires_in is not an integer",
        ),
        (
            body({"access_token": "a", "token_type": "Bearer", "refresh_token": 7}),
            "refresh_token is not a string",
        ),
        (
            body({"access_token": "a", "token_type": "Bearer", "scope": []}),
            "scope is not a string",
        ),
    ],
)
def test_malformed_token_responses(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidResponse) as info:
        parse_token_response(200, JSON, payload)
    assert str(info.value) == f"invalid_response: {message} (HTTP 200)"
    assert info.value.error == "invalid_response"


def test_invalid_grant() -> None:
    with pytest.raises(InvalidGrant) as info:
        parse_token_response(
            400, JSON, body({"error": "invalid_grant", "error_description": "Token revoked"})
        )
    assert (info.value.error, info.value.description, info.value.status) == (
        "invalid_grant",
        "Token revoked",
        400,
    )
    assert str(info.value) == "invalid_grant: Token revoked (HTTP 400)"


def test_other_oauth_error_and_bad_error_bodies() -> None:
    with pytest.raises(OAuthError) as info:
        parse_token_response(401, JSON, body({"error": "invalid_client"}))
    assert type(info.value) is OAuthError and str(info.value) == "invalid_client (HTTP 401)"
    with pytest.raises(InvalidResponse, match="HTTP 404 without an OAuth error body"):
        parse_token_response(404, [], b"<html>")
    with pytest.raises(InvalidResponse, match="HTTP 400 without an OAuth error code"):
        parse_token_response(400, JSON, b"{}")
    with pytest.raises(InvalidResponse, match="redirect to 'https://x/' not followed"):
        parse_token_response(302, [("Location", "https://x/")], b"")


def test_error_description_is_cleaned_and_bounded() -> None:
    with pytest.raises(OAuthError) as info:
        parse_token_response(
            400, JSON, body({"error": "bad\r\nline", "error_description": "x" * 1000})
        )
    assert info.value.error == "bad??line"
    assert info.value.description == "x" * 300 + "..."


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (503, [("Retry-After", "7")], 7.0),
        (429, [("retry-after", "120")], 120.0),
        (500, [], None),
        (502, [("Retry-After", "soon")], None),
        (503, [("Retry-After", "99999999")], 86400.0),
    ],
)
def test_transient_errors(status: int, headers: list[tuple[str, str]], retry_after: float) -> None:
    with pytest.raises(TransientError) as info:
        parse_token_response(status, headers, b"<html>busy</html>")
    assert info.value.status == status
    assert info.value.retry_after == retry_after
    assert info.value.error == "temporarily_unavailable"


def test_retry_after_http_date() -> None:
    from protokit.oauth._flows import _retry_after

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert _retry_after([("Retry-After", "Thu, 01 Jan 2026 12:00:30 GMT")], now) == 30.0
    assert _retry_after([("Retry-After", "Thu, 01 Jan 2026 11:00:00 GMT")], now) == 0.0


# -- device flow -------------------------------------------------------------------


DEVICE_ANSWER = {
    "device_code": "dc",
    "user_code": "WDJB-MJHT",
    "verification_uri": "https://example.com/device",
    "verification_uri_complete": "https://example.com/device?user_code=WDJB-MJHT",
    "expires_in": 1800,
    "interval": 5,
}


def test_parse_device_authorization() -> None:
    device = parse_device_authorization(200, JSON, body(DEVICE_ANSWER))
    assert device == DeviceAuthorization(
        device_code=Secret("dc"),
        user_code="WDJB-MJHT",
        verification_uri="https://example.com/device",
        verification_uri_complete="https://example.com/device?user_code=WDJB-MJHT",
        expires_in=1800,
        interval=5,
    )
    minimal = {
        k: v
        for k, v in DEVICE_ANSWER.items()
        if k not in ("interval", "verification_uri_complete")
    }
    device = parse_device_authorization(200, JSON, body(minimal))
    assert (device.interval, device.verification_uri_complete) == (5, None)


@pytest.mark.parametrize("missing", ["device_code", "user_code", "verification_uri", "expires_in"])
def test_device_authorization_missing_member(missing: str) -> None:
    answer = {k: v for k, v in DEVICE_ANSWER.items() if k != missing}
    with pytest.raises(InvalidResponse, match=f"no {missing}"):
        parse_device_authorization(200, JSON, body(answer))


def test_device_poll_state_machine() -> None:
    device = parse_device_authorization(200, JSON, body(DEVICE_ANSWER))
    poll = DevicePoll(device, started=100.0)
    assert (poll.interval, poll.deadline) == (5, 1900.0)
    assert poll.handle(400, JSON, body({"error": "authorization_pending"})) is None
    assert poll.interval == 5
    assert poll.handle(400, JSON, body({"error": "slow_down"})) is None
    assert poll.interval == 10  # RFC 8628 section 3.5: +5 seconds
    assert poll.handle(400, JSON, body({"error": "slow_down"})) is None
    assert poll.interval == 15
    assert not poll.expired(1899.9) and poll.expired(1900.0)
    done = poll.handle(200, JSON, body({"access_token": "a", "token_type": "Bearer"}))
    assert done is not None and done.access_token == Secret("a")
    with pytest.raises(AccessDenied):
        poll.handle(400, JSON, body({"error": "access_denied"}))
    with pytest.raises(ExpiredToken):
        poll.handle(400, JSON, body({"error": "expired_token"}))


# -- introspection -----------------------------------------------------------------


def test_parse_introspection_active() -> None:
    answer = parse_introspection(
        200,
        JSON,
        body(
            {
                "active": True,
                "scope": "mail",
                "client_id": "c",
                "username": "alice",
                "sub": "u1",
                "exp": 1800000000,
                "iat": 1799996400,
                "token_type": "Bearer",
                "aud": ["x"],
            }
        ),
    )
    assert answer == Introspection(
        active=True,
        scope="mail",
        client_id="c",
        username="alice",
        sub="u1",
        token_type="Bearer",
        expires_at=datetime.fromtimestamp(1800000000, UTC),
        issued_at=datetime.fromtimestamp(1799996400, UTC),
    )
    assert answer.account == "alice"
    assert parse_introspection(200, JSON, body({"active": True, "sub": "u1"})).account == "u1"


@pytest.mark.parametrize("active", [False, "true", 1, None, "yes"])
def test_only_json_true_is_active(active: object) -> None:
    answer = parse_introspection(200, JSON, body({"active": active, "username": "alice"}))
    assert answer == Introspection(active=False)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (body({}), "no active member"),
        (body({"active": True, "exp": "soon"}), "exp is not a number"),
        (body({"active": True, "exp": 10**20}), "exp is out of range"),
        (body({"active": True, "username": 5}), "username is not a string"),
    ],
)
def test_malformed_introspection(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidResponse, match=message):
        parse_introspection(200, JSON, payload)


def test_introspection_endpoint_errors() -> None:
    with pytest.raises(OAuthError, match="invalid_client"):
        parse_introspection(401, JSON, body({"error": "invalid_client"}))
    with pytest.raises(TransientError):
        parse_introspection(503, [], b"")


# -- any input parses or raises OAuthError (the fuzz invariant) -----------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
token_keys = st.sampled_from(
    ["access_token", "token_type", "expires_in", "refresh_token", "scope", "error",
     "error_description", "active", "exp", "iat", "username", "sub", "device_code",
     "user_code", "verification_uri", "interval"]
)  # fmt: skip
objects = st.dictionaries(token_keys, json_values, max_size=8)


@given(
    status=st.sampled_from([200, 201, 302, 400, 401, 404, 429, 500, 503]),
    body=st.binary(max_size=64) | objects.map(lambda o: json.dumps(o).encode()),
    retry_after=st.none() | st.text(max_size=30),
)
def test_parsers_return_or_raise_oauth_errors(
    status: int, body: bytes, retry_after: str | None
) -> None:
    headers = [] if retry_after is None else [("Retry-After", retry_after)]
    for parse in (parse_token_response, parse_introspection, parse_device_authorization):
        try:
            parse(status, headers, body)
        except OAuthError:
            pass


@given(query=st.text(max_size=60))
def test_parse_redirect_returns_or_raises_oauth_errors(query: str) -> None:
    auth = AuthorizationRequest.create(BASIC, "http://127.0.0.1:1/")
    try:
        auth.parse_redirect("/?" + query)
    except OAuthError:
        pass
