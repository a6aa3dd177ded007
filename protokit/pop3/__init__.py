"""POP3 (RFC 1939 with RFC 2449, 2595, 3206, 5034 and 6856), sans-IO.

``ClientConnection`` and ``ServerConnection`` follow the contract every
protokit protocol shares: ``receive_data``, ``next_event`` until NEED_DATA,
typed helpers (or ``send``) that queue bytes, ``data_to_send``.

Server: the connection answers CAPA, STAT, LIST, UIDL, DELE, RSET, NOOP,
STLS, UTF8 and the SASL framing itself, and asks the application through
events for what only it knows: credentials (PasswordLogin, ApopLogin,
SaslRequest, SaslAuthenticated, answered with ``accept_login(maildrop)`` or
``reject_login(code=...)``), message bytes (MessageRequested, answered with
``send_message_data`` chunks and ``end_message``; the server dot-stuffs,
turns bare CR/LF into CRLF and cuts TOP itself) and the deletions at QUIT
(UpdateRequested, answered with ``finish_update``).

Client: the command helpers validate every argument; replies come back as
typed events (StatResult, ListResult, UidlResult, Capabilities, ...), RETR
and TOP bodies as MessageStart, MessageData chunks and MessageEnd.  Commands
are pipelined only after a CAPA listing PIPELINING, and never past STLS or
AUTH.  After STLS both sides stop until ``tls_established()``; bytes that
arrive in between are an injection and a RemoteProtocolError.
"""

from ._client import ClientConfig as ClientConfig
from ._client import ClientConnection as ClientConnection
from ._client import ClientEvent as ClientEvent
from ._events import Apop as Apop
from ._events import ApopLogin as ApopLogin
from ._events import Auth as Auth
from ._events import Capa as Capa
from ._events import Capabilities as Capabilities
from ._events import Command as Command
from ._events import CommandError as CommandError
from ._events import ConnectionClosed as ConnectionClosed
from ._events import Dele as Dele
from ._events import Err as Err
from ._events import Greeting as Greeting
from ._events import List as List
from ._events import ListResult as ListResult
from ._events import MaildropEntry as MaildropEntry
from ._events import MechanismList as MechanismList
from ._events import MessageData as MessageData
from ._events import MessageEnd as MessageEnd
from ._events import MessageRequested as MessageRequested
from ._events import MessageStart as MessageStart
from ._events import Noop as Noop
from ._events import Ok as Ok
from ._events import Pass as Pass
from ._events import PasswordLogin as PasswordLogin
from ._events import Quit as Quit
from ._events import ResponseCode as ResponseCode
from ._events import Retr as Retr
from ._events import Rset as Rset
from ._events import SaslAuthenticated as SaslAuthenticated
from ._events import SaslFailed as SaslFailed
from ._events import SaslRequest as SaslRequest
from ._events import StartTLS as StartTLS
from ._events import Stat as Stat
from ._events import StatResult as StatResult
from ._events import Stls as Stls
from ._events import Top as Top
from ._events import Uidl as Uidl
from ._events import UidlResult as UidlResult
from ._events import UpdateRequested as UpdateRequested
from ._events import User as User
from ._events import UserReceived as UserReceived
from ._events import Utf8 as Utf8
from ._events import apop_digest as apop_digest
from ._parse import parse_command as parse_command
from ._server import ServerConnection as ServerConnection
from ._server import ServerEvent as ServerEvent
from ._server_config import DEFAULT_CAPABILITIES as DEFAULT_CAPABILITIES
from ._server_config import ServerConfig as ServerConfig
from ._state import State as State
from ._write import octet_count as octet_count
from ._write import write_command as write_command

__all__ = [
    "DEFAULT_CAPABILITIES",
    "Apop",
    "ApopLogin",
    "Auth",
    "Capa",
    "Capabilities",
    "ClientConfig",
    "ClientConnection",
    "ClientEvent",
    "Command",
    "CommandError",
    "ConnectionClosed",
    "Dele",
    "Err",
    "Greeting",
    "List",
    "ListResult",
    "MaildropEntry",
    "MechanismList",
    "MessageData",
    "MessageEnd",
    "MessageRequested",
    "MessageStart",
    "Noop",
    "Ok",
    "Pass",
    "PasswordLogin",
    "Quit",
    "ResponseCode",
    "Retr",
    "Rset",
    "SaslAuthenticated",
    "SaslFailed",
    "SaslRequest",
    "ServerConfig",
    "ServerConnection",
    "ServerEvent",
    "StartTLS",
    "State",
    "Stat",
    "StatResult",
    "Stls",
    "Top",
    "Uidl",
    "UidlResult",
    "UpdateRequested",
    "User",
    "UserReceived",
    "Utf8",
    "apop_digest",
    "octet_count",
    "parse_command",
    "write_command",
]
