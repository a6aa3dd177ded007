"""``protokit serve`` on the command line: options and configuration file
into a :class:`ServeConfig`, logging, signals, exit codes."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import anyio

from ._certs import CertificateError
from ._serve import ConfigError, ServeConfig, load_config, serve
from ._serve_tokens import TokenSettingsError
from ._types import StoreError

__all__ = ["run_serve"]

log = logging.getLogger("protokit.server")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: key=value fields, one event per line (never a password, token or message).
LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def _config(args: argparse.Namespace, data_dir: Path) -> ServeConfig:
    config = ServeConfig(data_dir=data_dir)
    if args.config is not None:
        config = load_config(args.config, config)
    if args.host is not None:
        config = replace(config, host=args.host)
    if args.port_offset is not None:
        config = replace(config, port_offset=args.port_offset)
    if args.hostname is not None:
        config = replace(config, hostname=args.hostname)
    if (args.cert_file is None) != (args.key_file is None):
        raise ConfigError("give both --cert-file and --key-file, or neither")
    if args.cert_file is not None:
        config = replace(config, cert_file=args.cert_file, key_file=args.key_file)
    config.check()
    # Unreadable key or secret files are usage errors, found before any port is bound.
    for settings in (config.jwt, config.introspection):
        if settings is not None:
            try:
                settings.validator()
            except TokenSettingsError as exc:
                raise ConfigError(str(exc)) from None
    return config


def _find_oserror(exc: BaseException) -> OSError | None:
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find_oserror(inner)
            if found is not None:
                return found
    return None


async def _main(config: ServeConfig, out: TextIO) -> str:
    async with anyio.create_task_group() as tg:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            await tg.start(lambda task_status: serve(config, out=out, task_status=task_status))
            async for signum in signals:
                name = signal.Signals(signum).name
                log.info("shutting down: signal=%s", name)
                tg.cancel_scope.cancel()
                return name
    return "none"


def run_serve(args: argparse.Namespace, data_dir: Path, stdout: TextIO, stderr: TextIO) -> int:
    try:
        config = _config(args, data_dir)
    except ConfigError as exc:
        print(f"protokit: error: {exc}", file=stderr)
        return EXIT_USAGE
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("protokit")
    root.addHandler(handler)
    root.setLevel(args.log_level.upper())
    try:
        anyio.run(_main, config, stdout)
    except CertificateError as exc:
        print(f"protokit: {exc}", file=stderr)
        return EXIT_FAILURE
    except StoreError as exc:
        print(f"protokit: the store: {exc}", file=stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        # A Ctrl-C before the signal handler was installed.
        return 130
    except BaseException as exc:  # listeners fail inside exception groups
        error = _find_oserror(exc)
        if error is None:
            raise
        if error.errno == errno.EADDRINUSE:
            print(f"protokit: a port is already in use: {error} (try --port-offset)", file=stderr)
        else:
            print(f"protokit: cannot start: {error}", file=stderr)
        return EXIT_FAILURE
    finally:
        root.removeHandler(handler)
    print("protokit serve: stopped", file=stderr)
    sys.stderr.flush()
    return EXIT_OK
