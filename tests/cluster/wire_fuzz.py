"""Hostile request bytes for every RPC, generated from the protos' own descriptors.

Each payload is one of: raw random bytes; a message of the method's request type filled
field by field with boundary values (extreme integers, unknown enum numbers, empty,
control-character, very long and non-ASCII strings, long repeated fields, nested
messages); such a message cut short or with bytes flipped; or one whose string field
holds invalid UTF-8. Seeded, so a failure names a payload that can be replayed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from dome.v1 import discovery_pb2, market_data_pb2, replication_pb2, trading_pb2

ENGINE_SERVICES = (
    trading_pb2.DESCRIPTOR.services_by_name["TradingService"],
    market_data_pb2.DESCRIPTOR.services_by_name["MarketDataService"],
    replication_pb2.DESCRIPTOR.services_by_name["ReplicationService"],
)
DISCOVERY_SERVICES = (discovery_pb2.DESCRIPTOR.services_by_name["DiscoveryService"],)

_INTS = (0, 1, -1, 2**31 - 1, -(2**31), 2**62, 2**63 - 1, -(2**63))
_UINTS = (0, 1, 2**32 - 1, 2**62, 2**63, 2**64 - 1)
_STRINGS = ("", " ", "\x00", "\n\t", "é☃𝄞", "1e9", "-0.0", "NaN", "0.000000001", "Bearer x")


@dataclass(frozen=True)
class Rpc:
    """One method: its path and how it streams."""

    path: str
    request: Descriptor
    client_streaming: bool
    server_streaming: bool


def rpcs(services: tuple[Any, ...]) -> list[Rpc]:
    """Every method of ``services``."""
    found = []
    for service in services:
        method: MethodDescriptor
        for method in service.methods:
            found.append(
                Rpc(
                    f"/{service.full_name}/{method.name}",
                    method.input_type,
                    method.client_streaming,
                    method.server_streaming,
                )
            )
    return found


def _message_class(descriptor: Descriptor) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _value(rng: random.Random, field: FieldDescriptor, depth: int) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return _fill(rng, field.message_type, depth + 1)
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return rng.choice([*numbers, 99, -1, 2**31 - 1])
    if kind == FieldDescriptor.TYPE_STRING:
        pick = rng.random()
        if pick < 0.1:
            return "x" * rng.choice((65, 256, 10_000))
        if pick < 0.2:
            return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 40)))
        return rng.choice(_STRINGS)
    if kind == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.randrange(0, 64))
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return rng.choice((0, 1, 2**32 - 1))
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return rng.choice(_UINTS)
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32):
        return rng.choice((0, 1, -1, 2**31 - 1, -(2**31)))
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice((0.0, -1.0, 1e308, float("nan"), float("inf")))
    return rng.choice(_INTS)


def _fill(rng: random.Random, descriptor: Descriptor, depth: int = 0) -> Any:
    message = _message_class(descriptor)()
    if depth > 3:
        return message
    oneofs_done: set[str] = set()
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None:
            if oneof.name in oneofs_done or rng.random() < 0.5:
                continue
            oneofs_done.add(oneof.name)
        elif rng.random() < 0.3:
            continue
        if field.is_repeated:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                continue
            count = rng.choice((0, 1, 3, 50, 2_000 if depth == 0 else 5))
            target = getattr(message, field.name)
            for _ in range(count):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    target.add().CopyFrom(_fill(rng, field.message_type, depth + 1))
                else:
                    target.append(_value(rng, field, depth))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, field.name).CopyFrom(_value(rng, field, depth))
        else:
            setattr(message, field.name, _value(rng, field, depth))
    return message


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bad_utf8(rng: random.Random, descriptor: Descriptor) -> bytes:
    strings = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING]
    number = rng.choice(strings).number if strings else 1
    junk = rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"ok\xfe\xfd"))
    return _varint(number << 3 | 2) + _varint(len(junk)) + junk


def payload(rng: random.Random, descriptor: Descriptor) -> bytes:
    """One hostile payload for a request of type ``descriptor``."""
    pick = rng.random()
    if pick < 0.2:
        return rng.randbytes(rng.randrange(0, 200))
    if pick < 0.3:
        return _bad_utf8(rng, descriptor)
    data = _fill(rng, descriptor).SerializeToString()
    if pick < 0.45 and data:
        return data[: rng.randrange(0, len(data))]
    if pick < 0.6 and data:
        flipped = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    return data


def payloads(seed: int, rpc: Rpc, count: int) -> Iterator[bytes]:
    """``count`` payloads for ``rpc``, reproducible from ``seed``."""
    rng = random.Random(f"{seed}:{rpc.path}")
    for _ in range(count):
        yield payload(rng, rpc.request)
