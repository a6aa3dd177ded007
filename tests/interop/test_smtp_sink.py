"""Our SMTP/LMTP client against Postfix's smtp-sink: pipelining, many
recipients, several messages on one connection, dot-stuffing verified in
smtp-sink's dump files, DATA because smtp-sink does not offer CHUNKING,
LMTP (-L), and refusals (-f rcpt)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from protokit.net import TLSMode
from protokit.net._smtp_client import SMTPRecipientsRefused, open_smtp
from protokit.smtp import Reply
from tests.interop.peers import SmtpSink, smtp_sink

BODY = b"Subject: sink\r\n\r\n.leading dot\r\n..two dots\r\nlast line\r\n"
OK = Reply(code=250, enhanced="2.0.0", lines=("Ok",))


@contextmanager
def sink_with_dumps(*options: str) -> Iterator[tuple[SmtpSink, Path]]:
    """smtp-sink dumping each transaction into a directory it can write (it
    runs as nobody)."""
    dumps = Path(tempfile.mkdtemp(prefix="protokit-sink-dumps-"))
    os.chmod(dumps, 0o777)
    try:
        with smtp_sink(*options, "-d", f"{dumps}/%Y%m%d%H%M%S.") as sink:
            yield sink, dumps
    finally:
        shutil.rmtree(dumps, ignore_errors=True)


def dumped(dumps: Path) -> list[tuple[list[bytes], bytes]]:
    """(X-Rcpt-Args values, message as received with LF line ends) per dump."""
    out = []
    for path in sorted(dumps.iterdir()):
        data = path.read_bytes()
        head, _, rest = data.partition(b"\nReceived: ")
        rcpts = [line[len(b"X-Rcpt-Args: ") :] for line in head.split(b"\n") if b"X-Rcpt" in line]
        # The Received: header is three lines; then the message, then "\n".
        message = rest.split(b"\n", 3)[3]
        out.append((rcpts, message[:-1]))
    return out


async def test_pipelined_messages_to_many_recipients() -> None:
    recipients = [f"user{i}@sink.example" for i in range(200)]
    with sink_with_dumps("-a") as (sink, dumps):
        async with open_smtp(
            "127.0.0.1", sink.port, tls=TLSMode.PLAIN, local_hostname="client.example"
        ) as client:
            caps = client.capabilities
            assert "PIPELINING" in caps and "CHUNKING" not in caps and "DSN" in caps
            first = await client.send_message(
                BODY, sender="sender@client.example", recipients=recipients
            )
            second = await client.send_message(
                b"Subject: two\r\n\r\nx\r\n", sender="", recipients=["one@sink.example"]
            )
        assert first.reply == OK and second.reply == OK
        assert first.accepted == recipients
        assert set(first.rcpt_replies.values()) == {
            Reply(code=250, enhanced="2.1.5", lines=("Ok",))
        }
        got = dumped(dumps)
    assert len(got) == 2
    by_count = {len(r): (r, m) for r, m in got}
    rcpts, message = by_count[200]
    assert rcpts == [f"<{r}>".encode() for r in recipients]
    assert message == BODY.replace(b"\r\n", b"\n")
    assert by_count[1] == ([b"<one@sink.example>"], b"Subject: two\n\nx\n")


async def test_lmtp_against_smtp_sink() -> None:
    with sink_with_dumps("-a", "-L") as (sink, dumps):
        async with open_smtp(
            "127.0.0.1", sink.port, tls=TLSMode.PLAIN, lmtp=True, local_hostname="client.example"
        ) as client:
            result = await client.send_message(
                BODY, sender="a@client.example", recipients=["a@sink.example", "b@sink.example"]
            )
        delivered = Reply(code=250, enhanced="2.2.0", lines=("Ok",))
        assert result.recipients == {"a@sink.example": delivered, "b@sink.example": delivered}
        [(rcpts, message)] = dumped(dumps)
    assert rcpts == [b"<a@sink.example>", b"<b@sink.example>"]
    assert message == BODY.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("option", ["-f", "-r"])
async def test_every_recipient_refused(option: str) -> None:
    code, text = (500, "5.3.0") if option == "-f" else (450, "4.3.0")
    refused = Reply(code=code, enhanced=text, lines=("Error: command failed",))
    with smtp_sink("-a", option, "rcpt") as sink:
        async with open_smtp("127.0.0.1", sink.port, tls=TLSMode.PLAIN) as client:
            # -f and -r imply -p: no PIPELINING, so nothing follows the refusals.
            assert "PIPELINING" not in client.capabilities
            with pytest.raises(SMTPRecipientsRefused) as info:
                await client.send_message(
                    BODY,
                    sender="a@client.example",
                    recipients=["x@sink.example", "y@sink.example"],
                )
            assert info.value.refused == {"x@sink.example": refused, "y@sink.example": refused}
            # The session goes on after the RSET.
            assert (await client.noop()).code == 250
