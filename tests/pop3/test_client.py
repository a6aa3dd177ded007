"""The POP3 client connection: exact bytes sent, exact events, every reader
fed whole, byte by byte and with trailing data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from protokit import NEED_DATA, Secret
from protokit.errors import LocalProtocolError, RemoteProtocolError
from protokit.pop3 import (
    Capabilities,
    ClientConfig,
    ClientConnection,
    ConnectionClosed,
    Err,
    Greeting,
    ListResult,
    MechanismList,
    MessageData,
    MessageEnd,
    MessageStart,
    Ok,
    Retr,
    StartTLS,
    State,
    StatResult,
    UidlResult,
    User,
)
from protokit.sasl import ClientMechanism, PlainClient, SASLError

from .helpers import drain, feed, merge_data, three_ways

OPEN = ClientConfig(allow_plaintext_auth=True)
GREETING = b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"


def greeted(config: ClientConfig = OPEN) -> ClientConnection:
    c = ClientConnection(config)
    c.receive_data(GREETING)
    assert drain(c) == [
        Greeting(
            text="POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
            timestamp="<1896.697170952@dbc.mtview.ca.us>",
        )
    ]
    return c


def logged_in(config: ClientConfig = OPEN) -> ClientConnection:
    c = greeted(config)
    c.user("mrose")
    c.pass_("secret")
    assert c.data_to_send() == b"USER mrose\r\n"
    c.receive_data(b"+OK\r\n")
    assert drain(c) == [Ok(command="USER", text="")]
    assert c.data_to_send() == b"PASS secret\r\n"
    c.receive_data(b"+OK ready\r\n")
    assert drain(c) == [Ok(command="PASS", text="ready")]
    assert c.state is State.TRANSACTION
    return c


def test_constructible_with_no_arguments() -> None:
    c = ClientConnection()
    assert c.next_event() is NEED_DATA
    assert c.data_to_send() == b""
    assert c.state is State.AUTHORIZATION
    assert repr(c) == "<pop3.ClientConnection state=AUTHORIZATION in_flight=0 queued=0>"


def test_commands_wait_for_the_greeting() -> None:
    c = ClientConnection(OPEN)
    c.capa()
    assert c.data_to_send() == b""
    c.receive_data(b"+OK hi\r\n")
    assert drain(c) == [Greeting(text="hi", timestamp=None)]
    assert c.data_to_send() == b"CAPA\r\n"


def test_refusing_greeting() -> None:
    c = ClientConnection()
    c.receive_data(b"-ERR [SYS/TEMP] try later\r\n")
    assert drain(c) == [Err(command="", text="try later", code="SYS/TEMP")]


# -- replies, each fed three ways ------------------------------------------------------

Setup = Callable[[ClientConnection], None]

REPLIES: list[tuple[str, Setup, bytes, list[Any]]] = [
    ("stat", lambda c: c.stat(), b"+OK 2 320\r\n", [StatResult(count=2, size=320)]),
    (
        "list",
        lambda c: c.list_(),
        b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
        [ListResult(entries=((1, 120), (2, 200)))],
    ),
    ("list one", lambda c: c.list_(2), b"+OK 2 200\r\n", [ListResult(entries=((2, 200),))]),
    (
        "list error",
        lambda c: c.list_(3),
        b"-ERR no such message, only 2 messages in maildrop\r\n",
        [Err(command="LIST", text="no such message, only 2 messages in maildrop")],
    ),
    (
        "uidl",
        lambda c: c.uidl(),
        b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n",
        [UidlResult(entries=((1, "whqtswO00WBw418f9t5JxYwZ"), (2, "QhdPYR:00WBw1Ph7x7")))],
    ),
    (
        "uidl one",
        lambda c: c.uidl(2),
        b"+OK 2 QhdPYR:00WBw1Ph7x7\r\n",
        [UidlResult(entries=((2, "QhdPYR:00WBw1Ph7x7"),))],
    ),
    (
        "retr",
        lambda c: c.retr(1),
        b"+OK 120 octets\r\n..dot\r\nline\r\n\r\n..\r\n.\r\n",
        [
            MessageStart(command="RETR", number=1, text="120 octets"),
            MessageData(data=b".dot\r\nline\r\n\r\n.\r\n"),
            MessageEnd(number=1, size=17),
        ],
    ),
    (
        "retr empty",
        lambda c: c.retr(1),
        b"+OK 0 octets\r\n.\r\n",
        [MessageStart(command="RETR", number=1, text="0 octets"), MessageEnd(number=1, size=0)],
    ),
    (
        "retr error",
        lambda c: c.retr(9),
        b"-ERR [SYS/TEMP] gone\r\n",
        [Err(command="RETR", text="gone", code="SYS/TEMP")],
    ),
    (
        "top",
        lambda c: c.top(2, 0),
        b"+OK\r\nSubject: x\r\n\r\n.\r\n",
        [
            MessageStart(command="TOP", number=2, text=""),
            MessageData(data=b"Subject: x\r\n\r\n"),
            MessageEnd(number=2, size=14),
        ],
    ),
    (
        "dele",
        lambda c: c.dele(1),
        b"+OK message 1 deleted\r\n",
        [Ok(command="DELE", text="message 1 deleted")],
    ),
    ("noop", lambda c: c.noop(), b"+OK\r\n", [Ok(command="NOOP", text="")]),
    (
        "rset",
        lambda c: c.rset(),
        b"+OK maildrop has 2 messages\r\n",
        [Ok(command="RSET", text="maildrop has 2 messages")],
    ),
    (
        "capa",
        lambda c: c.capa(),
        b"+OK Capability list follows\r\nTOP\r\nSASL PLAIN LOGIN\r\nexpire 60\r\n.\r\n",
        [
            Capabilities(
                capabilities=(("TOP", ()), ("SASL", ("PLAIN", "LOGIN")), ("EXPIRE", ("60",)))
            )
        ],
    ),
    (
        "quit",
        lambda c: c.quit(),
        b"+OK dewey POP3 server signing off (maildrop empty)\r\n",
        [
            Ok(command="QUIT", text="dewey POP3 server signing off (maildrop empty)"),
            ConnectionClosed(),
        ],
    ),
    (
        "quit failing update",
        lambda c: c.quit(),
        b"-ERR [SYS/TEMP] some deleted messages not removed\r\n",
        [
            Err(command="QUIT", text="some deleted messages not removed", code="SYS/TEMP"),
            ConnectionClosed(),
        ],
    ),
]


@pytest.mark.parametrize(
    ("name", "setup", "reply", "events"), REPLIES, ids=[r[0] for r in REPLIES]
)
def test_replies_three_ways(name: str, setup: Setup, reply: bytes, events: list[Any]) -> None:
    for label, chunks in three_ways(reply, trailing=b"+OK after\r\n"):
        c = logged_in()
        setup(c)
        if name.startswith("quit"):
            chunks = [reply]  # nothing is read after QUIT
        else:
            c.noop()  # answered by the trailing reply
        c.data_to_send()
        got = merge_data(feed(c, chunks))
        want = events + (
            [Ok(command="NOOP", text="after")]
            if label == "trailing" and not name.startswith("quit")
            else []
        )
        assert got == want, label


def test_auth_list_is_multiline() -> None:
    for label, chunks in three_ways(b"+OK methods\r\nPLAIN\r\nscram-sha-256\r\n.\r\n"):
        c = greeted()
        c.auth_list()
        assert c.data_to_send() == b"AUTH\r\n"
        assert feed(c, chunks) == [MechanismList(mechanisms=("PLAIN", "SCRAM-SHA-256"))], label


def test_listing_lines_are_unstuffed() -> None:
    c = greeted()
    c.capa()
    c.receive_data(b"+OK\r\n..X-DOT\r\n.\r\n")
    with pytest.raises(RemoteProtocolError):
        # ".X-DOT" unstuffed starts with "." which no capability tag may.
        drain(c)


def test_capabilities_and_pipelining() -> None:
    c = greeted()
    assert c.capabilities is None and not c.pipelining
    c.capa()
    c.data_to_send()
    c.receive_data(b"+OK\r\nUSER\r\nPIPELINING\r\nSASL PLAIN\r\n.\r\n")
    (caps,) = drain(c)
    assert isinstance(caps, Capabilities) and caps is c.capabilities
    assert "pipelining" in caps and "STLS" not in caps and 1 not in caps
    assert caps.sasl_mechanisms == ("PLAIN",) and caps.get("USER") == () and caps.get("X") is None
    assert c.pipelining
    c.user("mrose")
    c.pass_("secret")
    c.stat()
    c.list_()
    assert c.data_to_send() == b"USER mrose\r\nPASS secret\r\nSTAT\r\nLIST\r\n"
    c.receive_data(b"+OK\r\n+OK\r\n+OK 0 0\r\n+OK\r\n.\r\n")
    assert drain(c) == [
        Ok(command="USER", text=""),
        Ok(command="PASS", text=""),
        StatResult(count=0, size=0),
        ListResult(entries=()),
    ]


def test_no_pipelining_without_the_capability() -> None:
    c = logged_in()
    c.stat()
    c.retr(1)
    c.noop()
    assert c.data_to_send() == b"STAT\r\n"
    c.receive_data(b"+OK 1 5\r\n+OK 5 octets\r\nab")
    assert c.data_to_send() == b""
    evs = drain(c)
    assert evs[0] == StatResult(count=1, size=5)
    assert c.data_to_send() == b"RETR 1\r\n"
    c.receive_data(b"c\r\n.\r\n")
    assert merge_data(drain(c))[-1] == MessageEnd(number=1, size=5)
    assert c.data_to_send() == b"NOOP\r\n"


def test_never_pipelines_past_stls_or_auth() -> None:
    c = greeted()
    c.capa()
    c.data_to_send()
    c.receive_data(b"+OK\r\nPIPELINING\r\nSTLS\r\n.\r\n")
    drain(c)
    c.stls()
    assert c.data_to_send() == b"STLS\r\n"
    with pytest.raises(LocalProtocolError):
        c.user("mrose")  # nothing but the TLS handshake may follow STLS
    c.receive_data(b"+OK go\r\n")
    assert drain(c) == [StartTLS()]
    c.tls_established()
    assert c.capabilities is None and not c.pipelining
    c.auth(PlainClient("u", "p"))
    assert c.data_to_send() == b"AUTH PLAIN AHUAcA==\r\n"


def test_pipelining_holds_commands_behind_auth() -> None:
    c = greeted(ClientConfig(tls_active=True))
    c.capa()
    c.data_to_send()
    c.receive_data(b"+OK\r\nPIPELINING\r\n.\r\n")
    drain(c)
    c.auth(PlainClient("u", "p"))
    c.stat()
    assert c.data_to_send() == b"AUTH PLAIN AHUAcA==\r\n"
    c.receive_data(b"+OK\r\n")
    assert drain(c) == [Ok(command="AUTH", text="")]
    assert c.data_to_send() == b"STAT\r\n"


# -- SASL --------------------------------------------------------------------------------


class LongResponse(ClientMechanism):
    name = "X-LONG"

    def __init__(self, size: int) -> None:
        self.size = size
        self.challenges: list[bytes] = []

    def initial_response(self) -> bytes:
        return b"x" * self.size

    def respond(self, challenge: bytes) -> bytes:
        self.challenges.append(challenge)
        if challenge == b"bad":
            raise SASLError("X-LONG: bad challenge")
        return b"r:" + challenge


def test_initial_response_on_the_line_only_when_it_fits() -> None:
    # "AUTH X-LONG " is 12 octets; base64 of 180 octets is 240: 12+240+2 = 254.
    c = greeted(ClientConfig(tls_active=True))
    c.auth(LongResponse(180))
    line = c.data_to_send()
    assert line == b"AUTH X-LONG " + b"eHh4" * 60 + b"\r\n" and len(line) == 254
    # 183 octets -> 244 base64 -> 258: sent after the server's empty challenge.
    c = greeted(ClientConfig(tls_active=True))
    mech = LongResponse(183)
    c.auth(mech)
    assert c.data_to_send() == b"AUTH X-LONG\r\n"
    c.receive_data(b"+ \r\n")
    assert drain(c) == []
    assert c.data_to_send() == b"eHh4" * 61 + b"\r\n"
    assert mech.challenges == []
    c.receive_data(b"+ Zm9v\r\n")
    drain(c)
    assert c.data_to_send() == b"cjpmb28=\r\n"
    c.receive_data(b"+OK\r\n")
    assert drain(c) == [Ok(command="AUTH", text="")]
    assert mech.challenges == [b"foo"]


def test_empty_initial_response_is_an_equals_sign() -> None:
    c = greeted(ClientConfig(tls_active=True))
    c.auth(LongResponse(0))
    assert c.data_to_send() == b"AUTH X-LONG =\r\n"


def test_bad_challenge_cancels_then_err() -> None:
    c = greeted(ClientConfig(tls_active=True))
    c.auth(LongResponse(1))
    c.data_to_send()
    c.receive_data(b"+ YmFk\r\n")
    assert drain(c) == []
    assert c.data_to_send() == b"*\r\n"
    c.receive_data(b"-ERR authentication cancelled\r\n")
    assert drain(c) == [Err(command="AUTH", text="authentication cancelled")]
    assert c.state is State.AUTHORIZATION


@pytest.mark.parametrize("reply", [b"+OK\r\n", b"+ Zm9v\r\n"])
def test_server_continuing_a_cancelled_exchange_is_an_error(reply: bytes) -> None:
    c = greeted(ClientConfig(tls_active=True))
    c.auth(LongResponse(1))
    c.receive_data(b"+ YmFk\r\n" + reply)
    with pytest.raises(RemoteProtocolError):
        drain(c)
    assert c.state is State.ERROR


def test_invalid_base64_challenge_cancels() -> None:
    c = greeted(ClientConfig(tls_active=True))
    c.auth(LongResponse(1))
    c.data_to_send()
    c.receive_data(b"+ !!!!\r\n")
    assert drain(c) == []
    assert c.data_to_send() == b"*\r\n"


def test_plaintext_refused_without_tls() -> None:
    c = greeted(ClientConfig())
    with pytest.raises(LocalProtocolError):
        c.user("mrose")
    with pytest.raises(LocalProtocolError):
        c.pass_("secret")
    with pytest.raises(LocalProtocolError):
        c.auth(PlainClient("u", "p"))
    c.apop("mrose", "tanstaaf")  # APOP reveals no reusable secret
    assert c.data_to_send() == b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"


def test_apop_needs_a_timestamp() -> None:
    c = ClientConnection()
    c.receive_data(b"+OK ready\r\n")
    drain(c)
    with pytest.raises(LocalProtocolError):
        c.apop("mrose", "tanstaaf")


def test_send_refuses_auth_with_mechanism_and_bad_state() -> None:
    from protokit.pop3 import Auth

    c = greeted()
    with pytest.raises(LocalProtocolError):
        c.send(Auth(mechanism="PLAIN"))
    with pytest.raises(LocalProtocolError):
        c.stat()
    c.quit()
    with pytest.raises(LocalProtocolError):
        c.noop()


@pytest.mark.parametrize("bad", ["a\r\nDELE 1", "a\nb", "a\x00", "a b", ""])
def test_argument_injection_is_refused_and_nothing_queued(bad: str) -> None:
    c = greeted()
    with pytest.raises(LocalProtocolError):
        c.send(User(name=bad))
    with pytest.raises(LocalProtocolError):
        c.pass_(Secret("x\r\nDELE 1" if bad else ""))
    assert c.data_to_send() == b""
    assert repr(c).endswith("queued=0>")


def test_utf8_mode() -> None:
    c = greeted()
    with pytest.raises(LocalProtocolError):
        c.user("j\u00f6rg")
    c.utf8()
    c.user("j\u00f6rg")  # UTF8 pending: allowed on the line after it
    assert c.data_to_send() == b"UTF8\r\n"
    c.receive_data(b"+OK\r\n")
    assert drain(c) == [Ok(command="UTF8", text="")]
    assert c.data_to_send() == "USER j\u00f6rg\r\n".encode()


# -- STLS --------------------------------------------------------------------------------


def test_stls_response_injection_at_every_split() -> None:
    data = b"+OK Begin TLS negotiation\r\n+OK fake maildrop ready\r\n"
    for cut in range(1, len(data)):
        c = greeted()
        c.stls()
        c.data_to_send()
        error: RemoteProtocolError | None = None
        events: list[Any] = []
        try:
            for chunk in (data[:cut], data[cut:]):
                c.receive_data(chunk)
                events.extend(drain(c))
            c.tls_established()
        except RemoteProtocolError as exc:
            error = exc
        assert error is not None, cut
        assert "injection" in error.message
        assert not any(isinstance(e, Ok) for e in events), cut
        assert c.state is State.ERROR


def test_stls_err_keeps_plaintext_session() -> None:
    c = greeted()
    c.stls()
    c.data_to_send()
    c.receive_data(b"-ERR not now\r\n")
    assert drain(c) == [Err(command="STLS", text="not now")]
    assert c.state is State.AUTHORIZATION and not c.tls_active
    with pytest.raises(LocalProtocolError):
        c.tls_established()


# -- malformed server input ------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "data"),
    [
        (lambda c: c.stat(), b"+OK two\r\n"),
        (lambda c: c.stat(), b"OK 1 2\r\n"),
        (lambda c: c.stat(), b"+OK 1 2\n"),
        (lambda c: c.list_(), b"+OK\r\n1\r\n.\r\n"),
        (lambda c: c.uidl(), b"+OK\r\n1 has space\r\n.\r\n"),
        (lambda c: c.uidl(1), b"+OK 1\r\n"),
        (lambda c: c.noop(), b"+OK " + b"x" * 70_000 + b"\r\n"),
        (lambda c: None, b"+OK unsolicited\r\n"),
        (lambda c: c.retr(1), b"+OK\r\nbody without end"),
        (lambda c: c.list_(), b"+OK\r\n1 2\r\n"),
    ],
)
def test_malformed_replies_raise_our_error(setup: Setup, data: bytes) -> None:
    c = logged_in()
    setup(c)
    c.receive_data(data)
    c.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        drain(c)
    assert c.state is State.ERROR
    with pytest.raises(LocalProtocolError):
        c.next_event()


def test_server_close_when_idle() -> None:
    c = logged_in()
    c.receive_data(b"")
    assert c.next_event() == ConnectionClosed()
    assert c.state is State.CLOSED
    c.receive_data(b"+OK ignored\r\n")
    assert c.next_event() == ConnectionClosed()


def test_max_chunk_and_max_listing_lines() -> None:
    c = logged_in(ClientConfig(allow_plaintext_auth=True, max_chunk=8, max_listing_lines=2))
    c.retr(1)
    c.receive_data(b"+OK\r\n" + b"0123456789" * 3 + b"\r\n.\r\n")
    evs = drain(c)
    sizes = [len(e.data) for e in evs if isinstance(e, MessageData)]
    assert max(sizes) <= 8 and sum(sizes) == 32
    c.list_()
    c.receive_data(b"+OK\r\n1 1\r\n2 2\r\n3 3\r\n.\r\n")
    with pytest.raises(RemoteProtocolError):
        drain(c)


def test_send_accepts_command_events() -> None:
    c = logged_in()
    c.send(Retr(msg=3))
    assert c.data_to_send() == b"RETR 3\r\n"


def test_require_tls_sends_no_credentials_before_tls() -> None:
    c = greeted(ClientConfig(require_tls=True, allow_plaintext_auth=True))
    for call in (
        lambda: c.user("mrose"),
        lambda: c.pass_("secret"),
        lambda: c.apop("mrose", "tanstaaf"),
        lambda: c.auth(LongResponse(1)),
    ):
        with pytest.raises(LocalProtocolError):
            call()
    assert c.data_to_send() == b""
    c.auth_list()  # asking for the list sends no credentials
    assert c.data_to_send() == b"AUTH\r\n"
    c.receive_data(b"+OK\r\n.\r\n")
    assert drain(c) == [MechanismList(mechanisms=())]
    # A stripped or refused STLS leaves it so: the caller must give up.
    c.stls()
    c.data_to_send()
    c.receive_data(b"-ERR no TLS here\r\n")
    assert drain(c) == [Err(command="STLS", text="no TLS here")]
    with pytest.raises(LocalProtocolError):
        c.user("mrose")
    c.stls()
    c.data_to_send()
    c.receive_data(b"+OK\r\n")
    assert drain(c) == [StartTLS()]
    c.tls_established()
    c.user("mrose")
    assert c.data_to_send() == b"USER mrose\r\n"


def test_sasl_steps_are_bounded() -> None:
    c = greeted(ClientConfig(tls_active=True, max_sasl_steps=3))
    c.auth(LongResponse(1))
    c.data_to_send()
    for _ in range(3):
        c.receive_data(b"+ Zm9v\r\n")
        assert drain(c) == []
        assert c.data_to_send() == b"cjpmb28=\r\n"
    c.receive_data(b"+ Zm9v\r\n")
    assert drain(c) == []
    assert c.data_to_send() == b"*\r\n"


def test_auth_list_is_not_a_login() -> None:
    c = greeted()
    c.auth_list()
    with pytest.raises(LocalProtocolError):
        c.stat()  # still AUTHORIZATION: listing mechanisms logs nobody in
    c.data_to_send()
    c.receive_data(b"+OK\r\nPLAIN\r\n.\r\n")
    drain(c)
    assert c.state is State.AUTHORIZATION
    with pytest.raises(LocalProtocolError):
        c.stat()


def test_server_closing_during_stls() -> None:
    c = greeted()
    c.stls()
    c.data_to_send()
    c.receive_data(b"+OK\r\n")
    assert drain(c) == [StartTLS()]
    c.receive_data(b"")
    assert c.next_event() == ConnectionClosed()
    assert c.state is State.CLOSED


def test_utf8_refused() -> None:
    c = greeted()
    c.utf8()
    c.data_to_send()
    c.receive_data(b"-ERR no\r\n")
    assert drain(c) == [Err(command="UTF8", text="no")]
    with pytest.raises(LocalProtocolError):
        c.user("j\u00f6rg")


class Xyz(LongResponse):
    name = "XYZ"


class Wxyz(LongResponse):
    name = "WXYZ"


def test_initial_response_boundary_is_255_octets_with_crlf() -> None:
    c = greeted(ClientConfig(tls_active=True))
    c.auth(Xyz(183))  # "AUTH XYZ " + 244 base64 octets + CRLF = 255
    line = c.data_to_send()
    assert len(line) == 255 and line.startswith(b"AUTH XYZ eHh4")
    c = greeted(ClientConfig(tls_active=True))
    c.auth(Wxyz(183))  # 256 octets: the continuation instead
    assert c.data_to_send() == b"AUTH WXYZ\r\n"
