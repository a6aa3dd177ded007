"""What the two long-running commands, ``protokit serve`` and ``protokit
proxy``, share on the command line: exit codes, key=value logging to stderr,
running until SIGINT or SIGTERM, and what a failure to start prints."""

from __future__ import annotations

import errno
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Final, TextIO

import anyio
import anyio.abc

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "LOG_FORMAT",
    "find_oserror",
    "logging_to",
    "run_until_signal",
    "start_failure",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
#: key=value fields, one event per line (never a password, token or message).
LOG_FORMAT: Final = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


@contextmanager
def logging_to(stream: TextIO, level: str) -> Iterator[None]:
    """protokit's loggers write to ``stream`` in :data:`LOG_FORMAT` at
    ``level`` ("info", ...) within the block."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("protokit")
    root.addHandler(handler)
    root.setLevel(level.upper())
    try:
        yield
    finally:
        root.removeHandler(handler)


async def run_until_signal(
    start: Callable[..., Coroutine[Any, Any, Any]],
    log: logging.Logger,
    started: Callable[[Any], None] | None = None,
) -> str:
    """Start ``start`` (a server taking ``task_status``) in a task group,
    hand what it reports to ``started``, and cancel it all on SIGINT or
    SIGTERM; the signal's name."""
    async with anyio.create_task_group() as tg:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            info = await tg.start(start)
            if started is not None:
                started(info)
            async for signum in signals:
                name = signal.Signals(signum).name
                log.info("shutting down: signal=%s", name)
                tg.cancel_scope.cancel()
                return name
    return "none"


def find_oserror(exc: BaseException) -> OSError | None:
    """The OSError in ``exc``, also inside exception groups (a listener that
    cannot bind fails inside the server's task group)."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = find_oserror(inner)
            if found is not None:
                return found
    return None


def start_failure(exc: BaseException, prog: str, stderr: TextIO, *, in_use_hint: str = "") -> int:
    """Print why ``prog`` could not start (a port in use, another OSError)
    and return :data:`EXIT_FAILURE`; ``exc`` is raised again when it holds
    no OSError."""
    error = find_oserror(exc)
    if error is None:
        raise exc
    if error.errno == errno.EADDRINUSE:
        print(f"{prog}: a port is already in use: {error}{in_use_hint}", file=stderr)
    else:
        print(f"{prog}: cannot start: {error}", file=stderr)
    return EXIT_FAILURE
