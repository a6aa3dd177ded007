"""``protokit proxy``: the OAuth2 mail proxy.

A mail client that cannot do OAuth2 logs in to a local listener with a
password; the proxy authenticates upstream with XOAUTH2 or OAUTHBEARER and
relays the session through protokit's codecs in both directions.
"""

from ._config import AccountConfig as AccountConfig
from ._config import ConfigError as ConfigError
from ._config import ProviderConfig as ProviderConfig
from ._config import ProxyConfig as ProxyConfig
from ._config import ProxyLimits as ProxyLimits
from ._config import load_config as load_config
from ._proxy import HANDLERS as HANDLERS
from ._proxy import serve_proxy as serve_proxy
from ._session import AuthorizationNeeded as AuthorizationNeeded
from ._session import BearerToken as BearerToken
from ._session import ProxyContext as ProxyContext
from ._session import TokenSource as TokenSource

__all__ = [
    "HANDLERS",
    "AccountConfig",
    "AuthorizationNeeded",
    "BearerToken",
    "ConfigError",
    "ProviderConfig",
    "ProxyConfig",
    "ProxyContext",
    "ProxyLimits",
    "TokenSource",
    "load_config",
    "serve_proxy",
]
