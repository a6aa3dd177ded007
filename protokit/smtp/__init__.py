"""SMTP, ESMTP and LMTP: sans-IO client and server connections (RFC 5321,
RFC 2033 and the service extensions).

Standard library only.
"""

from ._client import ClientConnection as ClientConnection
from ._events import Authenticated as Authenticated
from ._events import AuthFailed as AuthFailed
from ._events import AuthReply as AuthReply
from ._events import AuthRequest as AuthRequest
from ._events import BadCommand as BadCommand
from ._events import ChunkReply as ChunkReply
from ._events import CommandReply as CommandReply
from ._events import ConnectionClosed as ConnectionClosed
from ._events import DataReply as DataReply
from ._events import Event as Event
from ._events import Greeting as Greeting
from ._events import Hello as Hello
from ._events import HelloReply as HelloReply
from ._events import Help as Help
from ._events import MailFrom as MailFrom
from ._events import MailReply as MailReply
from ._events import MessageData as MessageData
from ._events import MessageEnd as MessageEnd
from ._events import MessageRejected as MessageRejected
from ._events import MessageReply as MessageReply
from ._events import MessageStart as MessageStart
from ._events import Noop as Noop
from ._events import Quit as Quit
from ._events import RcptReply as RcptReply
from ._events import RcptTo as RcptTo
from ._events import Reset as Reset
from ._events import StartTLS as StartTLS
from ._events import StartTLSReply as StartTLSReply
from ._events import Verify as Verify
from ._server import ServerConnection as ServerConnection
from ._state import State as State
from ._state import Verb as Verb
from ._types import Body as Body
from ._types import Capabilities as Capabilities
from ._types import ClientConfig as ClientConfig
from ._types import Extension as Extension
from ._types import MailParams as MailParams
from ._types import Notify as Notify
from ._types import RcptParams as RcptParams
from ._types import Reply as Reply
from ._types import Ret as Ret
from ._types import ServerConfig as ServerConfig
from ._types import xtext_decode as xtext_decode
from ._types import xtext_encode as xtext_encode

__all__ = [
    "AuthFailed",
    "AuthReply",
    "AuthRequest",
    "Authenticated",
    "BadCommand",
    "Body",
    "Capabilities",
    "ChunkReply",
    "ClientConfig",
    "ClientConnection",
    "CommandReply",
    "ConnectionClosed",
    "DataReply",
    "Event",
    "Extension",
    "Greeting",
    "Hello",
    "HelloReply",
    "Help",
    "MailFrom",
    "MailParams",
    "MailReply",
    "MessageData",
    "MessageEnd",
    "MessageRejected",
    "MessageReply",
    "MessageStart",
    "Noop",
    "Notify",
    "Quit",
    "RcptParams",
    "RcptReply",
    "RcptTo",
    "Reply",
    "Reset",
    "Ret",
    "ServerConfig",
    "ServerConnection",
    "StartTLS",
    "StartTLSReply",
    "State",
    "Verb",
    "Verify",
    "xtext_decode",
    "xtext_encode",
]
