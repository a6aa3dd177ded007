"""protokit.oauth's HTTP exchanges over loopback: the h11/anyio transport with
the sans-IO builders and parsers against ``urllib.request`` (the standard
library client a user would otherwise pick), in the same run, each making
the same requests to the test suite's fake provider (in its own process).

(a) refresh: ``refresh_request`` + ``HTTPTransport.send`` + ``parse_token_response``
    against ``urllib.request.urlopen`` of the same form with Basic auth and
    ``json.loads``; one connection per request for both.
(b) introspection: ``IntrospectionValidator.introspect`` with its cache off
    against the same POST through urllib.

Traffic goes to 127.0.0.1 only; everything stops by itself.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import multiprocessing.process
import urllib.parse
import urllib.request
from collections.abc import Sequence
from multiprocessing.connection import Connection

import anyio

from protokit.oauth import (
    HTTPTransport,
    IntrospectionValidator,
    OAuthProvider,
    parse_token_response,
    refresh_request,
)
from protokit.wire import Secret

from ._harness import Case, parse_args, run_cases

CLIENT_ID = "protokit-test"
CLIENT_SECRET = "client-s3cret"


def _provider_process(conn: Connection) -> None:
    from tests.interop.oauth_provider import oauth_provider

    with oauth_provider() as provider:
        grant = provider.issue("alice@example.com")
        conn.send((provider.port, grant.refresh_token, next(iter(grant.access_tokens))))
        conn.recv()  # until the parent is done


def ours_refresh(config: OAuthProvider, refresh: str, count: int) -> int:
    async def run() -> int:
        transport = HTTPTransport(timeout=10)
        request = refresh_request(config, Secret(refresh))
        total = 0
        for _ in range(count):
            response = await transport.send(request)
            answer = parse_token_response(response.status, response.headers, response.body)
            total += len(answer.access_token)
        return total

    return anyio.run(run)


def _urllib_post(url: str, form: dict[str, str]) -> dict[str, object]:
    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "Authorization": f"Basic {credentials}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    assert isinstance(answer, dict)
    return answer


def theirs_refresh(url: str, refresh: str, count: int) -> int:
    total = 0
    for _ in range(count):
        answer = _urllib_post(url, {"grant_type": "refresh_token", "refresh_token": refresh})
        token = answer["access_token"]
        assert isinstance(token, str)
        total += len(token)
    return total


def ours_introspect(config: OAuthProvider, token: str, count: int) -> int:
    async def run() -> int:
        validator = IntrospectionValidator(config, cache_ttl=0)
        active = 0
        for _ in range(count):
            active += (await validator.introspect(Secret(token))).active
        return active

    return anyio.run(run)


def theirs_introspect(url: str, token: str, count: int) -> int:
    return sum(_urllib_post(url, {"token": token})["active"] is True for _ in range(count))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(list(argv) if argv is not None else None, __doc__ or "")
    count = 10 if args.quick else 300
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(
        target=_provider_process, args=(child,), daemon=True
    )
    proc.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the fake provider did not start")
        port, refresh, access = parent.recv()
        base = f"http://127.0.0.1:{port}"
        config = OAuthProvider(
            token_url=f"{base}/token",
            introspect_url=f"{base}/introspect",
            client_id=CLIENT_ID,
            client_secret=Secret(CLIENT_SECRET),
        )
        assert ours_refresh(config, refresh, 1) == theirs_refresh(config.token_url, refresh, 1)
        assert (
            ours_introspect(config, access, 1)
            == theirs_introspect(f"{base}/introspect", access, 1)
            == 1
        )
        cases = [
            Case(
                name=f"refresh x{count}",
                subject=lambda: ours_refresh(config, refresh, count),
                baseline=lambda: theirs_refresh(config.token_url, refresh, count),
                items=count,
                subject_label="protokit.oauth",
                baseline_label="urllib",
            ),
            Case(
                name=f"introspect x{count}",
                subject=lambda: ours_introspect(config, access, count),
                baseline=lambda: theirs_introspect(f"{base}/introspect", access, count),
                items=count,
                subject_label="protokit.oauth",
                baseline_label="urllib",
            ),
        ]
        run_cases("OAuth HTTP exchanges over loopback (fake provider)", cases, rounds=args.rounds)
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(10)


if __name__ == "__main__":
    main()
