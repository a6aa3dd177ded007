"""The server's AUTH (RFC 4954, over the protokit.sasl contract) and
STARTTLS (RFC 3207) handling."""

from __future__ import annotations

import pytest

from protokit import NEED_DATA, LocalProtocolError, RemoteProtocolError, Secret
from protokit.sasl import VerifyPassword
from protokit.smtp import (
    Authenticated,
    AuthFailed,
    AuthRequest,
    BadCommand,
    Hello,
    MailFrom,
    ServerConfig,
    ServerConnection,
    StartTLS,
    State,
)
from protokit.wire import b64encode

from .helpers import chunkings, ehlo_server, reply, run_server

PLAIN_IR = b64encode(b"\x00alice\x00s3cret-pw")
AUTH_CFG = {"auth_mechanisms": ("PLAIN", "LOGIN"), "allow_plaintext_auth": True}


def auth_app(password_ok: bool = True, authorize: bool = True):  # type: ignore[no-untyped-def]
    def answer(conn: ServerConnection, ev: object) -> None:
        if isinstance(ev, AuthRequest):
            assert isinstance(ev.request, VerifyPassword)
            ok = ev.request.password.expose() == "s3cret-pw" and password_ok
            conn.answer_auth(ok)
        elif isinstance(ev, Authenticated):
            conn.reply(None if authorize else reply(535, "5.7.8", "Not authorised"))
        while conn.pending is not None and conn.pending not in ("AuthRequest", "Authenticated"):
            conn.reply()

    return answer


def test_auth_plain_with_initial_response() -> None:
    for label, chunks in chunkings(b"AUTH PLAIN " + PLAIN_IR + b"\r\nMAIL FROM:<>\r\n"):
        conn = ehlo_server(**AUTH_CFG)
        run = run_server(chunks, conn, auth_app())
        assert run.output == (b"235 2.7.0 Authentication successful\r\n250 2.1.0 Sender OK\r\n"), (
            label
        )
        assert isinstance(run.events[0], AuthRequest)
        assert run.events[0].request == VerifyPassword(
            authcid="alice", authzid=None, password=Secret("s3cret-pw")
        )
        assert run.events[1] == Authenticated(mechanism="PLAIN", authcid="alice", authzid=None)
        assert conn.authenticated == "alice"


def test_auth_plain_without_initial_response_gets_an_empty_challenge() -> None:
    conn = ehlo_server(**AUTH_CFG)
    run = run_server([b"AUTH PLAIN\r\n", PLAIN_IR + b"\r\nNOOP\r\n"], conn, auth_app())
    assert run.output == (b"334 \r\n235 2.7.0 Authentication successful\r\n250 2.0.0 OK\r\n")


def test_the_line_after_auth_is_its_response_not_a_command() -> None:
    conn = ehlo_server(**AUTH_CFG)
    run = run_server([b"AUTH PLAIN\r\nNOOP\r\n"], conn, auth_app())
    # "NOOP" is valid base64: PLAIN gets it as its message and fails.
    assert run.output == b"334 \r\n535 5.7.8 Authentication credentials invalid\r\n"
    assert [type(e) for e in run.events] == [AuthFailed]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"AUTH PLAIN =\r\n", b"535 5.7.8 Authentication credentials invalid\r\n"),
        (b"AUTH PLAIN !!!!\r\n", b"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"),
        (b"AUTH PLAIN QUJD\r\n", b"535 5.7.8 Authentication credentials invalid\r\n"),
        (b"AUTH PLAIN QUJ=\r\n", b"501 5.5.2 Cannot decode response\r\n"),
        (b"AUTH CRAM-MD5\r\n", b"504 5.5.4 Unrecognized authentication type\r\n"),
        (b"AUTH\r\n", b"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"),
    ],
)
def test_auth_errors(line: bytes, expected: bytes) -> None:
    run = run_server([line], ehlo_server(**AUTH_CFG), auth_app())
    assert run.output == expected


def test_cancel_and_bad_responses_inside_the_exchange() -> None:
    run = run_server([b"AUTH LOGIN\r\n", b"*\r\n"], ehlo_server(**AUTH_CFG), auth_app())
    assert run.output.startswith(b"334 ")
    assert run.output.endswith(b"\r\n501 5.0.0 Authentication cancelled\r\n")
    assert isinstance(run.events[-1], AuthFailed)
    run = run_server([b"AUTH LOGIN\r\n", b"a b\r\n"], ehlo_server(**AUTH_CFG), auth_app())
    assert run.output.endswith(b"\r\n501 5.5.2 Cannot decode response\r\n")
    run = run_server(
        [b"AUTH LOGIN\r\n", b"A" * 13000 + b"\r\nNOOP\r\n"], ehlo_server(**AUTH_CFG), auth_app()
    )
    assert run.output.endswith(
        b"\r\n500 5.5.6 Authentication exchange line is too long\r\n250 2.0.0 OK\r\n"
    )


def test_wrong_password_and_refused_authorisation_are_535() -> None:
    line = [b"AUTH PLAIN " + PLAIN_IR + b"\r\n"]
    run = run_server(line, ehlo_server(**AUTH_CFG), auth_app(password_ok=False))
    assert run.output == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert [type(e) for e in run.events] == [AuthRequest, AuthFailed]
    conn = ehlo_server(**AUTH_CFG)
    run = run_server(line, conn, auth_app(authorize=False))
    assert run.output == b"535 5.7.8 Not authorised\r\n"
    assert conn.authenticated is None
    with pytest.raises(LocalProtocolError):
        conn.answer_auth(True)


def test_success_must_be_235() -> None:
    conn = ehlo_server(**AUTH_CFG)
    conn.receive_data(b"AUTH PLAIN " + PLAIN_IR + b"\r\n")
    conn.next_event()
    conn.answer_auth(True)
    assert isinstance(conn.next_event(), Authenticated)
    with pytest.raises(LocalProtocolError):
        conn.reply(reply(250, "2.0.0", "ok"))


def test_no_second_auth_and_no_auth_in_a_transaction() -> None:
    conn = ehlo_server(**AUTH_CFG)
    run = run_server(
        [b"AUTH PLAIN " + PLAIN_IR + b"\r\nAUTH PLAIN " + PLAIN_IR + b"\r\nEHLO c\r\n"],
        conn,
        auth_app(),
    )
    assert b"503 5.5.1 Already authenticated\r\n" in run.output
    assert b"AUTH" not in run.output.split(b"250-localhost Hello c")[1]
    conn = ehlo_server(**AUTH_CFG)
    run = run_server([b"MAIL FROM:<>\r\nAUTH PLAIN " + PLAIN_IR + b"\r\n"], conn, auth_app())
    assert run.output == b"250 2.1.0 Sender OK\r\n503 5.5.1 Bad sequence of commands\r\n"


def test_auth_not_offered_is_502_and_before_ehlo_is_503() -> None:
    run = run_server([b"AUTH PLAIN =\r\n"], ehlo_server())
    assert run.output == b"502 5.5.1 Command not implemented\r\n"
    conn = ServerConnection(ServerConfig(auth_mechanisms=("PLAIN",), allow_plaintext_auth=True))
    conn.data_to_send()
    assert run_server([b"AUTH PLAIN =\r\n"], conn).output == (
        b"503 5.5.1 Bad sequence of commands\r\n"
    )


def test_plaintext_mechanisms_need_tls() -> None:
    conn = ehlo_server(auth_mechanisms=("PLAIN", "SCRAM-SHA-256"), starttls=True)
    run = run_server([b"AUTH PLAIN " + PLAIN_IR + b"\r\n"], conn, auth_app())
    assert run.output == (
        b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    )
    run = run_server([b"STARTTLS\r\n"], conn)
    assert run.output == b"220 2.0.0 Ready to start TLS\r\n"
    conn.start_tls_done()
    run = run_server([b"EHLO c\r\n"], conn)
    assert run.output == (
        b"250-localhost Hello c\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n250-8BITMIME\r\n"
        b"250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-DSN\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN SCRAM-SHA-256\r\n"
    )
    run = run_server([b"AUTH PLAIN " + PLAIN_IR + b"\r\n"], conn, auth_app())
    assert run.output == b"235 2.7.0 Authentication successful\r\n"


def test_auth_required_gates_the_envelope() -> None:
    conn = ehlo_server(auth_required=True, **AUTH_CFG)
    run = run_server(
        [
            b"MAIL FROM:<>\r\nVRFY x\r\nBDAT 3 LAST\r\nabcNOOP\r\nAUTH PLAIN "
            + PLAIN_IR
            + b"\r\nMAIL FROM:<>\r\n"
        ],
        conn,
        auth_app(),
    )
    assert run.output == (
        b"530 5.7.0 Authentication required\r\n530 5.7.0 Authentication required\r\n"
        b"530 5.7.0 Authentication required\r\n250 2.0.0 OK\r\n"
        b"235 2.7.0 Authentication successful\r\n250 2.1.0 Sender OK\r\n"
    )


def test_a_custom_sasl_factory_is_used() -> None:
    from protokit.sasl import PlainServer

    made: list[str] = []

    def factory(name: str, *, channel_binding: bytes | None = None) -> PlainServer:
        made.append(name)
        return PlainServer()

    conn = ehlo_server(auth_mechanisms=("PLAIN",), allow_plaintext_auth=True, sasl_factory=factory)
    run_server([b"AUTH plain " + PLAIN_IR + b"\r\n"], conn, auth_app())
    assert made == ["PLAIN"]
    assert conn.authenticated == "alice"


def test_no_secret_in_any_repr() -> None:
    conn = ehlo_server(**AUTH_CFG)
    conn.receive_data(b"AUTH PLAIN " + PLAIN_IR + b"\r\n")
    ev = conn.next_event()
    texts = [repr(ev), str(ev), repr(conn), repr(conn._buf)]
    conn.answer_auth(True)
    texts.append(repr(conn.next_event()))
    for text in texts:
        assert "s3cret" not in text
        assert PLAIN_IR.decode() not in text


# -- STARTTLS ------------------------------------------------------------------------------------


def test_starttls_hands_off_and_the_session_starts_over() -> None:
    conn = ehlo_server(starttls=True)
    run = run_server([b"STARTTLS\r\n"], conn)
    assert run.output == b"220 2.0.0 Ready to start TLS\r\n"
    assert run.events == [StartTLS()]
    assert conn.state is State.TLS
    assert conn.next_event() is NEED_DATA
    conn.start_tls_done(channel_binding=b"cb")
    assert conn.tls_active and conn.channel_binding == b"cb" and conn.helo is None
    run = run_server([b"MAIL FROM:<>\r\nEHLO c\r\n"], conn)
    assert run.output.startswith(b"503 5.5.1 Bad sequence of commands\r\n250-localhost Hello c")
    assert b"STARTTLS" not in run.output
    assert run.events[-1] == Hello(verb="EHLO", domain="c")


def test_starttls_refusals() -> None:
    assert run_server([b"STARTTLS\r\n"], ehlo_server()).output == (
        b"502 5.5.1 Command not implemented\r\n"
    )
    assert run_server([b"STARTTLS now\r\n"], ehlo_server(starttls=True)).output == (
        b"501 5.5.4 Syntax: STARTTLS\r\n"
    )
    conn = ServerConnection(ServerConfig(starttls=True), tls_active=True)
    run_server([b"EHLO c\r\n"], conn)
    assert run_server([b"STARTTLS\r\n"], conn).output == b"503 5.5.1 TLS already active\r\n"
    fresh = ServerConnection(ServerConfig(starttls=True))
    fresh.data_to_send()
    assert run_server([b"STARTTLS\r\n"], fresh).output == (
        b"503 5.5.1 Bad sequence of commands\r\n"
    )
    assert run_server([b"MAIL FROM:<>\r\nSTARTTLS\r\n"], ehlo_server(starttls=True)).output == (
        b"250 2.1.0 Sender OK\r\n503 5.5.1 Bad sequence of commands\r\n"
    )
    with pytest.raises(LocalProtocolError):
        ehlo_server(starttls=True).start_tls_done()


def test_require_tls_allows_only_the_way_to_tls() -> None:
    conn = ehlo_server(starttls=True, require_tls=True)
    run = run_server([b"MAIL FROM:<>\r\nVRFY x\r\nHELP\r\nNOOP\r\nRSET\r\nSTARTTLS\r\n"], conn)
    assert run.output == (
        b"530 5.7.0 Must issue a STARTTLS command first\r\n"
        b"530 5.7.0 Must issue a STARTTLS command first\r\n"
        b"530 5.7.0 Must issue a STARTTLS command first\r\n"
        b"250 2.0.0 OK\r\n250 2.0.0 Reset state\r\n220 2.0.0 Ready to start TLS\r\n"
    )
    conn.start_tls_done()
    run = run_server([b"EHLO c\r\nMAIL FROM:<>\r\n"], conn)
    assert run.output.endswith(b"250 2.1.0 Sender OK\r\n")
    assert isinstance(run.events[-1], MailFrom)


def test_requiretls_is_offered_and_parsed_only_under_tls() -> None:
    conn = ehlo_server(requiretls=True)
    run = run_server([b"EHLO c\r\nMAIL FROM:<> REQUIRETLS\r\n"], conn)
    assert b"REQUIRETLS\r\n" not in run.output
    assert run.events[-1] == MailFrom(
        sender="", params=MailFrom.__dataclass_fields__["params"].type and run.events[-1].params
    )
    assert run.events[-1].params.extra == (("REQUIRETLS", None),)
    tls = ServerConnection(ServerConfig(requiretls=True), tls_active=True)
    run = run_server([b"EHLO c\r\nMAIL FROM:<> REQUIRETLS\r\n"], tls)
    assert b"250 REQUIRETLS\r\n" in run.output
    assert run.events[-1].params.requiretls  # type: ignore[union-attr]
    assert not any(isinstance(e, BadCommand) for e in run.events)


def test_injected_plaintext_found_at_the_hand_off() -> None:
    conn = ehlo_server(starttls=True)
    run_server([b"STARTTLS\r\n"], conn)
    conn.receive_data(b"NOOP\r\n")  # arrives before the binding wraps TLS
    with pytest.raises(RemoteProtocolError):
        conn.start_tls_done()
    assert conn.state is State.ERROR


def test_a_mechanism_the_registry_lacks_is_504() -> None:
    conn = ehlo_server(auth_mechanisms=("X-NOPE",))
    assert run_server([b"AUTH X-NOPE\r\n"], conn).output == (
        b"504 5.5.4 Unrecognized authentication type\r\n"
    )


def test_bdat_before_tls_is_refused_and_drained() -> None:
    conn = ehlo_server(starttls=True, require_tls=True)
    run = run_server([b"BDAT 6 LAST\r\nHELP\r\nNOOP\r\n"], conn)
    assert run.output == b"530 5.7.0 Must issue a STARTTLS command first\r\n250 2.0.0 OK\r\n"


def test_pending_plaintext_shows_what_a_binding_must_refuse_before_tls() -> None:
    conn = ehlo_server(starttls=True)
    run = run_server([b"STARTTLS\r\n"], conn)
    assert run.events == [StartTLS()]
    assert conn.pending_plaintext == b""
    conn.receive_data(b"NOOP\r\n")  # arrived after the event, before the handshake
    assert conn.pending_plaintext == b"NOOP\r\n"
    with pytest.raises(RemoteProtocolError):
        conn.start_tls_done()
