"""The peers themselves start, answer and stop (checked with the standard
library's clients), so a failure elsewhere in tests/interop/ is ours."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl

from tests.interop.peers import dovecot, smtp_sink


def test_dovecot_serves_imap_and_pop3_plain_starttls_and_tls() -> None:
    with dovecot() as d:
        ctx = ssl.create_default_context(cafile=str(d.cert))
        with imaplib.IMAP4("127.0.0.1", d.imap, timeout=10) as m:
            m.starttls(ssl_context=ctx)
            assert m.login("alice", "alicepw")[0] == "OK"
            assert m.select("INBOX")[0] == "OK"
        with imaplib.IMAP4_SSL("127.0.0.1", d.imaps, ssl_context=ctx, timeout=10) as m:
            assert m.login("bob", "bobpw")[0] == "OK"
        p = poplib.POP3("127.0.0.1", d.pop3, timeout=10)
        p.stls(context=ctx)
        p.user("alice")
        p.pass_("alicepw")
        assert p.stat() == (0, 0)
        p.quit()
        ps = poplib.POP3_SSL("127.0.0.1", d.pop3s, context=ctx, timeout=10)
        assert ps.getwelcome().startswith(b"+OK")
        ps.quit()


def test_smtp_sink_accepts_a_message() -> None:
    with smtp_sink("-a") as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as s:
        code, caps = s.ehlo("client.test")
        assert code == 250
        assert b"PIPELINING" in caps
        assert s.sendmail("a@x.test", ["b@y.test"], b"Subject: t\r\n\r\nhi\r\n") == {}
