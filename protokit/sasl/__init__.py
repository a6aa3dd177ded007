"""SASL mechanisms for mail, client and server sides, sans-IO.

Bytes in, bytes out: base64 and the per-protocol framing stay in the protocol
codecs and :mod:`protokit.wire`.  Server mechanisms never do I/O and never own
a user database: they hand back :class:`Request` objects (see
:mod:`protokit.sasl._requests`) that the caller answers.
"""

from ._anonymous import ANONYMOUS_IDENTITY as ANONYMOUS_IDENTITY
from ._anonymous import AnonymousClient as AnonymousClient
from ._anonymous import AnonymousServer as AnonymousServer
from ._base import MAX_STEPS as MAX_STEPS
from ._base import AuthenticationFailed as AuthenticationFailed
from ._base import Challenge as Challenge
from ._base import ClientMechanism as ClientMechanism
from ._base import Failure as Failure
from ._base import Request as Request
from ._base import SASLError as SASLError
from ._base import ServerMechanism as ServerMechanism
from ._base import ServerOptions as ServerOptions
from ._base import Step as Step
from ._base import Success as Success
from ._channel_binding import ChannelBindingError as ChannelBindingError
from ._channel_binding import certificate_hash_name as certificate_hash_name
from ._channel_binding import tls_server_end_point as tls_server_end_point
from ._common import TokenSource as TokenSource
from ._cram_md5 import CramMD5Client as CramMD5Client
from ._cram_md5 import CramMD5Server as CramMD5Server
from ._credentials import PASSWORD_HASH_ITERATIONS as PASSWORD_HASH_ITERATIONS
from ._credentials import ScramCredentials as ScramCredentials
from ._credentials import derive_scram_credentials as derive_scram_credentials
from ._credentials import hash_password as hash_password
from ._credentials import verify_password as verify_password
from ._external import ExternalClient as ExternalClient
from ._external import ExternalServer as ExternalServer
from ._login import LoginClient as LoginClient
from ._login import LoginServer as LoginServer
from ._oauthbearer import OAUTHBEARER_DEFAULT_ERROR as OAUTHBEARER_DEFAULT_ERROR
from ._oauthbearer import OAuthBearerClient as OAuthBearerClient
from ._oauthbearer import OAuthBearerServer as OAuthBearerServer
from ._plain import PlainClient as PlainClient
from ._plain import PlainServer as PlainServer
from ._registry import CLIENT_MECHANISMS as CLIENT_MECHANISMS
from ._registry import MECHANISM_PREFERENCE as MECHANISM_PREFERENCE
from ._registry import SERVER_MECHANISMS as SERVER_MECHANISMS
from ._registry import UnknownMechanism as UnknownMechanism
from ._registry import choose_mechanism as choose_mechanism
from ._registry import create_server as create_server
from ._requests import AllowAnonymous as AllowAnonymous
from ._requests import LookupPassword as LookupPassword
from ._requests import TokenResult as TokenResult
from ._requests import ValidateToken as ValidateToken
from ._requests import VerifyExternal as VerifyExternal
from ._requests import VerifyPassword as VerifyPassword
from ._saslprep import SASLprepError as SASLprepError
from ._saslprep import saslprep as saslprep
from ._scram import LookupScramCredentials as LookupScramCredentials
from ._scram import ScramClient as ScramClient
from ._scram import ScramClientOptions as ScramClientOptions
from ._scram import ScramServer as ScramServer
from ._scram import ScramServerOptions as ScramServerOptions
from ._scram import ScramSHA1Client as ScramSHA1Client
from ._scram import ScramSHA1PlusClient as ScramSHA1PlusClient
from ._scram import ScramSHA1PlusServer as ScramSHA1PlusServer
from ._scram import ScramSHA1Server as ScramSHA1Server
from ._scram import ScramSHA256Client as ScramSHA256Client
from ._scram import ScramSHA256PlusClient as ScramSHA256PlusClient
from ._scram import ScramSHA256PlusServer as ScramSHA256PlusServer
from ._scram import ScramSHA256Server as ScramSHA256Server
from ._xoauth2 import XOAUTH2_DEFAULT_ERROR as XOAUTH2_DEFAULT_ERROR
from ._xoauth2 import XOAuth2Client as XOAuth2Client
from ._xoauth2 import XOAuth2Server as XOAuth2Server

__all__ = [
    "ANONYMOUS_IDENTITY",
    "CLIENT_MECHANISMS",
    "MAX_STEPS",
    "MECHANISM_PREFERENCE",
    "OAUTHBEARER_DEFAULT_ERROR",
    "PASSWORD_HASH_ITERATIONS",
    "SERVER_MECHANISMS",
    "XOAUTH2_DEFAULT_ERROR",
    "AllowAnonymous",
    "AnonymousClient",
    "AnonymousServer",
    "AuthenticationFailed",
    "Challenge",
    "ChannelBindingError",
    "ClientMechanism",
    "CramMD5Client",
    "CramMD5Server",
    "ExternalClient",
    "ExternalServer",
    "Failure",
    "LoginClient",
    "LoginServer",
    "LookupPassword",
    "LookupScramCredentials",
    "OAuthBearerClient",
    "OAuthBearerServer",
    "PlainClient",
    "PlainServer",
    "Request",
    "SASLError",
    "SASLprepError",
    "ScramClient",
    "ScramClientOptions",
    "ScramCredentials",
    "ScramSHA1Client",
    "ScramSHA1PlusClient",
    "ScramSHA1PlusServer",
    "ScramSHA1Server",
    "ScramSHA256Client",
    "ScramSHA256PlusClient",
    "ScramSHA256PlusServer",
    "ScramSHA256Server",
    "ScramServer",
    "ScramServerOptions",
    "ServerMechanism",
    "ServerOptions",
    "Step",
    "Success",
    "TokenResult",
    "TokenSource",
    "UnknownMechanism",
    "ValidateToken",
    "VerifyExternal",
    "VerifyPassword",
    "XOAuth2Client",
    "XOAuth2Server",
    "certificate_hash_name",
    "choose_mechanism",
    "create_server",
    "derive_scram_credentials",
    "hash_password",
    "saslprep",
    "tls_server_end_point",
    "verify_password",
]
