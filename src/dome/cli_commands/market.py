"""``dome book`` and ``dome trades``: public market data, no account needed.

``--watch`` follows StreamBook through the SDK's gap-checked local book, so what is drawn
is always a book the exchange really had at the printed sequence number.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dome.cli_commands import render
from dome.cli_commands.common import (
    UsageError,
    add_connection_arguments,
    print_json,
    run_command,
)
from dome.cli_commands.trading import connect


def register(sub: Any) -> None:
    """Add the market-data subcommands to the ``dome`` parser."""
    p = sub.add_parser("book", help="show a symbol's order book")
    add_connection_arguments(p, token=False)
    p.add_argument("--symbol", required=True)
    p.add_argument("--depth", type=int, default=10, help="levels per side (default: 10)")
    p.add_argument("--watch", action="store_true", help="follow the book live")
    p.set_defaults(func=lambda a: run_command(a, _book))

    p = sub.add_parser("trades", help="show a symbol's recent trades")
    add_connection_arguments(p, token=False)
    p.add_argument("--symbol", required=True)
    p.add_argument("--limit", type=int, default=20, help="how many, newest last (default: 20)")
    p.set_defaults(func=lambda a: run_command(a, _trades))


async def _book(args: argparse.Namespace) -> int:
    if args.depth < 0:
        raise UsageError("--depth must be 0 or more")
    async with connect(args, token=False) as client:
        if not args.watch:
            book = await client.book(args.symbol, args.depth)
            print_json(render.book_json(book)) if args.json else print(render.book_table(book))
            return 0
        tty = sys.stdout.isatty() and not args.json
        async for local in client.book_updates(args.symbol, args.depth):
            snap = local.snapshot(args.depth)
            if args.json:
                print_json(render.book_json(snap))
            elif tty:
                print("\x1b[H\x1b[2J" + render.book_table(snap), flush=True)
            else:
                print(render.book_table(snap) + "\n", flush=True)
    return 0


async def _trades(args: argparse.Namespace) -> int:
    async with connect(args, token=False) as client:
        trades = await client.trades(args.symbol, args.limit)
    rows = [render.trade_json(t) for t in trades]
    if args.json:
        print_json(rows)
    else:
        header = ["trade_id", "seq", "price", "qty", "aggressor"]
        print(render.table([[str(r[h]) for h in header] for r in rows], header))
    return 0
