"""SECURITY.md's IMAP lines that the other test modules do not already pin,
and the fuzz invariant: any input gives events or our protocol error."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from protokit.errors import ProtocolError
from protokit.imap import (
    AuthenticationFailed,
    ClientConnection,
    CommandReceived,
    SaslRequest,
    ServerConfig,
    ServerConnection,
)
from protokit.sasl import LoginServer, ServerMechanism

from .conn_helpers import events, feed, greeted_client, greeted_server


def test_absent_and_empty_initial_responses_differ() -> None:
    absent = greeted_server(tls_active=True)
    assert feed(absent, [b"a1 AUTHENTICATE PLAIN\r\n"]) == []
    assert absent.data_to_send() == b"+ \r\n"  # asks for the initial response
    empty = greeted_server(tls_active=True)
    evs = feed(empty, [b"a1 AUTHENTICATE PLAIN =\r\n"])
    # "=" is an empty initial response: PLAIN cannot accept it
    assert len(evs) == 1 and isinstance(evs[0], AuthenticationFailed)
    assert empty.data_to_send() == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


def test_sasl_steps_are_bounded() -> None:
    def factory(name: str, cb: bytes | None) -> ServerMechanism:
        return LoginServer(max_steps=1)

    s = greeted_server(tls_active=True, mechanisms=("LOGIN",), sasl_factory=factory)
    feed(s, [b"a1 AUTHENTICATE LOGIN\r\n"])
    assert s.data_to_send() == b"+ VXNlcm5hbWU6\r\n"
    assert feed(s, [b"dXNlcg==\r\n"]) == []
    assert s.data_to_send() == b"+ UGFzc3dvcmQ6\r\n"
    evs = feed(s, [b"cHc=\r\n"])
    assert isinstance(evs[0], AuthenticationFailed) and "too many steps" in evs[0].reason
    assert s.data_to_send() == b"a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"


def test_mechanisms_re_advertised_after_tls() -> None:
    s = greeted_server(starttls=True, mechanisms=("PLAIN", "SCRAM-SHA-256"))
    assert s.capability_list()[-3:] == ("STARTTLS", "AUTH=SCRAM-SHA-256", "LOGINDISABLED")
    feed(s, [b"a STARTTLS\r\n"])
    s.start_tls_done()
    assert s.capability_list()[-2:] == ("AUTH=PLAIN", "AUTH=SCRAM-SHA-256")


def test_secrets_never_in_reprs_or_errors() -> None:
    s = greeted_server(allow_plaintext=True)
    evs = feed(s, [b"a1 LOGIN user hunter2\r\n"])
    assert isinstance(evs[0], CommandReceived)
    assert "hunter2" not in repr(evs) + repr(s)
    t = greeted_server(tls_active=True)
    evs = feed(t, [b"a1 AUTHENTICATE PLAIN AHVzZXIAaHVudGVyMg==\r\n"])
    assert isinstance(evs[0], SaslRequest)
    assert "hunter2" not in repr(evs) and "aHVudGVy" not in repr(evs)
    feed(t, [])
    t.answer_sasl(False)
    assert "hunter2" not in repr(events(t))
    c = greeted_client(allow_plaintext=True)
    h = c.login("user", "hunter2")
    assert "hunter2" not in repr(h) + repr(c)


_TOKENS = st.sampled_from(
    [
        b"a1 ",
        b"* ",
        b"+ ",
        b"LOGIN u p",
        b"AUTHENTICATE PLAIN",
        b"STARTTLS",
        b"IDLE",
        b"DONE",
        b"SELECT INBOX",
        b"APPEND INBOX {3}",
        b"{5+}",
        b"{99999999999}",
        b"OK",
        b"NO",
        b"BYE",
        b"FETCH (BODY[] {4}",
        b"\r\n",
        b"\n",
        b"\r",
        b"(",
        b")",
        b'"',
        b"=",
        b"*",
        b"xyz",
    ]
)


@settings(max_examples=300)
@given(st.lists(st.one_of(_TOKENS, st.binary(max_size=8)), max_size=40), st.integers(1, 7))
def test_any_input_gives_events_or_our_error(parts: list[bytes], step: int) -> None:
    data = b"".join(parts)
    for conn in (
        ServerConnection(ServerConfig(allow_plaintext=True, starttls=True)),
        ClientConnection(allow_plaintext=True),
    ):
        conn.data_to_send()
        try:
            for i in range(0, len(data), step):
                conn.receive_data(data[i : i + step])
                for ev in events(conn):
                    _answer(conn, ev)
        except ProtocolError:
            pass


def _answer(conn: Any, ev: Any) -> None:
    if isinstance(conn, ServerConnection):
        if isinstance(ev, SaslRequest):
            conn.answer_sasl(False)
        elif isinstance(ev, CommandReceived) and type(ev.command).__name__ != "Idle":
            conn.complete("NO", "no")


def test_external_only_with_a_verified_certificate_and_plus_only_with_binding() -> None:
    mechs = ("EXTERNAL", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
    s = greeted_server(tls_active=True, mechanisms=mechs)
    assert [c for c in s.capability_list() if c.startswith("AUTH=")] == ["AUTH=SCRAM-SHA-256"]
    feed(s, [b"a1 AUTHENTICATE EXTERNAL =\r\n"])
    assert s.data_to_send() == b"a1 NO Unsupported authentication mechanism\r\n"
    t = greeted_server(
        tls_active=True, mechanisms=mechs, client_certificate_verified=True, channel_binding=b"x"
    )
    assert [c for c in t.capability_list() if c.startswith("AUTH=")] == [
        "AUTH=EXTERNAL",
        "AUTH=SCRAM-SHA-256-PLUS",
        "AUTH=SCRAM-SHA-256",
    ]
    u = greeted_server(starttls=True, mechanisms=mechs)
    feed(u, [b"a STARTTLS\r\n"])
    u.start_tls_done(channel_binding=b"cb", client_certificate_verified=True)
    assert "AUTH=EXTERNAL" in u.capability_list()
