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
from ._pump import Pump as Pump
from ._pump import SansIOConnection as SansIOConnection
from ._pump import Timeouts as Timeouts

__all__ = [
    "ConnectError",
    "ConnectionClosed",
    "OperationTimeout",
    "Pump",
    "ReadError",
    "SansIOConnection",
    "TLSError",
    "Timeouts",
    "TransportError",
    "WriteError",
    "map_exceptions",
]
