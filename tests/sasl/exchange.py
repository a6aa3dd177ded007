"""Helpers for the SASL tests: spec data, a client/server driver, and a line
tracer that shows two runs took the same code path."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from protokit.sasl import (
    Challenge,
    ClientMechanism,
    Failure,
    Request,
    ServerMechanism,
    Step,
    Success,
)

SPEC = Path(__file__).resolve().parents[2] / "spec" / "sasl"


def load(name: str) -> Any:
    return json.loads((SPEC / name).read_text(encoding="utf-8"))


@dataclass
class Run:
    """What happened in one client/server exchange."""

    outcome: Success | Failure
    #: ("C", bytes | None) for client messages, ("S", bytes) for challenges.
    transcript: list[tuple[str, bytes | None]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)


def run(
    client: ClientMechanism,
    server: ServerMechanism,
    answer: Callable[[Request], object],
    *,
    use_initial: bool = True,
) -> Run:
    """Drive ``client`` against ``server`` to the outcome.  Client exceptions
    propagate; ``finish()`` is called on success."""
    transcript: list[tuple[str, bytes | None]] = []
    requests: list[Request] = []
    initial = client.initial_response() if use_initial else None
    transcript.append(("C", initial))
    step: Step = server.start(initial)
    for _ in range(50):
        if isinstance(step, Request):
            requests.append(step)
            step = server.answer(answer(step))
        elif isinstance(step, Challenge):
            transcript.append(("S", step.data))
            response = client.respond(step.data)
            transcript.append(("C", response))
            step = server.receive(response)
        elif isinstance(step, Success):
            client.finish(step.data)
            return Run(step, transcript, requests)
        else:
            return Run(step, transcript, requests)
    raise AssertionError("the exchange did not end")


@contextmanager
def traced() -> Iterator[list[tuple[str, int]]]:
    """Record every (file, line) executed inside protokit/sasl."""
    lines: list[tuple[str, int]] = []
    marker = "protokit/sasl/"

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        filename = frame.f_code.co_filename.replace("\\", "/")
        if marker not in filename:
            return None
        if event == "line":
            lines.append((filename.rsplit("/", 1)[-1], frame.f_lineno))
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield lines
    finally:
        sys.settrace(old)
