"""Snapshots: one symbol's replicated state at a sequence number, as versioned JSON.

A snapshot lets a restarting engine skip most of its journal, lets the journal drop old
segments, and lets a follower that fell behind the primary's log catch up
(``FetchSnapshot``). It travels between engines, so it is plain data with a version
number (no pickle: bytes from a peer must never run code), and deterministic (sorted
keys, no whitespace): two engines at the same sequence write the same bytes.

It holds the market (book orders in priority order, last sequence, next trade id, the
idempotency window with its remembered events), the epoch history, the epoch of the
last batch covered, and ``extra``: whatever JSON the engine keeps alongside (its
execution-report chain state). ``state_hash`` is stored too and checked on restore, so
a snapshot that decodes into a different market is refused rather than served.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from dome.core.book_api import BookState, InvariantError
from dome.core.instrument import Instrument
from dome.core.market import MarketSnapshot
from dome.cores import MarketCore, MarketFactory
from dome.log.errors import LogFormatError
from dome.log.tuples import from_json, to_json

FORMAT = "dome.snapshot"
VERSION = 1


class RestoredSnapshot(NamedTuple):
    """A decoded snapshot: the market rebuilt, and what was stored beside it."""

    market: MarketCore
    #: ``market.last_seq``: the sequence number the snapshot reflects.
    seq: int
    #: Epoch of the last batch the snapshot covers.
    epoch: int
    #: (epoch, first seq of that epoch), oldest first.
    epochs: list[tuple[int, int]]
    extra: dict[str, Any]


def encode_snapshot(
    market: MarketCore, epoch: int, epochs: list[tuple[int, int]], extra: Mapping[str, Any]
) -> bytes:
    """``market`` and its companions as deterministic JSON bytes.

    ``ValueError`` if ``extra`` is not JSON (finite numbers, string keys).
    """
    snap = market.snapshot()
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "symbol": market.instrument.symbol,
        "seq": snap.last_seq,
        "epoch": epoch,
        "epochs": [[int(e), int(s)] for e, s in epochs],
        "book": {
            "last_seq": snap.book.last_seq,
            "next_trade_id": snap.book.next_trade_id,
            "orders": [to_json(o) for o in snap.book.orders],
        },
        "seen": [
            [account, cid, [to_json(e) for e in events]] for account, cid, events in snap.seen
        ],
        "state_hash": market.state_hash(),
        "extra": dict(extra),
    }
    try:
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except TypeError as exc:
        raise ValueError(f"snapshot extra is not JSON: {exc}") from None
    return text.encode()


def decode_snapshot(
    data: bytes,
    instrument: Instrument,
    market_factory: MarketFactory,
    dedup_window: int,
) -> RestoredSnapshot:
    """Rebuild the market of ``encode_snapshot`` bytes into a fresh one of ``market_factory``.

    ``LogFormatError`` for bytes that are not a snapshot of ``instrument`` in a known
    version, for an inconsistent book, or when the rebuilt market's hash differs from
    the stored one.
    """
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise LogFormatError("not a DOME snapshot")
        if doc.get("version") != VERSION:
            raise LogFormatError(f"snapshot version {doc.get('version')!r}, expected {VERSION}")
        if doc["symbol"] != instrument.symbol:
            raise LogFormatError(f"snapshot of {doc['symbol']}, expected {instrument.symbol}")
        raw_book = doc["book"]
        book = BookState(
            instrument.symbol,
            _int(raw_book["last_seq"]),
            _int(raw_book["next_trade_id"]),
            tuple(from_json(o) for o in raw_book["orders"]),
        )
        seen = tuple(
            (_str(account), _str(cid), tuple(from_json(e) for e in events))
            for account, cid, events in doc["seen"]
        )
        market = market_factory(instrument, dedup_window)
        market.restore(MarketSnapshot(book, _int(doc["seq"]), seen))
        epochs = [(_int(e), _int(s)) for e, s in doc["epochs"]]
        extra = doc["extra"]
        if not isinstance(extra, dict):
            raise LogFormatError("snapshot extra is not an object")
        if len(seen) <= dedup_window and market.state_hash() != doc["state_hash"]:
            raise LogFormatError("restored market does not match the snapshot's state hash")
        return RestoredSnapshot(market, market.last_seq, _int(doc["epoch"]), epochs, extra)
    except LogFormatError:
        raise
    except (ValueError, KeyError, TypeError, InvariantError) as exc:
        raise LogFormatError(f"malformed snapshot: {type(exc).__name__}: {exc}") from None


def _int(value: Any) -> int:
    if type(value) is not int:
        raise LogFormatError(f"expected an integer, got {value!r:.40}")
    return value


def _str(value: Any) -> str:
    if type(value) is not str:
        raise LogFormatError(f"expected a string, got {value!r:.40}")
    return value
