"""The gateway's own state in its data directory: orders, stream positions, what was sent.

QuickFIX keeps each session's sequence numbers and sent messages (its FileStore); this
file keeps what only the gateway knows, per account, in SQLite (one transaction per
change, write-ahead log), so that a restart, even after SIGKILL, resumes exactly:

- every order as FIX sees it (``orders.FixOrder``: ClOrdIDs, CumQty, a cancel or
  replace in flight), written before the request goes to the exchange;
- per symbol, the position in the account's DOME report stream: (seq, count) of the
  last report turned into FIX, so the stream resumes after it;
- the session's next outgoing MsgSeqNum when that position was written (and the
  store's creation time, which a sequence reset changes). An ExecutionReport sent after
  that mark but before the next write is found again in QuickFIX's store on restart,
  and its report is then applied without being sent twice.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from dome.fix.orders import FixOrder, Orders

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    account TEXT NOT NULL, coid TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (account, coid));
CREATE TABLE IF NOT EXISTS positions (
    account TEXT NOT NULL, symbol TEXT NOT NULL, seq INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (account, symbol));
CREATE TABLE IF NOT EXISTS sent (
    account TEXT PRIMARY KEY, next_seq INTEGER NOT NULL, store_created TEXT NOT NULL);
"""

#: Per symbol: (seq of the last report handled, how many reports of that seq).
Positions = dict[str, tuple[int, int]]


@dataclass
class SentMark:
    """The session's next outgoing MsgSeqNum (and its store's birth) at the last write."""

    next_seq: int
    store_created: str


@dataclass
class AccountState:
    """What a restart reads back for one account."""

    orders: Orders
    positions: Positions = field(default_factory=dict)
    sent: SentMark | None = None


class GatewayState:
    """The state file (``DATA_DIR/gateway.sqlite``); used from the event loop's thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # A process crash loses nothing committed; only a machine crash could lose the
        # last transactions, as QuickFIX's own store (no fsync by default) would.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def accounts(self) -> list[str]:
        """Accounts with any state (their report streams resume at start-up)."""
        rows = self._db.execute(
            "SELECT account FROM positions UNION SELECT account FROM orders ORDER BY 1"
        )
        return [r[0] for r in rows]

    def load(self, account: str) -> AccountState:
        orders = Orders(account)
        for (data,) in self._db.execute("SELECT data FROM orders WHERE account = ?", (account,)):
            orders.load(FixOrder.from_json(json.loads(data)))
        positions = {
            symbol: (seq, count)
            for symbol, seq, count in self._db.execute(
                "SELECT symbol, seq, count FROM positions WHERE account = ?", (account,)
            )
        }
        row = self._db.execute(
            "SELECT next_seq, store_created FROM sent WHERE account = ?", (account,)
        ).fetchone()
        return AccountState(orders, positions, SentMark(row[0], row[1]) if row else None)

    def save(
        self,
        orders: Orders,
        positions: Positions | None = None,
        sent: SentMark | None = None,
    ) -> None:
        """Write the orders changed since the last save, and positions and mark if given."""
        changed, dropped = orders.take_dirty()
        if not (changed or dropped or positions or sent):
            return
        account = orders.account
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT OR REPLACE INTO orders (account, coid, data) VALUES (?, ?, ?)",
                [(account, o.coid, json.dumps(o.to_json())) for o in changed],
            )
            db.executemany(
                "DELETE FROM orders WHERE account = ? AND coid = ?",
                [(account, coid) for coid in dropped],
            )
            if positions:
                db.executemany(
                    "INSERT OR REPLACE INTO positions (account, symbol, seq, count) "
                    "VALUES (?, ?, ?, ?)",
                    [(account, s, seq, n) for s, (seq, n) in positions.items()],
                )
            if sent is not None:
                db.execute(
                    "INSERT OR REPLACE INTO sent (account, next_seq, store_created) "
                    "VALUES (?, ?, ?)",
                    (account, sent.next_seq, sent.store_created),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
