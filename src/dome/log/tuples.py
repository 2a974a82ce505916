"""Events and resting orders as JSON arrays: ``[type name, field, field, ...]``.

Snapshots carry the idempotency window's remembered events and the book's orders. They
must decode into exactly the tuples the core made (same NamedTuple type, IntEnum members,
bools as bools), or a restored market would hash and answer differently. The field types
come from the NamedTuples' own annotations, so a field added to an event is carried
without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any, get_type_hints

from dome.core.book_api import RestingOrder
from dome.core.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderRejected,
    OrderRested,
    Trade,
)
from dome.log.errors import LogFormatError

#: Every tuple type a snapshot may hold, by the name written in front of its fields.
TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        OrderAccepted,
        Trade,
        OrderRested,
        OrderCancelled,
        OrderAmended,
        OrderRejected,
        RestingOrder,
    )
}


def _converter(kind: Any) -> Callable[[Any], Any]:
    if isinstance(kind, type) and issubclass(kind, IntEnum):
        return kind
    if kind is bool:
        return _exact(bool)
    if kind is int:
        return _exact(int)
    if kind is str:
        return _exact(str)
    raise TypeError(f"no JSON form for field type {kind!r}")


def _exact(kind: type[Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise ValueError(f"expected {kind.__name__}, got {value!r}")
        return value

    return check


_FIELDS: dict[str, list[Callable[[Any], Any]]] = {
    name: [_converter(kind) for kind in get_type_hints(cls).values()] for name, cls in TYPES.items()
}


def to_json(value: tuple[Any, ...]) -> list[Any]:
    """``[name, *fields]`` with enums as their integers.

    >>> from dome.core.types import Side
    >>> to_json(OrderRested(3, 7, "alice", Side.SELL, 101, 5))
    ['OrderRested', 3, 7, 'alice', 2, 101, 5]
    """
    return [type(value).__name__, *(int(v) if isinstance(v, IntEnum) else v for v in value)]


def from_json(raw: Any) -> Any:
    """The tuple ``to_json`` made; ``LogFormatError`` for anything else.

    >>> from_json(['OrderRested', 3, 7, 'alice', 2, 101, 5]).side
    <Side.SELL: 2>
    """
    if not isinstance(raw, list) or not raw or raw[0] not in TYPES:
        raise LogFormatError(f"not a tagged tuple: {raw!r:.80}")
    converters = _FIELDS[raw[0]]
    if len(raw) != len(converters) + 1:
        raise LogFormatError(f"{raw[0]} needs {len(converters)} fields: {raw!r:.80}")
    try:
        fields = [convert(value) for convert, value in zip(converters, raw[1:], strict=True)]
    except ValueError as exc:
        raise LogFormatError(f"{raw[0]}: {exc}") from None
    return TYPES[raw[0]](*fields)
