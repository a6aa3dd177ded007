"""A fake OAuth 2.0 provider for the tests: a real HTTP/1.1 server (h11 over
plain sockets, one thread per connection) on 127.0.0.1.

It issues opaque random tokens, so a resource server (Dovecot's oauth2
passdb, ``protokit serve``) has to introspect them.  Endpoints:

- ``POST /token``: ``refresh_token`` (optionally rotating), ``authorization_code``
  with PKCE S256 (RFC 7636), the device code grant (RFC 8628) and
  ``client_credentials``; client authentication by ``client_secret_basic`` or
  ``client_secret_post`` (RFC 6749 section 2.3.1); errors as section 5.2.
- ``POST /device_authorization`` (RFC 8628 section 3.1).
- ``GET /authorize``: approves ``provider.user`` at once and redirects (302) to
  the loopback ``redirect_uri`` with ``code`` and ``state``.
- ``POST /introspect`` (RFC 7662, client authentication required), and
  Dovecot's forms at ``/dovecot/introspect``: ``introspection_mode = auth``
  (GET with ``Authorization: Bearer TOKEN``), ``get`` (GET with the token
  appended to the URL: ``?token=TOKEN`` or ``/dovecot/introspect/TOKEN``)
  and ``post`` (POST ``token=TOKEN``).

Usable from sync and async tests alike::

    with oauth_provider(expires_in=1, rotate=True) as provider:
        grant = provider.issue("alice@example.com")
        ... provider.token_requests["refresh_token"] ...
        provider.revoke(grant.refresh_token)
"""

from __future__ import annotations

import base64
import hashlib
import http
import json
import secrets
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import h11

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEVICE_GRANT",
    "Grant",
    "LogEntry",
    "Provider",
    "oauth_provider",
]

DEFAULT_CLIENT_ID = "protokit-test"
DEFAULT_CLIENT_SECRET = "client-s3cret"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_MAX_BODY = 64 * 1024


@dataclass
class Grant:
    """One authorization: a user's consent to a client, with its current
    refresh token (``None`` for client credentials) and live access tokens."""

    id: int
    user: str
    client_id: str
    scope: str
    refresh_token: str | None
    access_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass(frozen=True)
class LogEntry:
    """A request the provider answered (no secrets: grant types and paths)."""

    method: str
    path: str
    grant_type: str | None
    status: int
    error: str | None


@dataclass
class _AccessToken:
    grant: Grant
    expires_at: float
    issued_at: float


@dataclass
class _DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: int
    approved_user: str | None = None
    denied: bool = False
    used: bool = False
    last_poll: float | None = None
    queued: list[str] = field(default_factory=list)


@dataclass
class _AuthCode:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    user: str
    expires_at: float


class _OAuthFailure(Exception):
    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status


class Provider:
    """The running provider: URLs, state and test controls (all thread-safe)."""

    def __init__(
        self,
        *,
        clients: dict[str, str | None],
        user: str,
        expires_in: int,
        rotate: bool,
        device_interval: int,
        device_expires_in: int,
        enforce_interval: bool,
        introspection_auth: bool,
        chunked: bool,
    ) -> None:
        self.clients = dict(clients)
        #: The user ``/authorize`` approves (and ``approve()`` defaults to).
        self.user = user
        #: Lifetime in seconds of the access tokens issued from now on.
        self.expires_in = expires_in
        #: Whether each refresh issues a new refresh token (the old one dies).
        self.rotate = rotate
        self.device_interval = device_interval
        self.device_expires_in = device_expires_in
        #: Answer ``slow_down`` to device polls faster than the interval.
        self.enforce_interval = enforce_interval
        #: Whether ``POST /introspect`` requires client authentication.
        self.introspection_auth = introspection_auth
        #: Send every JSON answer with ``Transfer-Encoding: chunked``.
        self.chunked = chunked
        #: The ``error`` ``/authorize`` redirects with instead of a code, if set.
        self.authorize_error: str | None = None
        #: Requests to ``POST /token`` by grant type (``"invalid"`` when absent).
        self.token_requests: Counter[str] = Counter()
        #: Requests to either introspection endpoint.
        self.introspections = 0
        self.log: list[LogEntry] = []
        self.lock = threading.RLock()
        self.port = 0
        self._grants: list[Grant] = []
        self._refresh: dict[str, Grant] = {}
        self._rotated: set[str] = set()
        self._access: dict[str, _AccessToken] = {}
        self._devices: dict[str, _DeviceCode] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._failures: list[tuple[int, float | None]] = []
        self._token_delay = 0.0

    # -- URLs ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def device_url(self) -> str:
        return f"{self.base_url}/device_authorization"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/authorize"

    @property
    def introspect_url(self) -> str:
        return f"{self.base_url}/introspect"

    @property
    def dovecot_introspect_url(self) -> str:
        """Dovecot's ``introspection_url`` for modes ``auth`` and ``post``; for
        ``get`` use ``dovecot_introspect_url + "?token="``."""
        return f"{self.base_url}/dovecot/introspect"

    # -- controls -------------------------------------------------------------

    def issue(
        self, user: str | None = None, *, scope: str = "mail", client_id: str = DEFAULT_CLIENT_ID
    ) -> Grant:
        """Create a grant directly (as if the user had authorized the client):
        it has a refresh token and one live access token."""
        with self.lock:
            grant = self._new_grant(user or self.user, client_id, scope, refresh=True)
            self._new_access(grant)
            return grant

    def access_token(self, grant: Grant) -> str:
        """A new live access token of ``grant`` (for tests that only need one)."""
        with self.lock:
            return self._new_access(grant)

    def revoke(self, grant_or_token: Grant | str) -> None:
        """Revoke a grant (given or found by one of its tokens): its refresh
        token gives ``invalid_grant`` and its access tokens are inactive."""
        with self.lock:
            grant = self._find_grant(grant_or_token)
            grant.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired."""
        with self.lock:
            past = time.time() - 1
            for token in self._access.values():
                token.expires_at = past

    def fail_next(
        self, count: int, *, status: int = 503, retry_after: float | None = None
    ) -> None:
        """Answer the next ``count`` token requests with ``status`` (with
        ``Retry-After`` when given) before looking at them; ``status=0``
        closes the connection without any answer (a reset mid-request)."""
        with self.lock:
            self._failures.extend([(status, retry_after)] * count)

    def delay_token_requests(self, seconds: float) -> None:
        """Hold every later token request for ``seconds`` before answering."""
        with self.lock:
            self._token_delay = seconds

    def approve(self, user_code: str, user: str | None = None) -> None:
        """The user enters ``user_code`` and consents (RFC 8628 section 3.3)."""
        with self.lock:
            self._device_by_user_code(user_code).approved_user = user or self.user

    def deny(self, user_code: str) -> None:
        with self.lock:
            self._device_by_user_code(user_code).denied = True

    def queue_device_errors(self, user_code: str, *errors: str) -> None:
        """Answer the next polls of this device code with these errors
        (``slow_down``, ``authorization_pending``, ``expired_token``...)."""
        with self.lock:
            self._device_by_user_code(user_code).queued.extend(errors)

    def user_codes(self) -> list[str]:
        with self.lock:
            return [d.user_code for d in self._devices.values()]

    def is_active(self, access_token: str) -> bool:
        with self.lock:
            return self._introspect(access_token).get("active") is True

    def current_refresh_token(self, grant: Grant) -> str | None:
        with self.lock:
            return grant.refresh_token

    def grants(self) -> list[Grant]:
        with self.lock:
            return list(self._grants)

    def entries(self) -> list[LogEntry]:
        with self.lock:
            return list(self.log)

    # -- state ---------------------------------------------------------------

    def _new_grant(self, user: str, client_id: str, scope: str, *, refresh: bool) -> Grant:
        grant = Grant(
            id=len(self._grants) + 1,
            user=user,
            client_id=client_id,
            scope=scope,
            refresh_token=None,
        )
        if refresh:
            grant.refresh_token = "rt-" + secrets.token_urlsafe(24)
            self._refresh[grant.refresh_token] = grant
        self._grants.append(grant)
        return grant

    def _new_access(self, grant: Grant) -> str:
        token = "at-" + secrets.token_urlsafe(24)
        now = time.time()
        issued = int(now)  # whole seconds, as "exp" says them
        self._access[token] = _AccessToken(grant, issued + self.expires_in, issued)
        grant.access_tokens.add(token)
        return token

    def _find_grant(self, key: Grant | str) -> Grant:
        if isinstance(key, Grant):
            return key
        if key in self._refresh:
            return self._refresh[key]
        if key in self._access:
            return self._access[key].grant
        raise KeyError("no grant has this token")

    def _device_by_user_code(self, user_code: str) -> _DeviceCode:
        for device in self._devices.values():
            if device.user_code == user_code:
                return device
        raise KeyError(f"no device authorization with user code {user_code}")

    def _token_answer(self, grant: Grant, *, with_refresh: bool) -> dict[str, object]:
        answer: dict[str, object] = {
            "access_token": self._new_access(grant),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": grant.scope,
        }
        if with_refresh and grant.refresh_token is not None:
            answer["refresh_token"] = grant.refresh_token
        return answer

    def _introspect(self, token: str | None) -> dict[str, object]:
        found = self._access.get(token or "")
        if found is None or found.grant.revoked or found.expires_at <= time.time():
            return {"active": False}
        user = found.grant.user
        return {
            "active": True,
            "scope": found.grant.scope,
            "client_id": found.grant.client_id,
            "username": user,
            "sub": user,
            "email": user if "@" in user else f"{user}@example.com",
            "token_type": "Bearer",
            "exp": int(found.expires_at),
            "iat": int(found.issued_at),
        }

    # -- endpoints -------------------------------------------------------------

    def _client(self, headers: dict[str, str], form: dict[str, str]) -> str:
        """RFC 6749 section 2.3.1: Basic with form-urlencoded id and secret,
        or the id and secret in the body; never both."""
        # Dovecot sends empty client_id= and client_secret= beside its Basic
        # credentials: empty values count as absent.
        for key in ("client_id", "client_secret"):
            if form.get(key) == "":
                del form[key]
        auth = headers.get("authorization")
        if auth is not None:
            if "client_secret" in form:
                raise _OAuthFailure("invalid_request", "two client authentication methods")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "basic":
                raise _OAuthFailure("invalid_client", "unsupported authentication", 401)
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except ValueError:
                raise _OAuthFailure("invalid_client", "bad Basic credentials", 401) from None
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                raise _OAuthFailure("invalid_client", "bad Basic credentials", 401)
            client_id = urllib.parse.unquote_plus(raw_id)
            secret: str | None = urllib.parse.unquote_plus(raw_secret)
        else:
            client_id = form.get("client_id", "")
            secret = form.get("client_secret")
        if client_id not in self.clients:
            raise _OAuthFailure("invalid_client", "unknown client", 401)
        expected = self.clients[client_id]
        if expected is not None and (
            secret is None or not secrets.compare_digest(secret, expected)
        ):
            raise _OAuthFailure("invalid_client", "client authentication failed", 401)
        if "client_id" in form and form["client_id"] != client_id:
            raise _OAuthFailure("invalid_request", "client_id mismatch")
        return client_id

    def _token(self, headers: dict[str, str], form: dict[str, str]) -> dict[str, object]:
        grant_type = form.get("grant_type", "")
        client_id = self._client(headers, form)
        if grant_type == "refresh_token":
            token = form.get("refresh_token", "")
            grant = self._refresh.get(token)
            if grant is None or grant.revoked or grant.client_id != client_id:
                raise _OAuthFailure("invalid_grant", "the refresh token is invalid")
            if self.rotate:
                del self._refresh[token]
                self._rotated.add(token)
                grant.refresh_token = "rt-" + secrets.token_urlsafe(24)
                self._refresh[grant.refresh_token] = grant
            return self._token_answer(grant, with_refresh=self.rotate)
        if grant_type == "authorization_code":
            code = self._codes.pop(form.get("code", ""), None)
            if code is None or code.expires_at < time.time() or code.client_id != client_id:
                raise _OAuthFailure("invalid_grant", "the code is invalid")
            if form.get("redirect_uri") != code.redirect_uri:
                raise _OAuthFailure("invalid_grant", "redirect_uri mismatch")
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(
                challenge, code.challenge
            ):
                raise _OAuthFailure("invalid_grant", "PKCE verification failed")
            grant = self._new_grant(code.user, client_id, code.scope, refresh=True)
            return self._token_answer(grant, with_refresh=True)
        if grant_type == DEVICE_GRANT:
            device = self._devices.get(form.get("device_code", ""))
            if device is None or device.client_id != client_id or device.used:
                raise _OAuthFailure("invalid_grant", "unknown device code")
            now = time.time()
            too_fast = (
                self.enforce_interval
                and device.last_poll is not None
                and now - device.last_poll < device.interval
            )
            device.last_poll = now
            if device.queued:
                error = device.queued.pop(0)
                if error == "slow_down":
                    device.interval += 5
                raise _OAuthFailure(error)
            if now >= device.expires_at:
                raise _OAuthFailure("expired_token")
            if device.denied:
                raise _OAuthFailure("access_denied")
            if too_fast:
                device.interval += 5
                raise _OAuthFailure("slow_down")
            if device.approved_user is None:
                raise _OAuthFailure("authorization_pending")
            device.used = True
            grant = self._new_grant(device.approved_user, client_id, device.scope, refresh=True)
            return self._token_answer(grant, with_refresh=True)
        if grant_type == "client_credentials":
            if self.clients[client_id] is None:
                raise _OAuthFailure("unauthorized_client", "a public client has no credentials")
            grant = self._new_grant(client_id, client_id, form.get("scope", "mail"), refresh=False)
            return self._token_answer(grant, with_refresh=False)
        raise _OAuthFailure("unsupported_grant_type")

    def _device_authorization(
        self, headers: dict[str, str], form: dict[str, str]
    ) -> dict[str, object]:
        client_id = form.get("client_id") or self._client(headers, form)
        if client_id not in self.clients:
            raise _OAuthFailure("invalid_client", "unknown client", 401)
        user_code = "-".join(
            "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(4)) for _ in range(2)
        )
        device = _DeviceCode(
            device_code="dc-" + secrets.token_urlsafe(24),
            user_code=user_code,
            client_id=client_id,
            scope=form.get("scope", "mail"),
            expires_at=time.time() + self.device_expires_in,
            interval=self.device_interval,
        )
        self._devices[device.device_code] = device
        return {
            "device_code": device.device_code,
            "user_code": user_code,
            "verification_uri": f"{self.base_url}/device",
            "verification_uri_complete": f"{self.base_url}/device?user_code={user_code}",
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
        }

    def _authorize(self, query: dict[str, str]) -> str:
        """The Location of the redirect back to the client (RFC 6749 4.1.2)."""
        redirect_uri = query.get("redirect_uri", "")
        parts = urllib.parse.urlsplit(redirect_uri)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise _OAuthFailure("invalid_request", "redirect_uri must be a loopback http URI")
        client_id = query.get("client_id", "")
        if client_id not in self.clients:
            raise _OAuthFailure("invalid_client", "unknown client", 401)
        back: dict[str, str] = {}
        if self.authorize_error is not None:
            back["error"] = self.authorize_error
        elif query.get("response_type") != "code":
            back["error"] = "unsupported_response_type"
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            back["error"] = "invalid_request"
            back["error_description"] = "PKCE S256 required"
        else:
            code = "ac-" + secrets.token_urlsafe(24)
            self._codes[code] = _AuthCode(
                client_id=client_id,
                redirect_uri=redirect_uri,
                challenge=query["code_challenge"],
                scope=query.get("scope", "mail"),
                user=self.user,
                expires_at=time.time() + 600,
            )
            back["code"] = code
        if "state" in query:
            back["state"] = query["state"]
        sep = "&" if parts.query else "?"
        return redirect_uri + sep + urllib.parse.urlencode(back)

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Answer one request: (status, headers, body)."""
        parts = urllib.parse.urlsplit(target)
        path = parts.path
        query = dict(urllib.parse.parse_qsl(parts.query))
        grant_type: str | None = None
        status = 200
        extra: list[tuple[str, str]] = []
        answer: dict[str, object]
        delay = 0.0
        with self.lock:
            try:
                form = self._form(headers, body) if method == "POST" else {}
                if path == "/token" and method == "POST":
                    grant_type = form.get("grant_type") or "invalid"
                    self.token_requests[grant_type] += 1
                    delay = self._token_delay
                    if self._failures:
                        status, retry_after = self._failures.pop(0)
                        if status == 0:
                            self._log(method, path, grant_type, 0, "disconnected")
                            return 0, [], b""
                        if retry_after is not None:
                            extra.append(("Retry-After", str(int(retry_after))))
                        raise _OAuthFailure("temporarily_unavailable", "try again later", status)
                    answer = self._token(headers, form)
                    extra.append(("Cache-Control", "no-store"))
                elif path == "/device_authorization" and method == "POST":
                    answer = self._device_authorization(headers, form)
                elif path == "/authorize" and method == "GET":
                    location = self._authorize(query)
                    self._log(method, path, None, 302, None)
                    return 302, [("Location", location)], b""
                elif path == "/introspect" and method == "POST":
                    self.introspections += 1
                    if self.introspection_auth:
                        self._client(headers, form)
                    answer = self._introspect(form.get("token"))
                elif path.startswith("/dovecot/introspect"):
                    self.introspections += 1
                    answer = self._introspect(
                        self._dovecot_token(method, path, query, headers, form)
                    )
                else:
                    raise _OAuthFailure("not_found", "no such endpoint", 404)
            except _OAuthFailure as failure:
                status = failure.status
                answer = {"error": failure.error}
                if failure.description:
                    answer["error_description"] = failure.description
                if status == 401:
                    extra.append(("WWW-Authenticate", 'Basic realm="fake-oauth"'))
            error = answer.get("error") if status != 200 else None
            self._log(method, path, grant_type, status, str(error) if error else None)
        if delay:
            time.sleep(delay)
        payload = json.dumps(answer).encode()
        return status, [("Content-Type", "application/json"), *extra], payload

    @staticmethod
    def _dovecot_token(
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        form: dict[str, str],
    ) -> str | None:
        if method == "POST":
            return form.get("token")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        if "token" in query:
            return query["token"]
        tail = path[len("/dovecot/introspect") :].lstrip("/")
        return urllib.parse.unquote(tail) or None

    @staticmethod
    def _form(headers: dict[str, str], body: bytes) -> dict[str, str]:
        if not body:
            return {}
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise _OAuthFailure("invalid_request", "the body must be form-urlencoded")
        try:
            pairs = urllib.parse.parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=True
            )
        except ValueError:
            raise _OAuthFailure("invalid_request", "malformed form body") from None
        form: dict[str, str] = {}
        for key, value in pairs:
            if key in form:  # RFC 6749 section 3.2: parameters must not repeat
                raise _OAuthFailure("invalid_request", f"repeated parameter {key}")
            form[key] = value
        return form

    def _log(
        self, method: str, path: str, grant_type: str | None, status: int, error: str | None
    ) -> None:
        self.log.append(LogEntry(method, path, grant_type, status, error))


class _Server:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        provider.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        self.acceptor = threading.Thread(
            target=self._accept, name="fake-oauth-accept", daemon=True
        )

    def start(self) -> None:
        self.acceptor.start()

    def stop(self) -> None:
        self.stopping.set()
        try:  # wakes the blocked accept() at once on Linux
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.acceptor.join(timeout=5)
        self.listener.close()
        with self.conns_lock:
            for conn in self.conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self.threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            with self.conns_lock:
                self.conns.add(conn)
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="fake-oauth-conn", daemon=True
            )
            self.threads = [t for t in self.threads if t.is_alive()]
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        h = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_BODY)
        try:
            while not self.stopping.is_set():
                request = self._next(conn, h)
                if request is None:
                    return
                method, target, headers, body = request
                status, out_headers, payload = self.provider.handle(method, target, headers, body)
                if status == 0:
                    return  # fail_next(status=0): hang up without answering
                self._send(conn, h, status, out_headers, payload)
                if h.our_state is h11.MUST_CLOSE or h.their_state is h11.MUST_CLOSE:
                    return
                h.start_next_cycle()
        except (OSError, h11.ProtocolError):
            return
        finally:
            with self.conns_lock:
                self.conns.discard(conn)
            conn.close()

    @staticmethod
    def _next(
        conn: socket.socket, h: h11.Connection
    ) -> tuple[str, str, dict[str, str], bytes] | None:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = h.next_event()
            if event is h11.NEED_DATA:
                data = conn.recv(65536)
                h.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY:
                    raise h11.RemoteProtocolError("body too large")
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
                return request.method.decode(), request.target.decode(), headers, bytes(body)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    def _send(
        self,
        conn: socket.socket,
        h: h11.Connection,
        status: int,
        headers: list[tuple[str, str]],
        payload: bytes,
    ) -> None:
        chunked = self.provider.chunked and status != 302
        framing = (
            [("Transfer-Encoding", "chunked")]
            if chunked
            else [("Content-Length", str(len(payload)))]
        )
        reason = http.HTTPStatus(status).phrase.encode()
        response = h11.Response(status_code=status, headers=[*headers, *framing], reason=reason)
        out = h.send(response) or b""
        if chunked and payload:
            half = len(payload) // 2
            out += (h.send(h11.Data(data=payload[:half])) or b"") + (
                h.send(h11.Data(data=payload[half:])) or b""
            )
        elif payload:
            out += h.send(h11.Data(data=payload)) or b""
        out += h.send(h11.EndOfMessage()) or b""
        conn.sendall(out)


@contextmanager
def oauth_provider(
    *,
    clients: dict[str, str | None] | None = None,
    user: str = "alice@example.com",
    expires_in: int = 3600,
    rotate: bool = False,
    device_interval: int = 5,
    device_expires_in: int = 600,
    enforce_interval: bool = False,
    introspection_auth: bool = True,
    chunked: bool = False,
) -> Iterator[Provider]:
    """Run a fake provider on 127.0.0.1 for the duration of the block.

    ``clients`` maps client ids to secrets (``None``: a public client); the
    default is ``{DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET, "public": None}``.
    """
    provider = Provider(
        clients=clients
        if clients is not None
        else {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET, "public": None},
        user=user,
        expires_in=expires_in,
        rotate=rotate,
        device_interval=device_interval,
        device_expires_in=device_expires_in,
        enforce_interval=enforce_interval,
        introspection_auth=introspection_auth,
        chunked=chunked,
    )
    server = _Server(provider)
    server.start()
    try:
        yield provider
    finally:
        server.stop()
