"""protokit: sans-IO IMAP, POP3, SMTP/LMTP and SASL.

The package root holds only what every protocol shares: the version, the error
family and the ``NEED_DATA`` sentinel.  Protocols live in ``protokit.imap``,
``protokit.pop3``, ``protokit.smtp`` and ``protokit.sasl``; the byte-level
machinery in ``protokit.wire``.  Nothing here imports outside the standard
library.
"""

from ._sentinel import NEED_DATA as NEED_DATA
from ._sentinel import NeedData as NeedData
from ._version import __version__ as __version__
from .errors import LocalProtocolError as LocalProtocolError
from .errors import ProtocolError as ProtocolError
from .errors import RemoteProtocolError as RemoteProtocolError
from .wire._secret import Secret as Secret

__all__ = [
    "NEED_DATA",
    "LocalProtocolError",
    "NeedData",
    "ProtocolError",
    "RemoteProtocolError",
    "Secret",
    "__version__",
]
