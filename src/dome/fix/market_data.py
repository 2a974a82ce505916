"""Book pictures and trades as FIX market data: snapshots (W) and incremental refreshes (X).

The SDK keeps a gap-checked copy of a book (``LocalBook``, rebuilt from a fresh
snapshot after a gap or a failover); each change becomes the difference between the
picture the subscriber was last sent and the new one, level by level within the
requested depth: MDUpdateAction New, Change or Delete. So whatever happened upstream
(a resync, a move to another replica), what the subscriber holds after applying the
updates is the book. Trades are sent as new entries of type Trade with the trade id as
MDEntryID.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from dome.client.models import Level, Trade
from dome.fix import tags as t
from dome.fix.orders import Fields
from dome.instrument_spec import format_decimal

#: One side of a picture: price -> (quantity, order count).
Side = dict[Decimal, tuple[Decimal, int]]


def picture(levels: Iterable[Level]) -> Side:
    """The levels of one side as a comparable picture."""
    return {lv.price: (lv.qty, lv.order_count) for lv in levels}


def level_entry(entry_type: str, price: Decimal, qty: Decimal, count: int) -> Fields:
    """One bid or offer entry of a snapshot."""
    return [
        (t.MD_ENTRY_TYPE, entry_type),
        (t.MD_ENTRY_PX, format_decimal(price)),
        (t.MD_ENTRY_SIZE, format_decimal(qty)),
        (t.NUMBER_OF_ORDERS, str(count)),
    ]


def snapshot_entries(
    bids: Side, asks: Side, trades: Iterable[Trade], entry_types: frozenset[str]
) -> list[Fields]:
    """The NoMDEntries of a MarketDataSnapshotFullRefresh, best levels first.

    >>> snapshot_entries({Decimal("99"): (Decimal(2), 1)}, {}, [], frozenset({"0", "1"}))
    [[(269, '0'), (270, '99'), (271, '2'), (346, '1')]]
    """
    entries: list[Fields] = []
    if t.MD_BID in entry_types:
        for price in sorted(bids, reverse=True):
            entries.append(level_entry(t.MD_BID, price, *bids[price]))
    if t.MD_OFFER in entry_types:
        for price in sorted(asks):
            entries.append(level_entry(t.MD_OFFER, price, *asks[price]))
    if t.MD_TRADE in entry_types:
        for trade in trades:
            entries.append(
                [
                    (t.MD_ENTRY_TYPE, t.MD_TRADE),
                    (t.MD_ENTRY_PX, format_decimal(trade.price)),
                    (t.MD_ENTRY_SIZE, format_decimal(trade.qty)),
                ]
            )
    return entries


def level_changes(symbol: str, entry_type: str, before: Side, after: Side) -> list[Fields]:
    """The incremental entries that turn side ``before`` into ``after``.

    >>> before = {Decimal("99"): (Decimal(2), 1), Decimal("98"): (Decimal(1), 1)}
    >>> after = {Decimal("99"): (Decimal(3), 2), Decimal("97"): (Decimal(5), 1)}
    >>> [(e[0][1], e[3][1]) for e in level_changes("XYZ", "0", before, after)]
    [('2', '98'), ('1', '99'), ('0', '97')]
    """
    out: list[Fields] = []
    for price in sorted(set(before) - set(after)):
        out.append(
            [
                (t.MD_UPDATE_ACTION, t.MD_DELETE),
                (t.MD_ENTRY_TYPE, entry_type),
                (t.SYMBOL, symbol),
                (t.MD_ENTRY_PX, format_decimal(price)),
            ]
        )
    for price in sorted(after, reverse=entry_type == t.MD_BID):
        if price in before and before[price] == after[price]:
            continue
        action = t.MD_CHANGE if price in before else t.MD_NEW
        qty, count = after[price]
        out.append(
            [
                (t.MD_UPDATE_ACTION, action),
                (t.MD_ENTRY_TYPE, entry_type),
                (t.SYMBOL, symbol),
                (t.MD_ENTRY_PX, format_decimal(price)),
                (t.MD_ENTRY_SIZE, format_decimal(qty)),
                (t.NUMBER_OF_ORDERS, str(count)),
            ]
        )
    return out


def trade_entry(trade: Trade) -> Fields:
    """An incremental entry for one public trade."""
    return [
        (t.MD_UPDATE_ACTION, t.MD_NEW),
        (t.MD_ENTRY_TYPE, t.MD_TRADE),
        (t.MD_ENTRY_ID, str(trade.trade_id)),
        (t.SYMBOL, trade.symbol),
        (t.MD_ENTRY_PX, format_decimal(trade.price)),
        (t.MD_ENTRY_SIZE, format_decimal(trade.qty)),
    ]
