"""``dome order``, ``dome cancel``, ``dome amend``, ``dome orders``, ``dome history``,
``dome positions``: one account's order entry and its own record.

The CLI sends prices and quantities as typed (``check=False``) so that the exchange, the
single judge of its rules, answers an off-grid value with its own reject reason.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from dome.cli_commands import render
from dome.cli_commands.common import (
    UsageError,
    add_connection_arguments,
    load_tls,
    print_json,
    resolve_data_dir,
    resolve_target,
    resolve_token,
    run_command,
)
from dome.client import Client, NoLocalExchange, local_discovery

ORDER_TYPES = ("limit", "market", "ioc", "fok", "post_only")


def register(sub: Any) -> None:
    """Add the order-entry subcommands to the ``dome`` parser."""
    p = sub.add_parser("order", help="place an order")
    add_connection_arguments(p, token=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--side", required=True, choices=("buy", "sell"))
    p.add_argument("--type", default="limit", choices=ORDER_TYPES)
    p.add_argument("--qty", required=True, help="decimal quantity")
    p.add_argument("--price", help="decimal limit price (not for market orders)")
    p.add_argument("--client-order-id", help="your id; a retry with it never books twice")
    p.set_defaults(func=lambda a: run_command(a, _order))

    p = sub.add_parser("cancel", help="cancel one of your orders, or all of them")
    add_connection_arguments(p, token=True)
    p.add_argument("--symbol", help="the order's symbol (with --all: only this symbol)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--order-id", type=int)
    which.add_argument("--client-order-id", help="the order's client order id")
    which.add_argument(
        "--all", action="store_true", help="every open order of yours (exchange-side)"
    )
    p.set_defaults(func=lambda a: run_command(a, _cancel))

    p = sub.add_parser("amend", help="change the quantity and/or price of one of your orders")
    add_connection_arguments(p, token=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--order-id", required=True, type=int)
    p.add_argument("--qty", help="new open quantity")
    p.add_argument("--price", help="new price")
    p.set_defaults(func=lambda a: run_command(a, _amend))

    p = sub.add_parser("history", help="your own fills and order reports on a symbol")
    add_connection_arguments(p, token=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--from-seq", type=int, default=0, help="first seq (0: the oldest held)")
    p.add_argument("--limit", type=int, default=0, help="most reports (0: all held)")
    p.set_defaults(func=lambda a: run_command(a, _history))

    p = sub.add_parser("positions", help="the exchange's record of your positions on a symbol")
    add_connection_arguments(p, token=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--book", default="", help="one book only (client order ids BOOK/...)")
    p.set_defaults(func=lambda a: run_command(a, _positions))

    p = sub.add_parser("orders", help="list your open orders")
    add_connection_arguments(p, token=True)
    p.add_argument("--symbol", required=True)
    p.set_defaults(func=lambda a: run_command(a, _orders))


def connect(args: argparse.Namespace, *, token: bool) -> Client:
    """A client for a command's target, failing within the command's timeout."""
    target = resolve_target(args)
    args.resolved_target = target
    secret = resolve_token(args) if token else None
    return Client(
        target,
        secret,
        timeout=args.timeout,
        retry_deadline=args.timeout,
        check=False,
        tls=load_tls(args),
    )


async def _order(args: argparse.Namespace) -> int:
    async with connect(args, token=True) as client:
        result = await client.submit_order(
            args.symbol,
            args.side,
            args.qty,
            args.price,
            args.type,
            client_order_id=args.client_order_id,
        )
    _show(args, render.order_json(result), render.result_text, result)
    return 0


async def _cancel(args: argparse.Namespace) -> int:
    if not args.all and not args.symbol:
        raise UsageError("--symbol is needed to cancel one order (or use --all)")
    async with _cluster_client(args) or connect(args, token=True) as client:
        if args.all:
            results = await client.cancel_all(args.symbol)
            rows = [render.cancel_json(r) for r in results]
            if args.json:
                print_json(rows)
            else:
                print(f"cancelled {sum(not r.rejected for r in results)} order(s)")
            return 0
        result = await client.cancel_order(
            args.symbol, args.order_id or 0, client_order_id=args.client_order_id
        )
    _show(args, render.cancel_json(result), render.result_text, result)
    return 0


def _cluster_client(args: argparse.Namespace) -> Client | None:
    """For ``cancel --all`` over every symbol of a local cluster: a client through its
    discovery, which calls each symbol's primary (one engine leads only some)."""
    if not args.all or args.symbol or args.target or os.environ.get("DOME_TARGET"):
        return None
    try:
        discovery = local_discovery(resolve_data_dir(args))
    except NoLocalExchange:
        return None
    if discovery is None:
        return None
    args.resolved_target = discovery
    return Client(
        discovery=discovery,
        token=resolve_token(args),
        timeout=args.timeout,
        retry_deadline=args.timeout,
        check=False,
        tls=load_tls(args),
    )


async def _history(args: argparse.Namespace) -> int:
    reports = []
    async with connect(args, token=True) as client:
        from_seq = args.from_seq
        while True:
            page = await client.history_page(args.symbol, from_seq)
            reports += page.reports
            if not page.next_from_seq or (args.limit and len(reports) >= args.limit):
                break
            from_seq = page.next_from_seq
    rows = [render.execution_json(r) for r in reports[: args.limit or None]]
    if args.json:
        print_json(rows)
    else:
        header = ["seq", "exec_type", "order_id", "client_order_id", "side", "status"]
        header += ["price", "fill_qty", "fill_price", "remaining_qty"]
        print(render.table([[str(r[h]) for h in header] for r in rows], header))
    return 0


async def _positions(args: argparse.Namespace) -> int:
    async with connect(args, token=True) as client:
        record = await client.positions(args.symbol, args.book)
    header = ["book", "qty", "avg_price", "gross_realised", "bought", "sold", "fills"]
    rows = [
        {
            "book": r.book,
            "qty": str(r.position.qty),
            "avg_price": str(r.position.avg_price),
            "gross_realised": str(r.position.gross),
            "bought": str(r.position.bought),
            "sold": str(r.position.sold),
            "fills": r.position.fills,
            "maker_notional": str(r.maker_notional),
            "taker_notional": str(r.taker_notional),
        }
        for r in record.books.values()
    ]
    if args.json:
        print_json({"symbol": record.symbol, "as_of_seq": record.as_of_seq,
                    "complete": record.complete, "positions": rows})  # fmt: skip
    else:
        print(render.table([[str(r[h]) for h in header] for r in rows], header))
        if not record.complete:
            print("(the engine lacks early fills: an older snapshot)", file=sys.stderr)
    return 0


async def _amend(args: argparse.Namespace) -> int:
    async with connect(args, token=True) as client:
        result = await client.amend_order(
            args.symbol, args.order_id, qty=args.qty, price=args.price
        )
    _show(args, render.amend_json(result), render.result_text, result)
    return 0


async def _orders(args: argparse.Namespace) -> int:
    async with connect(args, token=True) as client:
        orders = await client.open_orders(args.symbol)
    rows = [render.open_order_json(o) for o in orders]
    if args.json:
        print_json(rows)
    else:
        header = ["order_id", "client_order_id", "side", "price", "qty", "remaining_qty", "status"]
        print(render.table([[str(r[h]) for h in header] for r in rows], header))
    return 0


def _show(args: argparse.Namespace, doc: Any, text: Callable[[Any], str], value: Any) -> None:
    if args.json:
        print_json(doc)
    else:
        print(text(value))
