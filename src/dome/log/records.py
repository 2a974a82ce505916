"""Framing of journal records: a checked header, then the payload, back to back in a file.

Header (12 bytes, little-endian): payload length, CRC32 of the payload, CRC32 of those
first 8 bytes. The header's own CRC is what separates a torn tail from corruption: a
header that checks out but runs past the end of the file was cut short by a crash (drop
it quietly), while a header or payload that fails its CRC is damage (stop, keep it for
inspection). Without it a flipped bit in a length would pass for a torn tail and silently
discard every record after it.

A crash can also leave a file extended with zeros (filesystems allocate before the data
lands); an all-zero remainder is treated as torn too.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

HEADER = struct.Struct("<III")
_LENGTH_CRC = struct.Struct("<II")
#: Largest payload a record may hold; a header claiming more is damage.
MAX_PAYLOAD = 64 * 1024 * 1024


def frame(payload: bytes) -> bytes:
    """Header plus payload, ready for one ``os.write``.

    >>> len(frame(b"abc")) == HEADER.size + 3
    True
    """
    head = _LENGTH_CRC.pack(len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


class Stop(NamedTuple):
    """Where and why a scan stopped before the end of the data."""

    offset: int
    reason: str
    #: True for a tail cut short by a crash; False for damage.
    torn: bool


class Scan(NamedTuple):
    """The good records of a buffer, and what ended the scan early (if anything)."""

    #: (byte offset of the header, payload) for every record that checks out, in order.
    records: list[tuple[int, bytes]]
    #: Byte offset just past the last good record.
    end: int
    stop: Stop | None


def scan(data: bytes) -> Scan:
    """Split ``data`` into records, stopping at the first that does not check out.

    >>> scan(frame(b"a") + frame(b"bc")[:5]).stop
    Stop(offset=13, reason='incomplete header (5 of 12 bytes)', torn=True)
    """
    records: list[tuple[int, bytes]] = []
    offset = 0
    size = len(data)
    while offset < size:
        stop, payload = _check(data, offset)
        if stop is not None:
            # A valid header is never all zeros, so this only reclassifies failures.
            if data.count(0, offset) == size - offset:
                stop = Stop(offset, f"{size - offset} zero bytes at the end", True)
            return Scan(records, offset, stop)
        records.append((offset, payload))
        offset += HEADER.size + len(payload)
    return Scan(records, offset, None)


def _check(data: bytes, offset: int) -> tuple[Stop | None, bytes]:
    """The record at ``offset``, or why there is none."""
    left = len(data) - offset
    if left < HEADER.size:
        return Stop(offset, f"incomplete header ({left} of {HEADER.size} bytes)", True), b""
    length, payload_crc, header_crc = HEADER.unpack_from(data, offset)
    if zlib.crc32(data[offset : offset + 8]) != header_crc:
        return Stop(offset, "header checksum mismatch", False), b""
    if length > MAX_PAYLOAD:
        return Stop(offset, f"record length {length} too large", False), b""
    start = offset + HEADER.size
    if length > len(data) - start:
        reason = f"incomplete record ({len(data) - start} of {length} payload bytes)"
        return Stop(offset, reason, True), b""
    payload = data[start : start + length]
    if zlib.crc32(payload) != payload_crc:
        return Stop(offset, "payload checksum mismatch", False), b""
    return None, payload
