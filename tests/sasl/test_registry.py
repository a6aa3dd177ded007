"""The registry, the server factory and the client's choice of mechanism."""

from __future__ import annotations

import pytest

from protokit.sasl import (
    CLIENT_MECHANISMS,
    MECHANISM_PREFERENCE,
    SERVER_MECHANISMS,
    Challenge,
    CramMD5Server,
    Failure,
    LoginServer,
    OAuthBearerServer,
    PlainServer,
    ScramServer,
    UnknownMechanism,
    choose_mechanism,
    create_server,
)

ALL = {
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "OAUTHBEARER",
    "XOAUTH2",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
    "EXTERNAL",
    "ANONYMOUS",
}


def test_names() -> None:
    assert set(CLIENT_MECHANISMS) == set(SERVER_MECHANISMS) == ALL
    for name, client in CLIENT_MECHANISMS.items():
        assert client.name == name
    for name, server in SERVER_MECHANISMS.items():
        assert server.name == name
    assert MECHANISM_PREFERENCE == (
        "SCRAM-SHA-256-PLUS",
        "SCRAM-SHA-256",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-1",
        "OAUTHBEARER",
        "XOAUTH2",
        "CRAM-MD5",
        "PLAIN",
        "LOGIN",
    )


def test_plaintext_flags() -> None:
    plaintext = {n for n, c in CLIENT_MECHANISMS.items() if c.plaintext}
    assert plaintext == {"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"}
    assert plaintext == {n for n, c in SERVER_MECHANISMS.items() if c.plaintext}


def test_create_server() -> None:
    server = create_server("scram-sha-256", channel_binding=b"cb")
    assert isinstance(server, ScramServer) and server.name == "SCRAM-SHA-256"
    # With binding data, the non-PLUS server detects the "y" downgrade.
    assert server.start(b"y,,n=user,r=abc") == Failure(
        reason="SCRAM-SHA-256: server-does-support-channel-binding"
    )
    plus = create_server("SCRAM-SHA-1-PLUS", channel_binding=b"cb")
    assert plus.name == "SCRAM-SHA-1-PLUS"
    # Options go where they apply; the others ignore them.
    cram = create_server("CRAM-MD5", challenge=lambda: b"<1@h>", error={"status": "x"})
    assert isinstance(cram, CramMD5Server)
    assert cram.start(None) == Challenge(data=b"<1@h>")
    login = create_server("LOGIN", prompt_style="User Name", max_steps=3)
    assert isinstance(login, LoginServer) and login.max_steps == 3
    assert login.start(None) == Challenge(data=b"User Name")
    bearer = create_server("OAUTHBEARER", host="h", port=1, hostname="ignored")
    assert isinstance(bearer, OAuthBearerServer)
    assert isinstance(create_server("PLAIN", allowed=["plain", "LOGIN"]), PlainServer)


def test_create_server_errors() -> None:
    with pytest.raises(UnknownMechanism, match="mechanism DIGEST-MD5 is not available") as info:
        create_server("DIGEST-MD5")
    assert info.value.mechanism == "DIGEST-MD5"
    with pytest.raises(UnknownMechanism, match="malformed mechanism name") as info:
        create_server("PLAIN\r\nQUIT")
    assert info.value.mechanism is None
    with pytest.raises(UnknownMechanism, match="malformed"):
        create_server("X" * 21)
    with pytest.raises(UnknownMechanism, match="without channel binding"):
        create_server("SCRAM-SHA-256-PLUS")
    with pytest.raises(UnknownMechanism, match="not available"):
        create_server("PLAIN", allowed=["SCRAM-SHA-256"])
    with pytest.raises(TypeError, match="unknown options"):
        create_server("PLAIN", hostnme="typo")


def _choose(offered: str, **kw: bool) -> str | None:
    args = {
        "have_password": True,
        "have_token": False,
        "tls": True,
        "channel_binding_available": False,
        "allow_plaintext": False,
    }
    args.update(kw)
    return choose_mechanism(offered.split(), **args)


def test_choose_mechanism() -> None:
    every = " ".join(sorted(ALL))
    assert _choose(every, channel_binding_available=True) == "SCRAM-SHA-256-PLUS"
    assert _choose(every) == "SCRAM-SHA-256"
    assert _choose(every, tls=False, channel_binding_available=True) == "SCRAM-SHA-256"
    assert _choose("scram-sha-1 plain", channel_binding_available=True) == "SCRAM-SHA-1"
    assert _choose("SCRAM-SHA-1-PLUS PLAIN", channel_binding_available=True) == "SCRAM-SHA-1-PLUS"
    assert _choose("PLAIN LOGIN CRAM-MD5") == "CRAM-MD5"
    assert _choose("PLAIN LOGIN") == "PLAIN"
    assert _choose("LOGIN") == "LOGIN"
    # Plaintext mechanisms only under TLS unless explicitly allowed.
    assert _choose("PLAIN LOGIN", tls=False) is None
    assert _choose("PLAIN LOGIN", tls=False, allow_plaintext=True) == "PLAIN"
    # Tokens.
    assert _choose("XOAUTH2 OAUTHBEARER PLAIN", have_password=False, have_token=True) == (
        "OAUTHBEARER"
    )
    assert _choose("XOAUTH2 PLAIN", have_password=False, have_token=True) == "XOAUTH2"
    assert _choose("XOAUTH2", have_password=False, have_token=True, tls=False) is None
    assert _choose("XOAUTH2 PLAIN", have_password=True, have_token=False) == "PLAIN"
    assert _choose("EXTERNAL ANONYMOUS") is None
    assert _choose("") is None
