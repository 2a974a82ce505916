"""``dome replay``: rebuild one symbol from its snapshot and journal, printing every event.

The engine's recovery path run by hand, read-only (nothing in the data directory is
repaired, moved or created), so it is safe next to a running engine and its output is a
deterministic function of the files: one JSON line per replayed command, with the
command, whether it was a duplicate, and its events. Two runs on the same files print
the same bytes; diffing two replicas' output finds where they part.

Exit codes: 0 when everything journaled replayed (a torn tail, the normal trace of a
crash, is noted on stderr); 1 when a corrupt record ended the replay early (stderr names
the file and byte offset; what replayed before it is printed) or the files do not fit
together; 2 for usage errors (``DOME_CORE`` naming a core that cannot run included).
The core is chosen as the engine chooses it (``dome.cores``); both cores replay alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from enum import IntEnum
from pathlib import Path
from typing import Any

from dome.cli_commands.common import fail


def register(sub: Any) -> None:
    """Add ``dome replay`` to the ``dome`` parser."""
    from dome.core.market import DEFAULT_DEDUP_WINDOW

    p = sub.add_parser(
        "replay",
        help="replay a symbol's snapshot and journal, printing every event as JSON",
        description="Rebuild a symbol from DIR/<SYMBOL>/ (its snapshots/ and journal/, or "
        "both in the directory itself) without changing any file, and print one JSON "
        "line per command.",
    )
    p.add_argument("--data-dir", type=Path, required=True, help="the engine's data directory")
    p.add_argument("--symbol", required=True, help="symbol to replay, e.g. BTC-USD")
    p.add_argument("--instruments", type=Path, help="instruments file (default: built-in set)")
    p.add_argument(
        "--dedup-window",
        type=int,
        default=DEFAULT_DEDUP_WINDOW,
        help="client order ids remembered; must match the engine's (default: %(default)s)",
    )
    p.add_argument(
        "--include-pending",
        action="store_true",
        help="also apply batches beyond the commit watermark (the engine would not yet)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dome.cores import CoreError, select_core
    from dome.instrument_spec import DEFAULT_INSTRUMENTS, InstrumentFileError, load_instruments
    from dome.log.errors import JournalError, LogFormatError, RecoveryError
    from dome.log.recovery import recover, symbol_dirs

    try:
        core = select_core()
    except CoreError as exc:
        return fail(f"error: {exc}", 2)
    try:
        specs = (
            load_instruments(args.instruments)
            if args.instruments
            else {s.symbol: s for s in DEFAULT_INSTRUMENTS}
        )
    except InstrumentFileError as exc:
        return fail(f"error: {exc}", 2)
    spec = specs.get(args.symbol)
    if spec is None:
        return fail(f"error: unknown symbol {args.symbol!r} (known: {', '.join(specs)})", 2)
    directory = args.data_dir / args.symbol
    if not directory.is_dir():
        return fail(f"no data for {args.symbol}: {directory} is not a directory", 1)
    # This command reports damage itself, in one line; the log's records would repeat it.
    logging.getLogger("dome.log").addHandler(logging.NullHandler())
    out = sys.stdout
    write = out.write

    def show(batch: Any, results: Any) -> None:
        for cmd, result in zip(batch.commands, results, strict=True):
            write(render(cmd, result.duplicate, result.events) + "\n")

    journal_dir, snapshot_dir = symbol_dirs(directory)
    try:
        recovered = recover(
            journal_dir,
            spec.to_core(),
            core.market_factory,
            args.dedup_window,
            on_batch=show,
            read_only=True,
            include_pending=args.include_pending,
            snapshot_dir=snapshot_dir,
        )
    except (RecoveryError, JournalError, LogFormatError) as exc:
        out.flush()
        return fail(str(exc), 1)
    out.flush()
    recovered.journal.close()
    if recovered.snapshot_seq:
        print(f"dome: started from the snapshot at seq {recovered.snapshot_seq}", file=sys.stderr)
    if recovered.pending:
        first, last = recovered.pending[0].first_seq, recovered.pending[-1].last_seq
        print(
            f"dome: seq {first}..{last} is journaled but not known committed; not applied "
            "(--include-pending applies it)",
            file=sys.stderr,
        )
    damage = recovered.journal.damage
    if damage is not None and not damage.torn:
        return fail(f"replay stopped at a {damage.describe()}", 1)
    if damage is not None:
        print(f"dome: ignored a {damage.describe()}", file=sys.stderr)
    return 0


def render(cmd: tuple[Any, ...], duplicate: bool, events: tuple[Any, ...]) -> str:
    """One command and its events as a JSON line, enums by name, fields in order.

    >>> from dome.core.commands import CancelOrder
    >>> render(CancelOrder(3, 9, "a", 1), False, ())
    '{"seq":3,"command":{"type":"CancelOrder","seq":3,"timestamp_ns":9,"account":"a","order_id":1},"duplicate":false,"events":[]}'
    """
    line = {
        "seq": cmd[0],
        "command": _fields(cmd),
        "duplicate": duplicate,
        "events": [_fields(e) for e in events],
    }
    return json.dumps(line, separators=(",", ":"))


def _fields(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(value).__name__}
    for name, field in zip(value._fields, value, strict=True):
        out[name] = field.name if isinstance(field, IntEnum) else field
    return out
