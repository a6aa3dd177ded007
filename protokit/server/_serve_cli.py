"""``protokit serve`` on the command line: options and configuration file
into a :class:`ServeConfig`, logging, signals, exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
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
from ._certs import CertificateError
from ._serve import ConfigError, ServeConfig, load_config, serve
from ._serve_tokens import TokenSettingsError
from ._types import StoreError

__all__ = ["run_serve"]

log = logging.getLogger("protokit.server")


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


async def _main(config: ServeConfig, out: TextIO) -> str:
    return await run_until_signal(
        lambda task_status: serve(config, out=out, task_status=task_status), log
    )


def run_serve(args: argparse.Namespace, data_dir: Path, stdout: TextIO, stderr: TextIO) -> int:
    try:
        config = _config(args, data_dir)
    except ConfigError as exc:
        print(f"protokit: error: {exc}", file=stderr)
        return EXIT_USAGE
    try:
        with logging_to(stderr, args.log_level):
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
        return start_failure(exc, "protokit", stderr, in_use_hint=" (try --port-offset)")
    print("protokit serve: stopped", file=stderr)
    sys.stderr.flush()
    return EXIT_OK
