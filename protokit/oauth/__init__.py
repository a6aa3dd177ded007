"""OAuth 2.0 for mail: sans-IO flows, an HTTP transport on h11 over anyio, a
token manager with encrypted storage, and token introspection for servers.

The three uses, end to end (authorize once with the device flow, then get
live access tokens, and, on a server, introspect a bearer token)::

    import anyio

    from protokit.oauth import (
        IntrospectionValidator,
        OAuthProvider,
        TokenManager,
        TokenStorage,
        authorize_device,
    )
    from protokit.wire import Secret

    PROVIDER = OAuthProvider(
        token_url="https://login.example.com/token",
        device_url="https://login.example.com/device_authorization",
        introspect_url="https://login.example.com/introspect",
        client_id="my-mail-client",
        client_secret=Secret("my-client-secret"),
        scopes=("mail",),
    )


    async def main() -> None:
        storage = TokenStorage("tokens")  # one encrypted file per account
        password = Secret("alice's local password")  # the key to her tokens

        # 1. Once: the device flow (RFC 8628) prints a URL and a code for the
        #    user, polls until they approve, then stores the tokens.
        await authorize_device(PROVIDER, storage, "alice", password)

        # 2. Each connection: an access token refreshed ahead of expiry, one
        #    refresh in flight however many connections ask at once.
        manager = TokenManager(PROVIDER, storage)
        token = await manager.access_token("alice")
        print("access token valid until", token.expires_at)

        # 3. A server: is a bearer token active, and whose is it? (RFC 7662)
        validator = IntrospectionValidator(PROVIDER)
        answer = await validator.introspect(token.token)
        print("active:", answer.active, "account:", answer.account)


    anyio.run(main)

After a restart, ``await manager.unlock("alice", password)`` (the user's
local login) makes the stored tokens usable again; an expired or revoked
grant raises :class:`AuthorizationNeeded`, whose message names the command
to run (``protokit proxy authorize alice``).
"""

from ._errors import AccessDenied as AccessDenied
from ._errors import AuthorizationNeeded as AuthorizationNeeded
from ._errors import AuthorizationPending as AuthorizationPending
from ._errors import ExpiredToken as ExpiredToken
from ._errors import InvalidGrant as InvalidGrant
from ._errors import InvalidResponse as InvalidResponse
from ._errors import OAuthError as OAuthError
from ._errors import SlowDown as SlowDown
from ._errors import TransientError as TransientError
from ._errors import TransportFailure as TransportFailure
from ._flows import DEVICE_CODE_GRANT as DEVICE_CODE_GRANT
from ._flows import AccessToken as AccessToken
from ._flows import AuthorizationRequest as AuthorizationRequest
from ._flows import ClientAuth as ClientAuth
from ._flows import DeviceAuthorization as DeviceAuthorization
from ._flows import DevicePoll as DevicePoll
from ._flows import HTTPRequest as HTTPRequest
from ._flows import HTTPResponse as HTTPResponse
from ._flows import Introspection as Introspection
from ._flows import OAuthProvider as OAuthProvider
from ._flows import TokenResponse as TokenResponse
from ._flows import authorization_code_request as authorization_code_request
from ._flows import client_credentials_request as client_credentials_request
from ._flows import device_authorization_request as device_authorization_request
from ._flows import device_token_request as device_token_request
from ._flows import introspection_request as introspection_request
from ._flows import parse_device_authorization as parse_device_authorization
from ._flows import parse_introspection as parse_introspection
from ._flows import parse_token_response as parse_token_response
from ._flows import pkce_pair as pkce_pair
from ._flows import refresh_request as refresh_request
from ._http import HTTPTransport as HTTPTransport
from ._introspect import IntrospectionValidator as IntrospectionValidator
from ._manager import TokenManager as TokenManager
from ._manager import authorize_device as authorize_device
from ._manager import authorize_pkce as authorize_pkce
from ._storage import AccountLocked as AccountLocked
from ._storage import StorageError as StorageError
from ._storage import StoredTokens as StoredTokens
from ._storage import TokenStorage as TokenStorage

__all__ = [
    "DEVICE_CODE_GRANT",
    "AccessDenied",
    "AccessToken",
    "AccountLocked",
    "AuthorizationNeeded",
    "AuthorizationPending",
    "AuthorizationRequest",
    "ClientAuth",
    "DeviceAuthorization",
    "DevicePoll",
    "ExpiredToken",
    "HTTPRequest",
    "HTTPResponse",
    "HTTPTransport",
    "Introspection",
    "IntrospectionValidator",
    "InvalidGrant",
    "InvalidResponse",
    "OAuthError",
    "OAuthProvider",
    "SlowDown",
    "StorageError",
    "StoredTokens",
    "TokenManager",
    "TokenResponse",
    "TokenStorage",
    "TransientError",
    "TransportFailure",
    "authorization_code_request",
    "authorize_device",
    "authorize_pkce",
    "client_credentials_request",
    "device_authorization_request",
    "device_token_request",
    "introspection_request",
    "parse_device_authorization",
    "parse_introspection",
    "parse_token_response",
    "pkce_pair",
    "refresh_request",
]
