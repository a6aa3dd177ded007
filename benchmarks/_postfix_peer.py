"""The mail stack a user would otherwise set up on localhost, for the
benchmarks: a private Postfix (submission with STARTTLS and SASL through
Dovecot's auth socket, local delivery to Maildir by its ``virtual`` agent)
and a private Dovecot serving those Maildirs over IMAP (STARTTLS).  Both run
from a fresh directory on free loopback ports and are stopped, and the
directory removed, when the ``with`` block ends.  Every wait has a deadline.

Written from shared/peers/postfix/start.sh and shared/peers/dovecot/start.sh
(which are the working references); needs root (Postfix's and Dovecot's
privilege separation) and the postfix, dovecot-imapd and openssl packages.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["MailStack", "PeerMissing", "mail_stack", "process_tree_cpu"]

START_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 15.0
#: The uid/gid that owns the Maildirs (Postfix's virtual agent writes as it,
#: Dovecot reads as it): nobody/nogroup.
MAIL_ID: Final = 65534


class PeerMissing(RuntimeError):
    """A program the stack needs is not installed."""


def _program(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise PeerMissing(f"{name} is not installed (tests/run.sh installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_banner(port: int, prefix: bytes, deadline: float, what: str) -> None:
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
    raise TimeoutError(f"{what}: no {prefix!r} greeting on port {port}: {last}")


def _stop_pid(pid: int) -> None:
    """SIGTERM a daemon (not our child), wait for it to go, SIGKILL at the deadline."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def process_tree_cpu(*roots: int) -> float:
    """CPU seconds (user + system) of the processes ``roots`` and all their
    descendants so far, including children that already exited and were
    reaped (their time is in the parent's cutime/cstime)."""
    tree = _children()
    ticks = 0
    todo = list(roots)
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        # After "pid (comm)": utime, stime, cutime, cstime are fields 14-17 (1-based).
        ticks += sum(int(f) for f in fields[11:15])
        todo.extend(tree.get(pid, ()))
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class MailStack:
    """The running Postfix + Dovecot: ports, the certificate both use, the
    daemons' master PIDs and each user's Maildir."""

    directory: Path
    submission: int
    imap: int
    cert: Path
    postfix_pid: int
    dovecot_pid: int

    def maildir(self, address: str) -> Path:
        return self.directory / "mail" / address / "Maildir"

    def delivered(self, address: str) -> int:
        """Messages in the user's Maildir (new and cur)."""
        root = self.maildir(address)
        total = 0
        for sub in ("new", "cur"):
            try:
                total += sum(1 for _ in os.scandir(root / sub))
            except FileNotFoundError:
                pass
        return total

    def cpu_seconds(self) -> float:
        """CPU time of both daemons and every process they started."""
        return process_tree_cpu(self.postfix_pid, self.dovecot_pid)


_DOVECOT_CONF: Final = """\
instance_name = protokit-bench-{tag}
base_dir = {dir}/dovecot/run
state_dir = {dir}/dovecot/state
log_path = {dir}/dovecot/dovecot.log
protocols = imap
listen = 127.0.0.1
default_internal_user = dovecot
default_login_user = dovenull
ssl = required
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {uid}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/dovecot/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
# One failed login must not slow the later ones (anvil's auth penalty).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# Postfix's smtpd asks this socket to check SASL logins (smtpd_sasl_type = dovecot).
service auth {{
  unix_listener auth-postfix {{
    mode = 0666
  }}
}}
# The benchmark logs one user in up to 50 times at once from 127.0.0.1 (default 10).
protocol imap {{
  mail_max_userip_connections = 200
}}
"""

_MAIN_CF: Final = """\
compatibility_level = 3.6
queue_directory = {dir}/postfix/queue
data_directory = {dir}/postfix/data
meta_directory = /etc/postfix
maillog_file = {dir}/postfix/postfix.log
maillog_file_prefixes = {dir}
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
myhostname = postfix.test
mydomain = test
myorigin = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
default_transport = error:no outbound delivery here
virtual_mailbox_domains = {domains}
virtual_mailbox_base = {dir}/mail
virtual_mailbox_maps = inline:{{ {maps} }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
smtpd_tls_cert_file = {dir}/cert.pem
smtpd_tls_key_file = {dir}/key.pem
smtpd_tls_security_level = may
smtpd_sasl_type = dovecot
smtpd_sasl_path = {dir}/dovecot/run/auth-postfix
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
biff = no
"""

_MASTER_CF: Final = """\
127.0.0.1:{submission} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _make_cert(directory: Path) -> Path:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            _program("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    key.chmod(0o600)
    return cert


def _start_dovecot(directory: Path, users: dict[str, str], imap: int) -> int:
    binary = _program("dovecot")
    home = directory / "dovecot"
    for sub in ("run", "state"):
        (home / sub).mkdir(parents=True)
    (home / "users").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
    conf = home / "dovecot.conf"
    conf.write_text(_DOVECOT_CONF.format(tag=os.getpid(), dir=directory, uid=MAIL_ID, imap=imap))
    # The master daemonizes and keeps its stdio: never give it a pipe.
    with (home / "start.out").open("wb") as out:
        done = subprocess.run(
            [binary, "-c", str(conf)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=30,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"dovecot did not start: {(home / 'start.out').read_text()}")
    return _read_pidfile(home / "run" / "master.pid", "dovecot")


def _read_pidfile(path: Path, what: str) -> int:
    """The daemon's PID, once it has written it (it may lag its start command)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} wrote no PID file {path}") from None
            time.sleep(0.02)


def _start_postfix(directory: Path, users: dict[str, str], submission: int) -> int:
    binary = _program("postfix")
    _program("script")
    home = directory / "postfix"
    for sub in ("etc", "queue", "data"):
        (home / sub).mkdir(parents=True)
    shutil.chown(home / "data", "postfix")
    domains = sorted({address.rpartition("@")[2] for address in users})
    maps = ", ".join(f"{address}={address}/Maildir/" for address in users)
    (home / "etc" / "main.cf").write_text(
        _MAIN_CF.format(dir=directory, domains=", ".join(domains), maps=maps, uid=MAIL_ID)
    )
    (home / "etc" / "master.cf").write_text(_MASTER_CF.format(submission=submission))
    # Postfix prints its start-up errors only to a terminal (else to syslog):
    # script(1) gives it one, its output goes to a file.
    with (home / "start.out").open("wb") as out:
        done = subprocess.run(
            ["script", "-qec", f"{binary} -c {home / 'etc'} start", "/dev/null"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=60,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"postfix did not start: {(home / 'start.out').read_text()}")
    return _read_pidfile(home / "queue" / "pid" / "master.pid", "postfix")


def _stop_command(argv: list[str]) -> None:
    """A daemon's own stop command (``postfix stop``, ``dovecot stop``); quiet
    when it is not running."""
    subprocess.run(
        [_program(argv[0]), *argv[1:]],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False,
    )  # fmt: skip


@contextmanager
def mail_stack(users: dict[str, str]) -> Iterator[MailStack]:
    """Postfix + Dovecot for ``users`` (address: password), running for the
    block.  Raises :class:`PeerMissing` when a program is not installed."""
    for name in ("postfix", "dovecot", "openssl", "script"):
        _program(name)
    directory = Path(tempfile.mkdtemp(prefix="protokit-bench-stack-"))
    directory.chmod(0o755)
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, directory, True)
        mail = directory / "mail"
        mail.mkdir()
        os.chown(mail, MAIL_ID, MAIL_ID)
        cert = _make_cert(directory)
        submission, imap = _free_port(), _free_port()
        pids: dict[str, int] = {}

        def stop(name: str, argv: list[str]) -> None:
            # The daemon's own stop command first (it works even when its PID
            # could not be read), then wait for the master to be gone.
            _stop_command(argv)
            if name in pids:
                _stop_pid(pids[name])

        dovecot_conf = str(directory / "dovecot" / "dovecot.conf")
        cleanup.callback(stop, "dovecot", ["dovecot", "-c", dovecot_conf, "stop"])
        pids["dovecot"] = _start_dovecot(directory, users, imap)
        deadline = time.monotonic() + START_TIMEOUT
        _wait_for_banner(imap, b"* OK", deadline, "dovecot")
        postfix_etc = str(directory / "postfix" / "etc")
        cleanup.callback(stop, "postfix", ["postfix", "-c", postfix_etc, "stop"])
        pids["postfix"] = _start_postfix(directory, users, submission)
        _wait_for_banner(submission, b"220", deadline, "postfix")
        yield MailStack(directory, submission, imap, cert, pids["postfix"], pids["dovecot"])
