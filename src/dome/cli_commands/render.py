"""SDK results as the CLI prints them: the JSON shapes scripts rely on, and plain tables.

Prices and quantities leave as decimal strings without exponent or trailing zeros, enums
as lowercase names, so ``dome order --json`` reads like what was typed in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dome.client.models import (
    BookSnapshot,
    Execution,
    Level,
    OpenOrder,
    OrderResult,
    Trade,
    enum_name,
)
from dome.instrument_spec import format_decimal


def d(value: Decimal) -> str:
    return format_decimal(value)


def order_json(result: OrderResult) -> dict[str, Any]:
    """``dome order`` output."""
    return {
        "order_id": result.order_id,
        "client_order_id": result.client_order_id,
        "status": enum_name(result.status),
        "reject_reason": enum_name(result.reject_reason),
        "filled_qty": d(result.filled_qty),
        "remaining_qty": d(result.remaining_qty),
        "fills": [
            {"trade_id": f.trade_id, "price": d(f.price), "qty": d(f.qty)} for f in result.fills
        ],
    }


def cancel_json(result: OrderResult) -> dict[str, Any]:
    """``dome cancel`` output."""
    return {
        "order_id": result.order_id,
        "status": enum_name(result.status),
        "reject_reason": enum_name(result.reject_reason),
        "cancelled_qty": d(result.cancelled_qty),
    }


def amend_json(result: OrderResult) -> dict[str, Any]:
    """``dome amend`` output: the cancel shape plus what is open, filled and traded."""
    out = cancel_json(result)
    out["remaining_qty"] = d(result.remaining_qty)
    out["filled_qty"] = d(result.filled_qty)
    out["fills"] = order_json(result)["fills"]
    return out


def book_json(book: BookSnapshot) -> dict[str, Any]:
    """``dome book`` output: levels as [price, qty, order_count], best first."""

    def side(levels: tuple[Level, ...]) -> list[list[Any]]:
        return [[d(lv.price), d(lv.qty), lv.order_count] for lv in levels]

    return {
        "symbol": book.symbol,
        "seq": book.seq,
        "bids": side(book.bids),
        "asks": side(book.asks),
    }


def open_order_json(order: OpenOrder) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "side": enum_name(order.side),
        "price": d(order.price),
        "qty": d(order.qty),
        "remaining_qty": d(order.remaining_qty),
        "status": enum_name(order.status),
    }


def execution_json(report: Execution) -> dict[str, Any]:
    """One row of ``dome history``."""
    fill = report.fill
    return {
        "seq": report.seq,
        "exec_type": enum_name(report.exec_type),
        "order_id": report.order_id,
        "client_order_id": report.client_order_id,
        "side": enum_name(report.side),
        "status": enum_name(report.status),
        "price": d(report.price),
        "fill_qty": d(fill.qty) if fill else "",
        "fill_price": d(fill.price) if fill else "",
        "trade_id": fill.trade_id if fill else None,
        "remaining_qty": d(report.remaining_qty),
        "reject_reason": enum_name(report.reject_reason),
    }


def trade_json(trade: Trade) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "seq": trade.seq,
        "price": d(trade.price),
        "qty": d(trade.qty),
        "aggressor": enum_name(trade.aggressor),
    }


def table(rows: list[list[str]], header: list[str]) -> str:
    """Right-aligned columns under a header."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = [
        " ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=False)) for r in [header, *rows]
    ]
    return "\n".join(lines)


def book_table(book: BookSnapshot) -> str:
    """Bids and asks side by side, best first."""
    rows = []
    for i in range(max(len(book.bids), len(book.asks))):
        bid = book.bids[i] if i < len(book.bids) else None
        ask = book.asks[i] if i < len(book.asks) else None
        rows.append(
            [
                str(bid.order_count) if bid else "",
                d(bid.qty) if bid else "",
                d(bid.price) if bid else "",
                d(ask.price) if ask else "",
                d(ask.qty) if ask else "",
                str(ask.order_count) if ask else "",
            ]
        )
    title = f"{book.symbol}  seq {book.seq}"
    return title + "\n" + table(rows, ["orders", "bid qty", "bid", "ask", "ask qty", "orders"])


def result_text(result: OrderResult) -> str:
    """One line for humans."""
    text = f"order {result.order_id} {enum_name(result.status)}"
    if result.rejected:
        text += f": {enum_name(result.reject_reason)} ({result.reject_message})"
    else:
        text += f", filled {d(result.filled_qty)}, open {d(result.remaining_qty)}"
        if result.cancelled_qty:
            text += f", cancelled {d(result.cancelled_qty)}"
    fills = "".join(f"\n  trade {f.trade_id}: {d(f.qty)} @ {d(f.price)}" for f in result.fills)
    return text + fills
