"""RFC sessions (spec/imap/traces) replayed against the server and the client."""

from __future__ import annotations

import base64
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from protokit import NEED_DATA
from protokit.imap import (
    Authenticate,
    ClientConnection,
    CommandReceived,
    ContinuationRequest,
    Done,
    Framer,
    LiteralAnnounced,
    Message,
    SaslAuthenticated,
    SaslRequest,
    ServerConfig,
    ServerConnection,
    StartTLS,
    Status,
    TLSUpgradeReady,
    parse_command,
    parse_response,
)
from protokit.sasl import (
    LookupScramCredentials,
    ScramSHA256Client,
    ScramSHA256Server,
    ServerMechanism,
    derive_scram_credentials,
)

from .conn_helpers import events

TRACES = Path(__file__).resolve().parents[2] / "spec" / "imap" / "traces"
FILES = sorted(p.name for p in TRACES.glob("*.txt"))


def load(name: str) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    header: dict[str, str] = {}
    entries: list[tuple[str, list[str]]] = []
    for raw in (TRACES / name).read_text("utf-8").split("\n"):
        if raw.startswith("#") or (not raw.strip() and not raw.startswith("   ")):
            continue
        if raw.startswith("! "):
            key, _, value = raw[2:].partition(":")
            key = key.strip()
            while key in header:  # repeated keys (client-writes) are kept apart
                key += "+"
            header[key] = value.strip()
        elif raw.startswith("   "):
            entries[-1][1].append(raw[3:])
        elif raw.startswith("T:"):
            entries.append(("T", []))
        else:
            assert raw[:2] in ("C:", "S:"), raw
            entries.append((raw[0], [raw[3:]]))
    out = [(k, b"".join(line.encode("utf-8") + b"\r\n" for line in lines)) for k, lines in entries]
    return header, out


def yes(header: dict[str, str], key: str) -> bool:
    return header.get(key, "no") == "yes"


def responses(data: bytes) -> list[Any]:
    framer = Framer(server=False)
    framer.feed(data)
    out = []
    while (ev := framer.next_event()) is not NEED_DATA:
        assert isinstance(ev, Message)
        out.append(parse_response(ev, utf8=True))
    return out


def commands(data: bytes) -> list[Any]:
    framer = Framer(server=True)
    framer.feed(data)
    out = []
    while (ev := framer.next_event()) is not NEED_DATA:
        if isinstance(ev, LiteralAnnounced):
            if ev.synchronizing:
                framer.accept_literal()
            continue
        assert isinstance(ev, Message)
        out.append(parse_command(ev))
    return out


def scram(header: dict[str, str]) -> list[str]:
    return header["scram"].split(" ")


def server_config(header: dict[str, str]) -> ServerConfig:
    kw: dict[str, Any] = {
        "capabilities": tuple(header.get("capabilities", "IMAP4rev1").split()),
        "greeting": header.get("greeting", "ready"),
        "greeting_capabilities": header.get("greeting_capabilities", "yes") == "yes",
        "starttls": yes(header, "starttls"),
        "allow_plaintext": yes(header, "plaintext"),
        "preauth": yes(header, "preauth"),
    }
    if "mechanisms" in header:
        kw["mechanisms"] = tuple(header["mechanisms"].split())
    if "scram" in header:
        snonce = scram(header)[5]

        def factory(name: str, cb: bytes | None) -> ServerMechanism:
            return ScramSHA256Server(nonce=snonce, success_data_as_challenge=True)

        kw["sasl_factory"] = factory
    return ServerConfig(**kw)


@pytest.mark.parametrize("name", FILES)
def test_server_replay(name: str) -> None:
    header, entries = load(name)
    server = ServerConnection(server_config(header))
    expected = b""
    written = server.data_to_send()
    queue: deque[Any] = deque()

    def answer_from_trace(tag: str) -> None:
        while queue:
            r = queue.popleft()
            server.send(r)
            if isinstance(r, Status) and r.tag == tag:
                return

    for i, (kind, data) in enumerate(entries):
        if kind == "S":
            expected += data
            continue
        assert written == expected, (name, i)
        if kind == "T":
            server.start_tls_done()
            continue
        after = []
        for k, d in entries[i + 1 :]:
            if k != "S":
                break
            after.extend(r for r in responses(d) if not isinstance(r, ContinuationRequest))
        queue = deque(after)
        server.receive_data(data)
        while (ev := server.next_event()) is not NEED_DATA:
            if isinstance(ev, CommandReceived):
                answer_from_trace(str(ev.command.tag))  # type: ignore[union-attr]
            elif isinstance(ev, SaslAuthenticated):
                answer_from_trace(ev.tag)
            elif isinstance(ev, SaslRequest):
                assert isinstance(ev.request, LookupScramCredentials)
                user, password, salt, iterations, _, _ = scram(header)
                assert ev.request.authcid == user
                server.answer_sasl(
                    derive_scram_credentials(
                        "SHA-256", password, base64.b64decode(salt), int(iterations)
                    )
                )
        written += server.data_to_send()
    assert written == expected


@pytest.mark.parametrize("name", FILES)
def test_client_replay(name: str) -> None:
    header, entries = load(name)
    client = ClientConnection(allow_plaintext=yes(header, "plaintext"))
    sent = b""
    wanted = b""
    in_sasl = False
    pending_literal = False
    for kind, data in entries:
        if kind == "S":
            client.receive_data(data)
            evs = events(client)
            if any(isinstance(e, TLSUpgradeReady) for e in evs):
                assert client.capabilities is None
            for e in evs:
                if getattr(e, "handle", None) is not None and e.handle.name == "AUTHENTICATE":
                    in_sasl = not e.handle.done
        elif kind == "T":
            client.start_tls_done()
        else:
            wanted += data
            if pending_literal or in_sasl:
                pending_literal = False
            elif data == b"DONE\r\n":
                client.done()
            else:
                if data.rstrip(b"\r\n").endswith(b"}"):
                    # the literal is the next C: entry; write the whole command
                    nxt = entries[[d for _, d in entries].index(data) + 1 :]
                    literal = next(d for k, d in nxt if k == "C")
                    (cmd,) = commands(data + literal)
                    pending_literal = True
                else:
                    (cmd,) = commands(data)
                if isinstance(cmd, StartTLS):
                    client.send(cmd)
                elif isinstance(cmd, Authenticate):
                    user, password, _, _, cnonce, _ = scram(header)
                    mech = ScramSHA256Client(user, password, nonce=cnonce)
                    client.authenticate(
                        mech, initial_response=cmd.initial_response is not None, tag=cmd.tag
                    )
                    in_sasl = True
                elif isinstance(cmd, Done):
                    client.done()
                else:
                    client.send(cmd)
        sent += client.data_to_send()
    # Where the client's writer picks another valid form than the RFC's text
    # (the header says "! client-writes: rfc text => our text").
    for key, value in header.items():
        if key.startswith("client-writes"):
            rfc, _, ours = value.partition(" => ")
            wanted = wanted.replace(rfc.encode() + b"\r\n", ours.encode() + b"\r\n")
    assert sent.upper() == wanted.upper()
    assert client.state.value in ("LOGOUT", "SELECTED", "AUTHENTICATED")
