"""anyio bindings: the one package that imports anyio.

Every protocol's sans-IO connection runs over an anyio byte stream through one
:class:`Pump`, on asyncio and trio alike.  Transport failures surface as
:class:`TransportError` subclasses, mapped from anyio, ssl and OS errors in one
place.
"""

from ._errors import ConnectError as ConnectError
from ._errors import ConnectionClosed as ConnectionClosed
from ._errors import OperationTimeout as OperationTimeout
from ._errors import ReadError as ReadError
from ._errors import TLSError as TLSError
from ._errors import TransportError as TransportError
from ._errors import WriteError as WriteError
from ._errors import map_exceptions as map_exceptions
from ._imap_backend import AppendResult as AppendResult
from ._imap_backend import CopyResult as CopyResult
from ._imap_backend import IMAPBackend as IMAPBackend
from ._imap_backend import IMAPSession as IMAPSession
from ._imap_backend import MailboxChanges as MailboxChanges
from ._imap_backend import MailboxError as MailboxError
from ._imap_backend import MailboxInfo as MailboxInfo
from ._imap_backend import MailboxStatus as MailboxStatus
from ._imap_backend import MessageInfo as MessageInfo
from ._imap_backend import SelectedMailbox as SelectedMailbox
from ._imap_backend import StoreResult as StoreResult
from ._imap_backend_memory import InMemoryIMAPBackend as InMemoryIMAPBackend
from ._imap_client import IMAPClient as IMAPClient
from ._imap_client import connect_imap as connect_imap
from ._imap_client import open_imap as open_imap
from ._imap_client import wrap_imap_stream as wrap_imap_stream
from ._imap_client_fetch import BodyStream as BodyStream
from ._imap_client_fetch import FetchMessage as FetchMessage
from ._imap_client_fetch import FetchResults as FetchResults
from ._imap_client_fetch import IdleSession as IdleSession
from ._imap_client_types import AppendUID as AppendUID
from ._imap_client_types import CopyUID as CopyUID
from ._imap_client_types import IMAPAuthenticationError as IMAPAuthenticationError
from ._imap_client_types import IMAPError as IMAPError
from ._imap_client_types import ListEntry as ListEntry
from ._imap_client_types import MailboxState as MailboxState
from ._imap_client_types import StoreChanges as StoreChanges
from ._imap_search import SearchableMessage as SearchableMessage
from ._imap_search import search_matches as search_matches
from ._imap_server import serve_imap as serve_imap
from ._pop3_backend import InMemoryPOP3Backend as InMemoryPOP3Backend
from ._pop3_backend import Maildrop as Maildrop
from ._pop3_backend import MaildropInUse as MaildropInUse
from ._pop3_backend import MaildropUnavailable as MaildropUnavailable
from ._pop3_backend import POP3Backend as POP3Backend
from ._pop3_client import MessageStream as MessageStream
from ._pop3_client import POP3AuthenticationError as POP3AuthenticationError
from ._pop3_client import POP3Client as POP3Client
from ._pop3_client import POP3Error as POP3Error
from ._pop3_client import connect_pop3 as connect_pop3
from ._pop3_client import open_pop3 as open_pop3
from ._pop3_client import wrap_pop3_stream as wrap_pop3_stream
from ._pop3_server import serve_pop3 as serve_pop3
from ._proxy_protocol import ProxyHeader as ProxyHeader
from ._proxy_protocol import ProxyProtocolError as ProxyProtocolError
from ._proxy_protocol import build_v1 as build_v1
from ._proxy_protocol import build_v2 as build_v2
from ._proxy_protocol import parse_proxy_header as parse_proxy_header
from ._pump import Pump as Pump
from ._pump import SansIOConnection as SansIOConnection
from ._pump import Timeouts as Timeouts
from ._server import ConnectionInfo as ConnectionInfo
from ._server import Handler as Handler
from ._server import Listener as Listener
from ._server import PrefixedStream as PrefixedStream
from ._server import ServerInfo as ServerInfo
from ._server import ServerLimits as ServerLimits
from ._server import serve_listeners as serve_listeners
from ._smtp_backend import Envelope as Envelope
from ._smtp_backend import InMemorySMTPBackend as InMemorySMTPBackend
from ._smtp_backend import MessageSink as MessageSink
from ._smtp_backend import SMTPBackend as SMTPBackend
from ._smtp_backend import SMTPSession as SMTPSession
from ._smtp_backend import StoredMessage as StoredMessage
from ._smtp_client import Login as Login
from ._smtp_client import SendResult as SendResult
from ._smtp_client import SMTPAuthenticationError as SMTPAuthenticationError
from ._smtp_client import SMTPClient as SMTPClient
from ._smtp_client import SMTPDataError as SMTPDataError
from ._smtp_client import SMTPError as SMTPError
from ._smtp_client import SMTPNotSupported as SMTPNotSupported
from ._smtp_client import SMTPRecipientsRefused as SMTPRecipientsRefused
from ._smtp_client import SMTPResponseError as SMTPResponseError
from ._smtp_client import SMTPSenderRefused as SMTPSenderRefused
from ._smtp_client import connect_smtp as connect_smtp
from ._smtp_client import open_smtp as open_smtp
from ._smtp_client import wrap_smtp_stream as wrap_smtp_stream
from ._smtp_server import serve_smtp as serve_smtp
from ._tls import TLSMode as TLSMode
from ._tls import client_ssl_context as client_ssl_context
from ._tls import greeting_timeout as greeting_timeout
from ._tls import open_stream as open_stream
from ._tls import server_ssl_context as server_ssl_context

__all__ = [
    "AppendResult",
    "AppendUID",
    "BodyStream",
    "ConnectError",
    "ConnectionClosed",
    "ConnectionInfo",
    "CopyResult",
    "CopyUID",
    "Envelope",
    "FetchMessage",
    "FetchResults",
    "Handler",
    "IMAPAuthenticationError",
    "IMAPBackend",
    "IMAPClient",
    "IMAPError",
    "IMAPSession",
    "IdleSession",
    "InMemoryIMAPBackend",
    "InMemoryPOP3Backend",
    "InMemorySMTPBackend",
    "ListEntry",
    "Listener",
    "Login",
    "MailboxChanges",
    "MailboxError",
    "MailboxInfo",
    "MailboxState",
    "MailboxStatus",
    "Maildrop",
    "MaildropInUse",
    "MaildropUnavailable",
    "MessageInfo",
    "MessageSink",
    "MessageStream",
    "OperationTimeout",
    "POP3AuthenticationError",
    "POP3Backend",
    "POP3Client",
    "POP3Error",
    "PrefixedStream",
    "ProxyHeader",
    "ProxyProtocolError",
    "Pump",
    "ReadError",
    "SMTPAuthenticationError",
    "SMTPBackend",
    "SMTPClient",
    "SMTPDataError",
    "SMTPError",
    "SMTPNotSupported",
    "SMTPRecipientsRefused",
    "SMTPResponseError",
    "SMTPSenderRefused",
    "SMTPSession",
    "SansIOConnection",
    "SearchableMessage",
    "SelectedMailbox",
    "SendResult",
    "ServerInfo",
    "ServerLimits",
    "StoreChanges",
    "StoreResult",
    "StoredMessage",
    "TLSError",
    "TLSMode",
    "Timeouts",
    "TransportError",
    "WriteError",
    "build_v1",
    "build_v2",
    "client_ssl_context",
    "connect_imap",
    "connect_pop3",
    "connect_smtp",
    "greeting_timeout",
    "map_exceptions",
    "open_imap",
    "open_pop3",
    "open_smtp",
    "open_stream",
    "parse_proxy_header",
    "search_matches",
    "serve_imap",
    "serve_listeners",
    "serve_pop3",
    "serve_smtp",
    "server_ssl_context",
    "wrap_imap_stream",
    "wrap_pop3_stream",
    "wrap_smtp_stream",
]
