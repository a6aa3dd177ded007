from __future__ import annotations

import enum
from typing import Final

__all__ = ["NEED_DATA", "NeedData"]


class NeedData(enum.Enum):
    """The type of :data:`NEED_DATA`.

    ``next_event()`` returns ``NEED_DATA`` when no complete event is buffered:
    feed more bytes with ``receive_data()`` and call it again.  A one-member
    enum so that ``if ev is NEED_DATA`` narrows the type for mypy.
    """

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"

    __str__ = __repr__


NEED_DATA: Final = NeedData.NEED_DATA
