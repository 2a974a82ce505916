"""The exchange's position record on a real engine: exact, and still there after a restart.

A restarted bot used to learn its position by replaying its execution history from the
start. That history is bounded and starts afresh at a restored snapshot, so after an
engine restart (or a few seconds of a busy book) the bot started flat. The engine now
keeps every account's position per book in its snapshots; these tests restart the
engine with kill -9 on a tiny snapshot interval, check that the history really is gone,
and that both ``Client.positions`` and a restarted ``BotRunner`` still see it exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from decimal import Decimal as D
from pathlib import Path

import pytest
from cluster_harness import ACCOUNTS, Cluster, running_cluster

from dome.client import (
    Bot,
    BotAction,
    BotRunner,
    Client,
    FeeSchedule,
    Fill,
    HistoryUnavailableError,
    MarketView,
    Portfolio,
)
from dome.core.types import Side
from waiting import eventually

pytestmark = pytest.mark.timeout(120)
SYM = "AAA-USD"
TAG = "mm"
FEES = FeeSchedule(maker=D("-0.0002"), taker=D("0.001"))
#: (maker side, price, qty, taker qty): the maker's quotes and how much of each is taken.
QUOTES = [("sell", "10", "5", "3"), ("sell", "11", "2", "2"), ("buy", "9", "4", "4"),
          ("buy", "8.5", "6", "1"), ("sell", "12.25", "7", "7")]  # fmt: skip


class Idle(Bot):
    """A bot that only watches: what matters here is where its position starts."""

    asked = False

    def generate_orders(self, view: MarketView) -> Sequence[BotAction]:
        self.asked = True  # the runner asks only once its start (the seed) is done
        return ()

    def on_fill(self, execution: object, fill: Fill) -> None:
        pass


async def trade(discovery: str) -> Portfolio:
    """Alice quotes under the bot's book, bob takes; the portfolio her fills make."""
    expected = Portfolio({SYM: FEES})
    async with (
        Client(discovery=discovery, token=ACCOUNTS["alice"]) as alice,
        Client(discovery=discovery, token=ACCOUNTS["bob"]) as bob,
    ):
        for n, (side, price, qty, taken) in enumerate(QUOTES):
            quote = await alice.submit_order(SYM, side, qty, price, client_order_id=f"{TAG}/r-{n}")
            other = "buy" if side == "sell" else "sell"
            taken_by = await bob.submit_order(SYM, other, taken, price, "ioc")
            for fill in taken_by.fills:
                maker_fill = Fill(fill.trade_id, fill.price, fill.qty, True)
                expected.apply(SYM, quote.order_id, Side[side.upper()], maker_fill)
        # Orders outside the book count in their own book, not in it.
        await alice.submit_order(SYM, "sell", "1", "10")
        await bob.submit_order(SYM, "buy", "1", "10", "ioc")
    return expected


@pytest.fixture
def restarted(tmp_path: Path) -> Iterator[tuple[Cluster, Portfolio]]:
    """A one-engine exchange that traded, snapshotting every 2 entries, then was killed
    with -9 and started again: it recovers from its latest snapshot."""
    with running_cluster(tmp_path, 1, symbols=(SYM,), snapshot_every=2) as cluster:
        expected = asyncio.run(trade(cluster.discovery_address))
        engine = cluster.engine("engine-0")
        engine.kill()
        engine.start()
        cluster.wait_placed()
        yield cluster, expected


async def test_positions_survive_a_restart_that_loses_the_history(
    restarted: tuple[Cluster, Portfolio],
) -> None:
    cluster, expected = restarted
    async with Client(discovery=cluster.discovery_address, token=ACCOUNTS["alice"]) as alice:
        # The precondition: the history a restarted runner used to replay is gone.
        with pytest.raises(HistoryUnavailableError):
            await alice.subscribe_executions([SYM], from_seq={SYM: 1})
        record = await alice.positions(SYM)
        assert record.complete
        assert set(record.books) == {TAG, ""}
        assert record.books[TAG].booked(FEES) == expected.position(SYM)
        assert record.book(TAG).position.fills == expected.position(SYM).fills > len(QUOTES)
        portfolio = await alice.portfolio([SYM], book=TAG, fees={SYM: FEES})
        assert portfolio.position(SYM) == expected.position(SYM)
        assert (await alice.positions(SYM, TAG)).books.keys() == {TAG}
    async with Client(discovery=cluster.discovery_address, token=ACCOUNTS["bob"]) as bob:
        assert (await bob.positions(SYM, TAG)).books == {}


async def test_a_restarted_bot_starts_from_its_position_after_an_engine_restart(
    restarted: tuple[Cluster, Portfolio],
) -> None:
    cluster, expected = restarted
    async with Client(discovery=cluster.discovery_address, token=ACCOUNTS["alice"]) as alice:
        bot = Idle(SYM)
        runner = BotRunner(bot, alice, tag=TAG, fees=FEES)
        task = runner.start()
        await eventually(lambda: bot.asked or task.done(), 20, "the bot's first turn")
        stats = await runner.stop()
        assert stats.errors == 0
        assert runner.seeded
        assert runner.portfolio.position(SYM) == expected.position(SYM)
