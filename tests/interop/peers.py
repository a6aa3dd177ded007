"""Start and stop the real peers of the interop tests (Dovecot, Postfix's
smtp-sink), each in its own temporary directory on free loopback ports.

Every wait has a deadline.  Where a peer's program is missing, the test skips,
except under ``CI=true`` (as .ci/run runs), where a missing peer is a failure.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT = 15.0


def require_program(name: str) -> str:
    """The program's path; skip (locally) or fail (CI) when it is missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        msg = f"{name} is not installed (tests/run.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: each socket stays bound until all are, since
    the kernel may hand a port just released to the next bind (Dovecot then
    refused a configuration naming one port twice: "duplicate listener")."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def wait_for_banner(port: int, prefix: bytes, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                if s.recv(200).startswith(prefix):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"no {prefix!r} banner on port {port}: {last}")


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            require_program("openssl"),
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


@dataclass
class Dovecot:
    """A private Dovecot: IMAP and POP3, plain/STARTTLS and implicit TLS."""

    directory: Path
    imap: int
    imaps: int
    pop3: int
    pop3s: int
    cert: Path
    users: dict[str, str] = field(default_factory=dict)
    pid: int = 0
    #: The HS256 key bearer tokens are checked against (``oauth_key=``), if any.
    oauth_key: bytes | None = None
    #: The RFC 7662 endpoint bearer tokens are introspected at, if any.
    introspection_url: str | None = None

    def maildir(self, user: str) -> Path:
        return self.directory / "mail" / user / "Maildir"


DOVECOT_CONF = """\
instance_name = protokit-test-{tag}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth_mechanisms}
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 1
pop3_uidl_format = %08Xu%08Xv
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {dir}/users
}}
{oauth_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# Concurrency tests log one user in many times from 127.0.0.1 (default 10).
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


@contextmanager
def peer_directory(prefix: str) -> Iterator[Path]:
    """A fresh directory the peers' unprivileged users can traverse (pytest's
    tmp_path is 0700 under root), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"protokit-{prefix}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# Dovecot's oauth2 passdb validating JWTs itself (introspection_mode = local):
# the key is looked up in a dict at shared/<azp or "default">/<alg>/<kid or
# "default">; fs:posix drops "shared/", so it is keys/default/HS256/default,
# holding the base64 of the HMAC key.  The token's "sub" is the user.
OAUTH_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/oauth2-jwt.conf.ext
}}
"""
OAUTH_CONF = """\
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={dir}/keys/
username_attribute = sub
"""


# Dovecot's oauth2 passdb asking an RFC 7662 endpoint about every token
# (POST token=...; credentials for the endpoint go in the URL's userinfo, which
# Dovecot sends as HTTP Basic); "username" names the user.
INTROSPECTION_CONF = """\
introspection_url = {url}
introspection_mode = {mode}
username_attribute = username
active_attribute = active
active_value = true
"""


@contextmanager
def dovecot(
    users: dict[str, str] | None = None,
    *,
    oauth_key: bytes | None = None,
    introspection_url: str | None = None,
    introspection_mode: str = "post",
) -> Iterator[Dovecot]:
    """Run a private Dovecot for the duration of the block.

    With ``oauth_key`` it also offers XOAUTH2 and OAUTHBEARER, accepting
    HS256 JWTs signed with that key whose "sub" is the user
    (``tests.interop.oauth.make_jwt``); with ``introspection_url`` it offers
    them by asking that RFC 7662 endpoint (``introspection_mode`` "post",
    "get" or "auth", as Dovecot names them) whether each token is active and
    whose it is ("username").  Passwords then work with PLAIN and LOGIN only.
    """
    if oauth_key is not None and introspection_url is not None:
        raise ValueError("dovecot(): oauth_key or introspection_url, not both")
    binary = require_program("dovecot")
    users = users or {"alice": "alicepw", "bob": "bobpw"}
    with peer_directory("dovecot") as tmp:
        yield from _dovecot(
            binary, tmp, users, oauth_key, introspection=(introspection_url, introspection_mode)
        )


def _oauth_setup(tmp: Path, key: bytes) -> str:
    keydir = tmp / "keys" / "default" / "HS256"
    keydir.mkdir(parents=True)
    (keydir / "default").write_text(base64.b64encode(key).decode("ascii"))
    (tmp / "oauth2-jwt.conf.ext").write_text(OAUTH_CONF.format(dir=tmp))
    return OAUTH_PASSDB.format(dir=tmp)


def _introspection_setup(tmp: Path, url: str, mode: str) -> str:
    if mode not in ("post", "get", "auth"):
        raise ValueError(f"dovecot(): introspection_mode {mode!r} is post, get or auth")
    if any(c in url for c in '\r\n"') or not url.startswith(("http://", "https://")):
        raise ValueError("dovecot(): introspection_url must be an http(s) URL on one line")
    (tmp / "oauth2-introspect.conf.ext").write_text(INTROSPECTION_CONF.format(url=url, mode=mode))
    return OAUTH_PASSDB.replace("oauth2-jwt.conf.ext", "oauth2-introspect.conf.ext").format(
        dir=tmp
    )


def _dovecot(
    binary: str,
    tmp: Path,
    users: dict[str, str],
    oauth_key: bytes | None = None,
    *,
    introspection: tuple[str | None, str] = (None, "post"),
) -> Iterator[Dovecot]:
    for sub in ("run", "state", "mail"):
        (tmp / sub).mkdir(exist_ok=True)
    uid = gid = 65534
    os.chown(tmp / "mail", uid, gid)
    cert, _key = make_cert(tmp)
    (tmp / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
    imap, imaps, pop3, pop3s = free_ports(4)
    d = Dovecot(tmp, imap, imaps, pop3, pop3s, cert, dict(users))
    d.oauth_key = oauth_key
    url, mode = introspection
    d.introspection_url = url
    if url is not None:
        oauth_passdb = _introspection_setup(tmp, url, mode)
    else:
        oauth_passdb = _oauth_setup(tmp, oauth_key) if oauth_key else ""
    conf = DOVECOT_CONF.format(
        tag=os.getpid(), dir=tmp, uid=uid, gid=gid,
        imap=d.imap, imaps=d.imaps, pop3=d.pop3, pop3s=d.pop3s,
        oauth_mechanisms=" xoauth2 oauthbearer" if oauth_passdb else "",
        oauth_passdb=oauth_passdb,
    )  # fmt: skip
    (tmp / "dovecot.conf").write_text(conf)
    # The master daemonizes and keeps its stdio: never give it a pipe.
    with (tmp / "start.out").open("wb") as out:
        proc = subprocess.run(
            [binary, "-c", str(tmp / "dovecot.conf")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=30,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"dovecot did not start: {(tmp / 'start.out').read_text()}")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        wait_for_banner(d.imap, b"* OK", deadline)
        wait_for_banner(d.pop3, b"+OK", deadline)
        d.pid = int((tmp / "run" / "master.pid").read_text())
        yield d
    finally:
        _stop_pidfile(tmp / "run" / "master.pid")


def _stop_pidfile(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    _stop_pid(pid)


def _gone_or_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # "pid (comm) state ...": comm may hold spaces, the state follows ")".
    return stat.rpartition(")")[2].split()[0] == "Z"


def _stop_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Not our child (a daemon): gone, or a zombie nobody reaps here.
            done = 0
            if _gone_or_zombie(pid):
                return
        if done:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@dataclass
class SmtpSink:
    port: int
    directory: Path


@contextmanager
def smtp_sink(*options: str) -> Iterator[SmtpSink]:
    """Postfix's smtp-sink on a free port; ``options`` as smtp-sink takes them
    (it advertises PIPELINING, 8BITMIME, SIZE ...; pass "-a" to hide AUTH)."""
    binary = require_program("smtp-sink")
    with peer_directory("smtp-sink") as tmp:
        yield from _smtp_sink(binary, tmp, options)


def _smtp_sink(binary: str, tmp: Path, options: tuple[str, ...]) -> Iterator[SmtpSink]:
    port = free_port()
    log = (tmp / "smtp-sink.log").open("wb")
    proc = subprocess.Popen(
        [binary, "-u", "nobody", "-c", "-h", "sink.test", *options, f"127.0.0.1:{port}", "256"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
    )  # fmt: skip
    try:
        wait_for_banner(port, b"220", time.monotonic() + START_TIMEOUT)
        yield SmtpSink(port, tmp)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
