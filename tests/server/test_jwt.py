"""JWT validation and SECURITY.md's JWT attacks: ``none``, algorithm
confusion (HMAC keyed with the RSA public key), kid as a path, embedded or
remote keys, iss/aud/exp/nbf, malformed encodings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization

from protokit import Secret
from protokit.server import InvalidToken, JWTKey, JWTValidator

from .jwt_helpers import EC_KEY, HS_SECRET, OTHER_EC_KEY, RSA_KEY, b64, part, sign

NOW = 1_790_000_000
GOOD = {"iss": "https://issuer", "aud": "mail", "sub": "alice@example.com", "exp": NOW + 300}
RSA_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def validator(*keys: JWTKey) -> JWTValidator:
    keys = keys or (
        JWTKey.hmac(HS_SECRET, kid="h1"),
        JWTKey.from_pem(RSA_PEM, kid="r1"),
        JWTKey("ES256", EC_KEY.public_key(), kid="e1"),
    )
    return JWTValidator(keys, issuer="https://issuer", audience="mail", clock=lambda: NOW)


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256"])
def test_valid_tokens(alg: str) -> None:
    token = sign({"alg": alg, "typ": "JWT"}, GOOD)
    claims = validator().validate(Secret(token))
    assert claims.identity == "alice@example.com"
    assert claims.expires_at == datetime.fromtimestamp(NOW + 300, UTC)
    assert claims.claims == GOOD
    assert "alice" not in repr(claims) or "claims" not in repr(claims)


def test_identity_claim_order() -> None:
    token = sign({"alg": "HS256"}, {**GOOD, "email": "bob@example.com"})
    assert validator().validate(token).identity == "bob@example.com"
    token = sign({"alg": "HS256"}, {k: v for k, v in GOOD.items() if k != "sub"})
    with pytest.raises(InvalidToken, match="no identity claim"):
        validator().validate(token)


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "nOnE", "", "HS384", "RS512", "PS256", "EdDSA"]
)
def test_algorithms_outside_the_allow_list(alg: str) -> None:
    token = sign({"alg": alg}, GOOD, alg="none")
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        validator().validate(token)
    # with a (meaningless) HS256 signature attached, still refused
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        validator().validate(sign({"alg": alg}, GOOD, alg="HS256"))


def test_hmac_keyed_with_the_rsa_public_key_is_refused() -> None:
    """The classic confusion: an attacker signs HS256 with the server's RSA
    public key (which is public) as the HMAC secret."""
    only_rsa = validator(JWTKey.from_pem(RSA_PEM))
    forged = sign({"alg": "HS256"}, GOOD, key=RSA_PEM)
    with pytest.raises(InvalidToken, match="no key for this algorithm"):
        only_rsa.validate(forged)
    with pytest.raises(ValueError, match="PEM key is not an HMAC secret"):
        JWTKey.hmac(RSA_PEM)
    with pytest.raises(TypeError, match="HS256 key is a Secret"):
        JWTKey("HS256", RSA_KEY.public_key())
    with pytest.raises(TypeError, match="RS256 key is an RSA public key"):
        JWTKey("RS256", Secret(HS_SECRET))


@pytest.mark.parametrize(
    "kid", ["../../../dev/null", "/etc/passwd", "file:///x", "http://evil/k", "h2", ""]
)
def test_kid_is_compared_never_followed(kid: str) -> None:
    token = sign({"alg": "HS256", "kid": kid}, GOOD)
    with pytest.raises(InvalidToken, match="no key for this algorithm and kid"):
        validator().validate(token)


def test_kid_selects_the_key() -> None:
    v = validator(
        JWTKey("ES256", OTHER_EC_KEY.public_key(), kid="old"),
        JWTKey("ES256", EC_KEY.public_key(), kid="new"),
    )
    assert v.validate(sign({"alg": "ES256", "kid": "new"}, GOOD)).identity == "alice@example.com"
    with pytest.raises(InvalidToken, match="bad signature"):
        v.validate(sign({"alg": "ES256", "kid": "old"}, GOOD))
    # no kid: every key of the algorithm is tried
    assert v.validate(sign({"alg": "ES256"}, GOOD)).identity == "alice@example.com"
    with pytest.raises(InvalidToken, match="kid is not a string"):
        v.validate(sign({"alg": "ES256", "kid": 1}, GOOD))


@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "x5c"])
def test_embedded_or_remote_keys_are_not_trusted(header: str) -> None:
    attacker = OTHER_EC_KEY
    pub = (
        attacker.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    token = sign({"alg": "ES256", header: pub}, GOOD, key=attacker)
    with pytest.raises(InvalidToken, match="bad signature"):
        validator().validate(token)


def test_crit_is_refused() -> None:
    with pytest.raises(InvalidToken, match="critical"):
        validator().validate(sign({"alg": "HS256", "crit": ["exp"]}, GOOD))


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({**GOOD, "exp": NOW - 60}, "expired"),
        ({**GOOD, "exp": NOW - 61}, "expired"),
        ({k: v for k, v in GOOD.items() if k != "exp"}, "no 'exp'"),
        ({**GOOD, "exp": str(NOW + 300)}, "'exp' is not a number"),
        ({**GOOD, "exp": True}, "'exp' is not a number"),
        ({**GOOD, "exp": 1e300}, "out of range"),
        ({**GOOD, "nbf": NOW + 61}, "not yet valid"),
        ({**GOOD, "iat": NOW + 61}, "issued in the future"),
        ({**GOOD, "nbf": "soon"}, "'nbf' is not a number"),
        ({**GOOD, "iss": "https://evil"}, "wrong issuer"),
        ({k: v for k, v in GOOD.items() if k != "iss"}, "wrong issuer"),
        ({**GOOD, "aud": "other"}, "wrong audience"),
        ({**GOOD, "aud": ["other", "x"]}, "wrong audience"),
        ({**GOOD, "aud": {"mail": 1}}, "wrong audience"),
        ({k: v for k, v in GOOD.items() if k != "aud"}, "wrong audience"),
    ],
)
def test_claim_checks(claims: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        validator().validate(sign({"alg": "HS256"}, claims))


def test_claims_within_leeway_and_audience_lists() -> None:
    v = validator()
    for claims in (
        {**GOOD, "exp": NOW - 59},
        {**GOOD, "nbf": NOW + 60},
        {**GOOD, "iat": NOW + 60},
        {**GOOD, "aud": ["x", "mail"]},
    ):
        assert v.validate(sign({"alg": "HS256"}, claims)).identity == "alice@example.com"


def test_tampering_is_detected() -> None:
    token = sign({"alg": "RS256"}, GOOD)
    h, _, s = token.split(".")
    forged = f"{h}.{part({**GOOD, 'sub': 'admin@example.com'})}.{s}"
    with pytest.raises(InvalidToken, match="bad signature"):
        validator().validate(forged)
    with pytest.raises(InvalidToken, match="bad signature"):
        validator().validate(sign({"alg": "ES256"}, GOOD, alg="ES256-DER"))
    with pytest.raises(InvalidToken, match="bad signature"):
        validator().validate(sign({"alg": "HS256"}, GOOD, key=b"x" * 32))


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "not a JWS"),
        ("a.b", "not a JWS"),
        ("a.b.c.d", "not a JWS"),
        (sign({"alg": "HS256"}, GOOD) + "=", "malformed base64url"),
        (part({"alg": "HS256"}) + "==." + part(GOOD) + ".AAAA", "malformed base64url"),
        ("+/+/." + part(GOOD) + ".AAAA", "malformed base64url"),
        ("." + part(GOOD) + ".AAAA", "malformed base64url"),
        (part({"alg": "HS256"}) + "." + part(GOOD) + ".", "malformed base64url"),
        ("A." + part(GOOD) + ".AAAA", "malformed base64url"),
        (part(b"not json") + "." + part(GOOD) + ".AAAA", "header is not JSON"),
        (part(b"[1]") + "." + part(GOOD) + ".AAAA", "header is not a JSON object"),
        (part(b'{"alg":"HS256","alg":"none"}') + "." + part(GOOD) + ".AAAA", "duplicate"),
        (part(b"\xff") + "." + part(GOOD) + ".AAAA", "header is not JSON"),
        ("é.é.é", "malformed token"),
        ("a" * 9000, "malformed token"),
    ],
)
def test_malformed_tokens(token: str, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        validator().validate(token)


def test_payload_checked_only_after_the_signature() -> None:
    # a payload that is not JSON but correctly signed is a payload error
    token = sign({"alg": "HS256"}, b"nope")
    with pytest.raises(InvalidToken, match="payload is not JSON"):
        validator().validate(token)
    token = sign({"alg": "HS256"}, b'{"sub":"a","sub":"b"}')
    with pytest.raises(InvalidToken, match="duplicate"):
        validator().validate(token)


def test_typ() -> None:
    assert validator().validate(sign({"alg": "HS256", "typ": "at+jwt"}, GOOD))
    with pytest.raises(InvalidToken, match="not a JWT"):
        validator().validate(sign({"alg": "HS256", "typ": "JWE"}, GOOD))


def test_key_requirements_and_reprs() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JWTKey.hmac(b"short")
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(ValueError, match="2048"):
        JWTKey("RS256", small)
    with pytest.raises(TypeError, match="P-256"):
        JWTKey("ES256", ec.generate_private_key(ec.SECP384R1()).public_key())
    key = JWTKey.hmac(HS_SECRET, kid="k")
    assert repr(key) == "JWTKey(algorithm='HS256', kid='k')"
    assert HS_SECRET.decode() not in repr(validator())
    with pytest.raises(ValueError, match="issuer and audience"):
        JWTValidator([key], issuer="", audience="mail")
    with pytest.raises(ValueError, match="at least one key"):
        JWTValidator([], issuer="i", audience="a")


def test_error_messages_never_contain_the_token() -> None:
    token = sign({"alg": "HS256"}, {**GOOD, "exp": NOW - 100})
    with pytest.raises(InvalidToken) as info:
        validator().validate(token)
    assert token not in str(info.value) and token.split(".")[2] not in repr(info.value)
    assert b64(b"x")  # helper sanity
