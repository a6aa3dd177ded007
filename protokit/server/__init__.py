"""The embedded mail server (``protokit serve``): the SQLite store
(accounts, tokens, mailboxes, messages, POP3 state), its async wrapper,
bearer-token and JWT validation, the TLS certificate, the store-backed SMTP,
IMAP and POP3 backends for protokit.net's servers, and ``serve`` itself."""

from ._accounts import TOKEN_PREFIX as TOKEN_PREFIX
from ._accounts import validate_address as validate_address
from ._async import AsyncStore as AsyncStore
from ._async import Subscription as Subscription
from ._backend_imap import StoreIMAPBackend as StoreIMAPBackend
from ._backend_pop3 import RECENT_PREFIX as RECENT_PREFIX
from ._backend_pop3 import StorePOP3Backend as StorePOP3Backend
from ._backend_pop3 import split_recent as split_recent
from ._backend_smtp import SMTPRole as SMTPRole
from ._backend_smtp import StoreSMTPBackend as StoreSMTPBackend
from ._certs import CertificateError as CertificateError
from ._certs import CertificatePaths as CertificatePaths
from ._certs import ensure_certificate as ensure_certificate
from ._certs import server_ssl_context as server_ssl_context
from ._db import DB_FILENAME as DB_FILENAME
from ._import import ImportFormatError as ImportFormatError
from ._import import ImportResult as ImportResult
from ._import import MailFormat as MailFormat
from ._import import detect_format as detect_format
from ._import import import_mail as import_mail
from ._jwt import ALGORITHMS as ALGORITHMS
from ._jwt import InvalidToken as InvalidToken
from ._jwt import JWTClaims as JWTClaims
from ._jwt import JWTKey as JWTKey
from ._jwt import JWTValidator as JWTValidator
from ._schema import MIGRATIONS as MIGRATIONS
from ._schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._serve import DEFAULT_PORT_OFFSET as DEFAULT_PORT_OFFSET
from ._serve import ROLES as ROLES
from ._serve import ConfigError as ConfigError
from ._serve import Role as Role
from ._serve import ServeConfig as ServeConfig
from ._serve import banner as banner
from ._serve import load_config as load_config
from ._serve import serve as serve
from ._serve_tokens import IntrospectionSettings as IntrospectionSettings
from ._serve_tokens import JWTSettings as JWTSettings
from ._serve_tokens import TokenSettingsError as TokenSettingsError
from ._serve_tokens import introspection_from_table as introspection_from_table
from ._serve_tokens import jwt_from_table as jwt_from_table
from ._store import DEFAULT_DATA_DIR as DEFAULT_DATA_DIR
from ._store import Store as Store
from ._store import ensure_data_dir as ensure_data_dir
from ._tokens import TokenCheck as TokenCheck
from ._tokens import TokenValidator as TokenValidator
from ._types import ALL_MAIL as ALL_MAIL
from ._types import DEFAULT_MAILBOXES as DEFAULT_MAILBOXES
from ._types import Account as Account
from ._types import AccountExists as AccountExists
from ._types import Change as Change
from ._types import ChangeKind as ChangeKind
from ._types import CopyResult as CopyResult
from ._types import Delivered as Delivered
from ._types import FlagMode as FlagMode
from ._types import InvalidName as InvalidName
from ._types import MailboxExists as MailboxExists
from ._types import MailboxInfo as MailboxInfo
from ._types import MessageInfo as MessageInfo
from ._types import MessageTooLarge as MessageTooLarge
from ._types import NoSuchAccount as NoSuchAccount
from ._types import NoSuchMailbox as NoSuchMailbox
from ._types import PopEntry as PopEntry
from ._types import SchemaTooNew as SchemaTooNew
from ._types import SearchQuery as SearchQuery
from ._types import SelectInfo as SelectInfo
from ._types import StoreError as StoreError
from ._types import StoreResult as StoreResult
from ._types import Submitted as Submitted
from ._types import UidRange as UidRange
from ._types import normalize_flags as normalize_flags
from ._writer import DEFAULT_MAX_MESSAGE_SIZE as DEFAULT_MAX_MESSAGE_SIZE
from ._writer import LineEndingCounter as LineEndingCounter
from ._writer import MessageWriter as MessageWriter

__all__ = [
    "ALGORITHMS",
    "ALL_MAIL",
    "Account",
    "AccountExists",
    "AsyncStore",
    "CertificateError",
    "CertificatePaths",
    "Change",
    "ChangeKind",
    "ConfigError",
    "CopyResult",
    "DB_FILENAME",
    "DEFAULT_DATA_DIR",
    "DEFAULT_MAILBOXES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_PORT_OFFSET",
    "Delivered",
    "FlagMode",
    "ImportFormatError",
    "ImportResult",
    "IntrospectionSettings",
    "InvalidName",
    "InvalidToken",
    "JWTClaims",
    "JWTKey",
    "JWTSettings",
    "JWTValidator",
    "LineEndingCounter",
    "MIGRATIONS",
    "MailFormat",
    "MailboxExists",
    "MailboxInfo",
    "MessageInfo",
    "MessageTooLarge",
    "MessageWriter",
    "NoSuchAccount",
    "NoSuchMailbox",
    "PopEntry",
    "RECENT_PREFIX",
    "ROLES",
    "Role",
    "SCHEMA_VERSION",
    "SMTPRole",
    "SchemaTooNew",
    "SearchQuery",
    "SelectInfo",
    "ServeConfig",
    "Store",
    "StoreError",
    "StoreIMAPBackend",
    "StorePOP3Backend",
    "StoreResult",
    "StoreSMTPBackend",
    "Submitted",
    "Subscription",
    "TOKEN_PREFIX",
    "TokenCheck",
    "TokenSettingsError",
    "TokenValidator",
    "UidRange",
    "banner",
    "detect_format",
    "ensure_certificate",
    "ensure_data_dir",
    "import_mail",
    "introspection_from_table",
    "jwt_from_table",
    "load_config",
    "normalize_flags",
    "serve",
    "server_ssl_context",
    "split_recent",
    "validate_address",
]
