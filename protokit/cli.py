"""The ``protokit`` command.

Exit codes: 0 success, 1 failure (the message says what failed), 2 usage
error (argparse's convention).  Passwords are read from ``--password``,
from standard input (``--password-stdin``) or from the terminal, and are
never printed.  ``serve`` runs the development mail server until Ctrl-C or
SIGTERM (exit 0), or fails to start (exit 1: a port in use, a certificate
that does not load; 2: a bad option or configuration file).
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO

from .wire._secret import Secret

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2


#: Commands with their own module and argument parser: ``protokit NAME ARGS...``
#: runs ``MODULE.main(ARGS, stdin=..., stdout=..., stderr=...)``. They are
#: imported only when run, so ``serve`` does not pay for the proxy's imports.
DELEGATED: Final = {
    "import": ("protokit.server._import_cli", "import an mbox file or a Maildir into an account"),
    "proxy": ("protokit.proxy._cli", "run the OAuth2 mail proxy, or authorize an account for it"),
}


class _UsageError(Exception):
    """A usage problem found after parsing (exit code 2)."""


def _data_dir_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="the server's data directory (default: ./protokit-data); it holds the "
        "SQLite store and the TLS certificate",
    )
    return parent


def _password_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password",
        metavar="PW",
        help="the password (visible to other local users in the process list: prefer "
        "--password-stdin or the prompt)",
    )
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parent = _data_dir_parent()
    parser = argparse.ArgumentParser(
        prog="protokit",
        description="protokit: mail protocols for Python, and a development mail server. "
        "`protokit serve` runs the embedded server; `user` and `token` manage its "
        "accounts and bearer tokens.",
        epilog="Exit codes: 0 success, 1 failure, 2 usage error.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"protokit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    user = commands.add_parser(
        "user", help="manage accounts", description="Manage the server's mail accounts."
    )
    user_commands = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = user_commands.add_parser(
        "add",
        parents=[parent],
        help="create an account",
        description="Create an account with the default mailboxes (INBOX, Sent, Drafts, "
        "Trash, Junk, All Mail). Without --password or --password-stdin the password is "
        "asked for on the terminal.",
    )
    add.add_argument("address", metavar="ADDRESS", help="the account's address, user@domain")
    _password_options(add)
    user_commands.add_parser(
        "list",
        parents=[parent],
        help="list accounts",
        description="Print every account's address, one per line.",
    )
    remove = user_commands.add_parser(
        "remove",
        parents=[parent],
        help="delete an account and all its mail",
        description="Delete an account, its mailboxes, messages and tokens.",
    )
    remove.add_argument("address", metavar="ADDRESS", help="the account's address")
    passwd = user_commands.add_parser(
        "passwd",
        parents=[parent],
        help="change an account's password",
        description="Replace an account's password (hash and SCRAM keys).",
    )
    passwd.add_argument("address", metavar="ADDRESS", help="the account's address")
    _password_options(passwd)

    token = commands.add_parser(
        "token",
        help="manage development bearer tokens",
        description="Bearer tokens for XOAUTH2 and OAUTHBEARER, for development.",
    )
    token_commands = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    issue = token_commands.add_parser(
        "issue",
        parents=[parent],
        help="print a new bearer token",
        description="Print a new random bearer token for ADDRESS on standard output (its "
        "expiry goes to standard error). Only a hash of it is stored: it cannot be shown "
        "again.",
    )
    issue.add_argument("address", metavar="ADDRESS", help="the account the token logs in as")
    issue.add_argument(
        "--expires-in",
        metavar="SECONDS",
        type=int,
        default=3600,
        help="lifetime in seconds (default: 3600)",
    )
    _serve_parser(commands, parent)
    for name, (_module, summary) in DELEGATED.items():
        # Listed here for --help; their own parsers take the arguments (see main).
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def _serve_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], parent: argparse.ArgumentParser
) -> None:
    serve = commands.add_parser(
        "serve",
        parents=[parent],
        help="run the development mail server",
        description="Run the development mail server on HOST: SMTP MX (25+N, local delivery, "
        "no auth), submission with STARTTLS (587+N) and implicit TLS (465+N), IMAP with "
        "STARTTLS (143+N) and implicit TLS (993+N), POP3 with STLS "
        "(110+N) and implicit TLS (995+N), N being the port offset. Plaintext "
        "authentication only after TLS. The TLS certificate is --cert-file/--key-file, else "
        "a self-signed one generated in the data directory. A banner lists every listener "
        "with a command to try it; logs go to standard error. Stop with Ctrl-C or SIGTERM.",
        epilog="Configuration file (TOML): host, port_offset, hostname, cert_file, key_file, "
        "a [ports] table (smtp, submission, submissions, imap, imaps, pop3, pop3s) giving a port "
        "per "
        "listener (0: any free port); [introspection] (url, client_id, client_secret_file, "
        "client_auth, cafile, cache_ttl) to accept access tokens checked at an RFC 7662 "
        "endpoint, and [jwt] (issuer, audience, public_keys, hmac_key_files, "
        "identity_claims, leeway) to accept JWT access tokens; file names are relative to "
        "the configuration file. Command-line options win over the file. Exit codes: "
        "0 stopped by a signal, 1 could not start, 2 usage error.",
    )
    serve.add_argument(
        "--host", metavar="H", default=None, help="address to bind (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port-offset",
        metavar="N",
        type=int,
        default=None,
        help="added to each standard port "
        "(default: 3000, so 3025, 3587, 3465, 3143, 3993, 3110, 3995)",
    )
    serve.add_argument(
        "--config",
        metavar="FILE.toml",
        type=Path,
        default=None,
        help="a TOML configuration file (see below)",
    )
    serve.add_argument(
        "--hostname",
        metavar="NAME",
        default=None,
        help="the name in greetings (default: localhost)",
    )
    serve.add_argument(
        "--cert-file",
        metavar="PEM",
        type=Path,
        default=None,
        help="your TLS certificate chain (with --key-file)",
    )
    serve.add_argument(
        "--key-file", metavar="PEM", type=Path, default=None, help="the certificate's private key"
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log verbosity (default: info); logs never hold passwords, tokens "
        "or message contents",
    )


def _read_password(args: argparse.Namespace, stdin: TextIO) -> Secret[str]:
    if args.password is not None:
        value = str(args.password)
    elif args.password_stdin:
        line = stdin.readline()
        value = line[:-1] if line.endswith("\n") else line
        if value.endswith("\r"):
            value = value[:-1]
    elif stdin.isatty():
        value = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != value:
            raise _UsageError("the passwords differ")
    else:
        raise _UsageError(
            "give --password PW or --password-stdin (standard input is not a terminal)"
        )
    if not value:
        raise _UsageError("the password is empty")
    return Secret(value)


def _run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    from .server import DEFAULT_DATA_DIR, Store, StoreError

    data_dir = args.data_dir if args.data_dir is not None else Path(DEFAULT_DATA_DIR)
    if args.command == "serve":
        from .server._serve_cli import run_serve

        return run_serve(args, data_dir, stdout, stderr)
    password = None
    if args.command == "user" and args.action in ("add", "passwd"):
        password = _read_password(args, stdin)
    if args.command == "token" and not 1 <= args.expires_in <= 10 * 365 * 24 * 3600:
        raise _UsageError("--expires-in is 1 to 315360000 seconds")
    existing = (data_dir / "protokit.sqlite3").exists()
    if not existing and not (args.command == "user" and args.action == "add"):
        print(f"protokit: no store in {data_dir.absolute()} (add a user first)", file=stderr)
        return EXIT_FAILURE
    print(f"data directory: {data_dir.absolute()}", file=stderr)
    try:
        with Store.open(data_dir) as store:
            if args.command == "user":
                if args.action == "add":
                    assert password is not None
                    store.add_account(args.address, password)
                    print(f"added {args.address}", file=stderr)
                elif args.action == "list":
                    for account in store.accounts():
                        print(account.address, file=stdout)
                elif args.action == "remove":
                    store.remove_account(args.address)
                    print(f"removed {args.address}", file=stderr)
                else:
                    assert password is not None
                    store.set_password(args.address, password)
                    print(f"password changed for {args.address}", file=stderr)
            else:
                token, expires = store.issue_token(args.address, args.expires_in)
                print(token.expose(), file=stdout)
                print(f"expires {expires.isoformat()}", file=stderr)
    except (StoreError, OSError) as exc:
        print(f"protokit: {exc}", file=stderr)
        return EXIT_FAILURE
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit code."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[arguments[0]][0])
        code: int = module.main(arguments[1:], stdin=stdin, stdout=stdout, stderr=stderr)
        return code
    parser = build_parser()
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _run(args, stdin, stdout, stderr)
    except _UsageError as exc:
        print(f"protokit: error: {exc}", file=stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
