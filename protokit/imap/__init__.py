"""IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051): types, parser and writer.

The :class:`Framer` cuts a byte stream into messages (and literal events);
``parse_command`` / ``parse_response`` read one framed ``Message``;
``write_command`` returns the pieces a client sends (waiting for "+" before
each synchronizing literal); ``write_response`` returns bytes.
:class:`ClientConnection` and :class:`ServerConnection` are the sans-IO
sessions on top (``receive_data`` / ``next_event`` / ``data_to_send``).
Standard library only.
"""

from ._body import Address as Address
from ._body import BodyStructure as BodyStructure
from ._body import Disposition as Disposition
from ._body import Envelope as Envelope
from ._body import MultiPart as MultiPart
from ._body import SinglePart as SinglePart
from ._client import ClientConnection as ClientConnection
from ._commands import Append as Append
from ._commands import AppendMessage as AppendMessage
from ._commands import Authenticate as Authenticate
from ._commands import CapabilityCommand as CapabilityCommand
from ._commands import Check as Check
from ._commands import Close as Close
from ._commands import Command as Command
from ._commands import Compress as Compress
from ._commands import Copy as Copy
from ._commands import Create as Create
from ._commands import Delete as Delete
from ._commands import Done as Done
from ._commands import Enable as Enable
from ._commands import Examine as Examine
from ._commands import ExpungeCommand as ExpungeCommand
from ._commands import FetchAttr as FetchAttr
from ._commands import FetchBody as FetchBody
from ._commands import FetchCommand as FetchCommand
from ._commands import GenericCommand as GenericCommand
from ._commands import GetQuota as GetQuota
from ._commands import GetQuotaRoot as GetQuotaRoot
from ._commands import IdCommand as IdCommand
from ._commands import Idle as Idle
from ._commands import List as List
from ._commands import Login as Login
from ._commands import Logout as Logout
from ._commands import Lsub as Lsub
from ._commands import Move as Move
from ._commands import NamespaceCommand as NamespaceCommand
from ._commands import Noop as Noop
from ._commands import Rename as Rename
from ._commands import SearchCommand as SearchCommand
from ._commands import Select as Select
from ._commands import SetQuota as SetQuota
from ._commands import SortCommand as SortCommand
from ._commands import StartTLS as StartTLS
from ._commands import StatusCommand as StatusCommand
from ._commands import Store as Store
from ._commands import Subscribe as Subscribe
from ._commands import ThreadCommand as ThreadCommand
from ._commands import Unselect as Unselect
from ._commands import Unsubscribe as Unsubscribe
from ._events import AppendAnnounced as AppendAnnounced
from ._events import AuthenticationFailed as AuthenticationFailed
from ._events import BodyChunk as BodyChunk
from ._events import BodyEnd as BodyEnd
from ._events import BodyStart as BodyStart
from ._events import ClientEvent as ClientEvent
from ._events import CommandError as CommandError
from ._events import CommandHandle as CommandHandle
from ._events import CommandReceived as CommandReceived
from ._events import Completed as Completed
from ._events import CompressionStarted as CompressionStarted
from ._events import CompressRequested as CompressRequested
from ._events import ConnectionClosed as ConnectionClosed
from ._events import Continued as Continued
from ._events import Greeting as Greeting
from ._events import IdleDone as IdleDone
from ._events import IdleStarted as IdleStarted
from ._events import SaslAuthenticated as SaslAuthenticated
from ._events import SaslRequest as SaslRequest
from ._events import ServerEvent as ServerEvent
from ._events import StartTLSRequested as StartTLSRequested
from ._events import TLSUpgradeReady as TLSUpgradeReady
from ._events import UnexpectedContinuation as UnexpectedContinuation
from ._events import Untagged as Untagged
from ._framer import BadMessage as BadMessage
from ._framer import Framer as Framer
from ._framer import FramerEvent as FramerEvent
from ._framer import LiteralAnnounced as LiteralAnnounced
from ._framer import LiteralChunk as LiteralChunk
from ._framer import LiteralEnd as LiteralEnd
from ._framer import LiteralStart as LiteralStart
from ._framer import LiteralTooLargeError as LiteralTooLargeError
from ._framer import MalformedLiteralError as MalformedLiteralError
from ._framer import Message as Message
from ._framer import MessageTooLargeError as MessageTooLargeError
from ._framer import StreamedLiteral as StreamedLiteral
from ._mutf7 import decode_mutf7 as decode_mutf7
from ._mutf7 import encode_mutf7 as encode_mutf7
from ._parse_command import parse_command as parse_command
from ._parse_response import parse_response as parse_response
from ._responses import BodySection as BodySection
from ._responses import Capability as Capability
from ._responses import ContinuationRequest as ContinuationRequest
from ._responses import Enabled as Enabled
from ._responses import ESearch as ESearch
from ._responses import Exists as Exists
from ._responses import Expunge as Expunge
from ._responses import Fetch as Fetch
from ._responses import Flags as Flags
from ._responses import GenericResponse as GenericResponse
from ._responses import Id as Id
from ._responses import ListResponse as ListResponse
from ._responses import Namespace as Namespace
from ._responses import NamespaceEntry as NamespaceEntry
from ._responses import Quota as Quota
from ._responses import QuotaResource as QuotaResource
from ._responses import QuotaRoot as QuotaRoot
from ._responses import Recent as Recent
from ._responses import Response as Response
from ._responses import ResponseCode as ResponseCode
from ._responses import Search as Search
from ._responses import Section as Section
from ._responses import Sort as Sort
from ._responses import Status as Status
from ._responses import StatusResponse as StatusResponse
from ._responses import Thread as Thread
from ._responses import Vanished as Vanished
from ._search import SearchKey as SearchKey
from ._server import ServerConnection as ServerConnection
from ._server_config import ServerConfig as ServerConfig
from ._state import State as State
from ._types import STAR as STAR
from ._types import Atom as Atom
from ._types import Flag as Flag
from ._types import Literal as Literal
from ._types import Mailbox as Mailbox
from ._types import SequenceSet as SequenceSet
from ._types import Tag as Tag
from ._write import LinePiece as LinePiece
from ._write import LiteralPiece as LiteralPiece
from ._write import Piece as Piece
from ._write_command import write_command as write_command
from ._write_response import write_response as write_response

__all__ = [
    "AppendAnnounced", "AuthenticationFailed", "BodyChunk", "BodyEnd", "BodyStart",
    "ClientConnection",
    "ClientEvent", "CommandError", "CommandHandle", "CommandReceived", "Completed",
    "CompressRequested", "CompressionStarted", "ConnectionClosed", "Continued", "Greeting",
    "IdleDone", "IdleStarted", "SaslAuthenticated", "SaslRequest", "ServerConfig",
    "ServerConnection", "ServerEvent", "StartTLSRequested", "State", "TLSUpgradeReady",
    "UnexpectedContinuation", "Untagged",
    "BadMessage", "Framer", "FramerEvent", "LiteralAnnounced", "LiteralChunk", "LiteralEnd",
    "LiteralStart", "LiteralTooLargeError", "MalformedLiteralError", "Message",
    "MessageTooLargeError", "StreamedLiteral",
    "STAR", "Address", "Append", "AppendMessage", "Atom", "Authenticate", "BodySection",
    "BodyStructure", "Capability", "CapabilityCommand", "Check", "Close", "Command", "Compress",
    "ContinuationRequest", "Copy", "Create", "Delete", "Disposition", "Done", "ESearch",
    "Enable", "Enabled", "Envelope", "Examine", "Exists", "Expunge", "ExpungeCommand", "Fetch",
    "FetchAttr", "FetchBody", "FetchCommand", "Flag", "Flags", "GenericCommand",
    "GenericResponse", "GetQuota", "GetQuotaRoot", "Id", "IdCommand", "Idle", "LinePiece",
    "List", "ListResponse", "Literal", "LiteralPiece", "Login", "Logout", "Lsub", "Mailbox",
    "Move", "MultiPart", "Namespace", "NamespaceCommand", "NamespaceEntry", "Noop", "Piece",
    "Quota", "QuotaResource", "QuotaRoot", "Recent", "Rename", "Response", "ResponseCode",
    "Search", "SearchCommand", "SearchKey", "Section", "Select", "SequenceSet", "SetQuota",
    "SinglePart", "Sort", "SortCommand", "StartTLS", "Status", "StatusCommand",
    "StatusResponse", "Store", "Subscribe", "Tag", "Thread", "ThreadCommand", "Unselect",
    "Unsubscribe", "Vanished", "decode_mutf7", "encode_mutf7", "parse_command",
    "parse_response", "write_command", "write_response",
]  # fmt: skip
