"""``protokit proxy`` on the command line.

``protokit proxy --config FILE`` runs the proxy: a banner with each account's
listener and a client command to try it, key=value logs without secrets on
stderr, a clean stop on SIGINT or SIGTERM.  ``protokit proxy authorize
ACCOUNT --config FILE [--device | --pkce]`` runs the device or PKCE flow once
and stores the tokens encrypted with the local password (asked for, or read
from stdin with ``--password-stdin``).

Exit codes: 0 stopped cleanly or authorized; 1 could not run (a port in use,
a certificate that does not load, the provider refused); 2 bad options or
configuration.
"""

from __future__ import annotations

import argparse
import getpass
import logging
from typing import TextIO

import anyio

from .._cli_common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    logging_to,
    run_until_signal,
    start_failure,
)
from ..net import ServerInfo, TLSMode
from ..oauth import (
    DeviceAuthorization,
    HTTPTransport,
    OAuthError,
    TokenStorage,
    authorize_device,
    authorize_pkce,
)
from ..wire import Secret
from ._config import AccountConfig, ConfigError, ProxyConfig, load_config
from ._proxy import build_contexts, oauth_provider, serve_proxy, token_manager

__all__ = ["main"]

log = logging.getLogger("protokit.proxy")


class _Usage(Exception):
    """A usage problem found after parsing (exit code 2)."""


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protokit proxy",
        description="Run the OAuth2 mail proxy: mail clients log in to local listeners with "
        "a password, the proxy logs in upstream with XOAUTH2 or OAUTHBEARER. "
        "'protokit proxy authorize ACCOUNT --config FILE' authorizes an account first.",
    )
    parser.add_argument("--config", metavar="FILE", required=True, help="the proxy's TOML file")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def _authorize_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protokit proxy authorize",
        description="Authorize ACCOUNT at its provider once (device flow or authorization "
        "code with PKCE) and store its tokens, encrypted with the account's local password.",
    )
    parser.add_argument("account", metavar="ACCOUNT")
    parser.add_argument("--config", metavar="FILE", required=True, help="the proxy's TOML file")
    flow = parser.add_mutually_exclusive_group()
    flow.add_argument("--device", action="store_true", help="the device flow (RFC 8628)")
    flow.add_argument(
        "--pkce", action="store_true", help="a browser and a loopback redirect (RFC 7636)"
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the local password from the first line of stdin instead of asking",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help=argparse.SUPPRESS)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def main(argv: list[str], *, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """``protokit proxy ARGS...`` (see the module's docstring)."""
    if argv and argv[0] == "authorize":
        args = _parse(_authorize_parser(), argv[1:])
        if isinstance(args, int):
            return args
        return _authorize(args, stdin, stdout, stderr)
    args = _parse(_run_parser(), argv)
    if isinstance(args, int):
        return args
    return _run(args, stdout, stderr)


# -- running -----------------------------------------------------------------------


def client_command(account: AccountConfig, host: str, port: int) -> str:
    """A curl command that tries the account's listener (curl asks for the password)."""
    where = f"[{host}]" if ":" in host else host
    cacert = f" --cacert {account.cert_file}" if account.cert_file is not None else ""
    scheme: str = account.protocol
    if account.listen_tls is TLSMode.IMPLICIT:
        scheme = {"imap": "imaps", "pop3": "pop3s", "smtp": "smtps"}[account.protocol]
    reqd = " --ssl-reqd" if account.listen_tls is TLSMode.STARTTLS else ""
    user = f"-u {account.local_user}"
    if account.protocol == "imap":
        return f"curl{reqd}{cacert} {user} {scheme}://{where}:{port}/INBOX"
    if account.protocol == "pop3":
        return f"curl{reqd}{cacert} {user} {scheme}://{where}:{port}/"
    return (
        f"curl{reqd}{cacert} {user} --mail-from {account.upstream_user} "
        f"--mail-rcpt {account.upstream_user} -T message.eml {scheme}://{where}:{port}"
    )


def banner(config: ProxyConfig, info: ServerInfo) -> str:
    lines = ["protokit proxy: ready"]
    for a in config.accounts:
        host, port = info.addresses[a.name]
        lines.append(
            f"  {a.name}: {a.protocol} on {host}:{port} ({a.listen_tls.value}) -> "
            f"{a.upstream_host}:{a.upstream_port} ({a.upstream_tls.value}) "
            f"as {a.upstream_user}, local user {a.local_user}"
        )
        lines.append(f"    try: {client_command(a, host, port)}")
    return "\n".join(lines)


async def _serve(config: ProxyConfig, out: TextIO) -> str:
    def ready(info: ServerInfo) -> None:
        print(banner(config, info), file=out, flush=True)

    return await run_until_signal(
        lambda task_status: serve_proxy(config, task_status=task_status), log, ready
    )


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"protokit proxy: error: {exc}", file=stderr)
        return EXIT_USAGE
    try:
        # Certificates load here: a bad one stops the proxy before it listens.
        build_contexts(config, token_manager(config))
    except ConfigError as exc:
        print(f"protokit proxy: cannot start: {exc}", file=stderr)
        return EXIT_FAILURE
    try:
        with logging_to(stderr, args.log_level):
            anyio.run(_serve, config, stdout)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # listeners fail inside exception groups
        return start_failure(exc, "protokit proxy", stderr)
    print("protokit proxy: stopped", file=stderr, flush=True)
    return EXIT_OK


# -- authorize ---------------------------------------------------------------------


def _password(
    args: argparse.Namespace, stdin: TextIO, stderr: TextIO, account: str
) -> Secret[str]:
    if args.password_stdin:
        line = stdin.readline().rstrip("\r\n")
        if not line:
            raise _Usage("--password-stdin: the first line of stdin is empty")
        return Secret(line)
    if not stdin.isatty():
        raise _Usage("no terminal to ask for the local password on: use --password-stdin")
    first = getpass.getpass(f"local password for {account}: ", stream=stderr)
    again = getpass.getpass("again: ", stream=stderr)
    if first != again:
        raise _Usage("the two passwords differ")
    if not first:
        raise _Usage("the local password is empty")
    return Secret(first)


def _flow(args: argparse.Namespace, account: AccountConfig) -> str:
    p = account.provider
    if args.device or (not args.pkce and p.device_authorization_endpoint is not None):
        if p.device_authorization_endpoint is None:
            raise _Usage(
                f"accounts.{account.name}: the provider has no device_authorization_endpoint"
            )
        return "device"
    if p.authorization_endpoint is None:
        raise _Usage(
            f"accounts.{account.name}: the provider has no authorization_endpoint "
            "(nor device_authorization_endpoint)"
        )
    return "pkce"


def _authorize(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    try:
        config = load_config(args.config)
        account = config.account(args.account)
        flow = _flow(args, account)
        password = _password(args, stdin, stderr, account.name)
    except (ConfigError, _Usage) as exc:
        print(f"protokit proxy authorize: error: {exc}", file=stderr)
        return EXIT_USAGE
    storage = TokenStorage(config.state_dir)
    provider = oauth_provider(account.provider)
    transport = HTTPTransport(cafile=account.provider.cafile)
    grant = account.grant_name

    def show_device(device: DeviceAuthorization) -> None:
        if device.verification_uri_complete:
            text = f"Open {device.verification_uri_complete} (code {device.user_code})"
        else:
            text = f"Open {device.verification_uri} and enter the code {device.user_code}"
        print(text, file=stdout, flush=True)

    def show_url(url: str) -> None:
        print(f"Open this URL in a browser to authorize {account.name}:\n{url}", file=stdout)
        stdout.flush()

    async def run() -> None:
        with anyio.fail_after(args.timeout):
            if flow == "device":
                await authorize_device(
                    provider, storage, grant, password, transport=transport, prompt=show_device
                )
            else:
                await authorize_pkce(
                    provider,
                    storage,
                    grant,
                    password,
                    transport=transport,
                    show_url=show_url,
                    timeout=args.timeout,
                )

    try:
        anyio.run(run)
    except KeyboardInterrupt:
        return 130
    except TimeoutError:
        print(f"protokit proxy authorize: no answer within {args.timeout:g} s", file=stderr)
        return EXIT_FAILURE
    except OAuthError as exc:
        print(f"protokit proxy authorize: {exc}", file=stderr)
        return EXIT_FAILURE
    print(
        f"authorized {account.name}: tokens stored in {storage.path(grant)}, "
        "encrypted with the local password",
        file=stdout,
    )
    return EXIT_OK
