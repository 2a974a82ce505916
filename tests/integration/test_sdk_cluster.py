"""The SDK against a cluster: routing by placement, failover retries, resuming streams.

Discovery here is a small servicer in the test serving a placement the test controls;
the engines are real single engines (each alone holds every symbol, which is enough to
see where orders land). For the stream tests two engines get the same orders, so they
produce the same reports and trades as replicas would, and the serving one is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from client_helpers import eventually
from engine_harness import EngineProcess, Stubs, order, start_engine

from dome.client import Client, ExecType, Execution, LocalBook, NewOrder, StreamStats, Trade
from dome.v1 import discovery_pb2 as disc
from dome.v1 import discovery_pb2_grpc as disc_grpc
from dome.v1 import market_data_pb2 as md
from dome.v1 import trading_pb2 as tr

Routes = dict[str, tuple[str, list[str]]]


class FakeDiscovery(disc_grpc.DiscoveryServiceServicer):
    """Serves whatever placement the test sets; every change goes to every watcher."""

    def __init__(self, engines: dict[str, str]) -> None:
        self.engines = engines
        self.dead: set[str] = set()
        self.placement = disc.Placement()
        self._watchers: set[asyncio.Queue[disc.Placement]] = set()
        self.assigned = 0

    def set(self, routes: Routes) -> None:
        self.placement = disc.Placement(
            version=self.placement.version + 1,
            symbols=[
                disc.SymbolPlacement(symbol=s, epoch=1, primary=p, followers=f)
                for s, (p, f) in routes.items()
            ],
            engines=[
                disc.EngineInfo(engine_id=i, address=a, alive=i not in self.dead)
                for i, a in self.engines.items()
            ],
        )
        for queue in self._watchers:
            queue.put_nowait(self.placement)

    async def AssignClient(
        self, request: disc.AssignClientRequest, context: object
    ) -> disc.AssignClientResponse:
        self.assigned += 1
        home = next(i for i in self.engines if i not in self.dead)
        return disc.AssignClientResponse(
            engine_id=home, address=self.engines[home], placement=self.placement
        )

    async def GetPlacement(
        self, request: disc.GetPlacementRequest, context: object
    ) -> disc.Placement:
        return self.placement

    async def WatchPlacement(
        self, request: disc.WatchPlacementRequest, context: object
    ) -> AsyncIterator[disc.Placement]:
        queue: asyncio.Queue[disc.Placement] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            yield self.placement
            while True:
                yield await queue.get()
        finally:
            self._watchers.discard(queue)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EngineProcess]]:
    """Two engines shared by the routing tests (never stopped by them)."""
    base = tmp_path_factory.mktemp("pair")
    engines = {"a": start_engine(base / "a"), "b": start_engine(base / "b")}
    try:
        yield engines
    finally:
        for e in engines.values():
            e.stop()


@contextlib.asynccontextmanager
async def serving(engines: dict[str, EngineProcess]) -> AsyncIterator[FakeDiscovery]:
    discovery = FakeDiscovery({i: e.address for i, e in engines.items()})  # type: ignore[abstract]
    server = grpc.aio.server()
    disc_grpc.add_DiscoveryServiceServicer_to_server(discovery, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    discovery.address = f"127.0.0.1:{port}"  # type: ignore[attr-defined]
    try:
        yield discovery
    finally:
        await server.stop(None)


def client(discovery: FakeDiscovery, account: str = "alice", deadline: float = 10.0) -> Client:
    address: str = discovery.address  # type: ignore[attr-defined]
    return Client(discovery=address, token=f"token-{account}", retry_deadline=deadline)


async def placed(c: Client, symbol: str, address: str | None) -> None:
    """Wait until the client's router names ``address`` as the symbol's primary."""
    router = c._router
    assert router is not None
    await eventually(lambda: router.primary(symbol) == address, f"{symbol} -> {address}")


async def open_coids(engine: EngineProcess, symbol: str, account: str = "alice") -> list[str]:
    async with grpc.aio.insecure_channel(engine.address) as channel:
        stubs = Stubs(channel, engine)
        resp = await stubs.trading.ListOpenOrders(
            tr.ListOpenOrdersRequest(symbol=symbol), metadata=engine.auth(account)
        )
    return [o.client_order_id for o in resp.orders]


# ------------------------------------------------------------------------ routing


async def test_orders_go_to_the_primary_and_follow_a_switch(
    pair: dict[str, EngineProcess],
) -> None:
    a, b = pair["a"], pair["b"]
    sym = a.symbol()
    assert b.symbol() == sym
    async with serving(pair) as discovery:
        discovery.set({sym: ("a", ["b"])})
        async with client(discovery) as c:
            first = await c.submit_order(sym, "buy", "1", "10", client_order_id="r1")
            assert first.is_open
            assert await open_coids(a, sym) == ["r1"]
            assert await open_coids(b, sym) == []

            discovery.set({sym: ("b", ["a"])})
            await placed(c, sym, b.address)
            await c.submit_order(sym, "buy", "1", "10", client_order_id="r2")
            bulk = await c.submit_orders([c_order(sym, "r3"), c_order(sym, "r4")], batch_size=1)
            assert [r.client_order_id for r in bulk] == ["r3", "r4"]
            assert await open_coids(a, sym) == ["r1"]
            assert await open_coids(b, sym) == ["r2", "r3", "r4"]
            cancelled = await c.cancel_order(sym, bulk[0].order_id)
            assert cancelled.cancelled_qty == 1
            assert not cancelled.retried
            assert await open_coids(b, sym) == ["r2", "r4"]


def c_order(symbol: str, coid: str) -> NewOrder:
    return NewOrder(symbol, "buy", "1", "10", client_order_id=coid)


async def test_bulk_orders_are_split_per_symbol_to_each_primary(
    pair: dict[str, EngineProcess],
) -> None:
    a, b = pair["a"], pair["b"]
    one, two = a.symbol(), a.symbol()
    assert (b.symbol(), b.symbol()) == (one, two)
    async with serving(pair) as discovery:
        discovery.set({one: ("a", []), two: ("b", [])})
        async with client(discovery) as c:
            results = await c.submit_orders(
                [c_order(one, "x1"), c_order(two, "x2"), c_order(one, "x3")]
            )
            assert [(r.symbol, r.client_order_id) for r in results] == [
                (one, "x1"),
                (two, "x2"),
                (one, "x3"),
            ]
            assert await open_coids(a, one) == ["x1", "x3"]
            assert await open_coids(b, two) == ["x2"]
            assert await open_coids(b, one) == []
            assert await open_coids(a, two) == []


async def test_an_order_waits_while_the_symbol_has_no_primary(
    pair: dict[str, EngineProcess],
) -> None:
    a, b = pair["a"], pair["b"]
    sym = a.symbol()
    assert b.symbol() == sym
    async with serving(pair) as discovery:
        discovery.set({sym: ("", ["a", "b"])})  # an election is open
        async with client(discovery) as c:
            router = c._router
            assert router is not None
            submit = asyncio.create_task(
                c.submit_order(sym, "buy", "1", "10", client_order_id="w1")
            )
            seen = router.version
            await asyncio.sleep(0)  # let the call start and find no primary
            assert not submit.done()
            discovery.set({sym: ("b", ["a"])})
            result = await asyncio.wait_for(submit, 5)
            assert router.version > seen
            assert result.client_order_id == "w1"
            assert result.is_open
            assert await open_coids(b, sym) == ["w1"]
            assert await open_coids(a, sym) == []


async def test_no_primary_until_the_deadline_is_unavailable(
    pair: dict[str, EngineProcess],
) -> None:
    from dome.client import UnavailableError

    sym = pair["a"].symbol()
    pair["b"].symbol()
    async with serving(pair) as discovery:
        discovery.set({sym: ("", ["a"])})
        async with client(discovery, deadline=0.3) as c:
            with pytest.raises(UnavailableError, match="no primary"):
                await c.submit_order(sym, "buy", "1", "10")


async def test_a_dead_primary_is_retried_on_the_new_one_with_the_same_id(
    pair: dict[str, EngineProcess], tmp_path: Path
) -> None:
    doomed = start_engine(tmp_path / "doomed")
    engines = {**pair, "d": doomed}
    sym = pair["b"].symbol()
    pair["a"].symbol()
    try:
        async with serving(engines) as discovery:
            discovery.set({sym: ("d", ["b"])})
            async with client(discovery) as c:
                await c.submit_order(sym, "buy", "1", "10", client_order_id="k0")
                assert await open_coids(doomed, sym) == ["k0"]
                doomed.proc.kill()
                doomed.proc.wait()
                submit = asyncio.create_task(
                    c.submit_order(sym, "buy", "2", "10", client_order_id="k1")
                )
                channel = c._router.channel(doomed.address)  # type: ignore[union-attr]
                failed = grpc.ChannelConnectivity.TRANSIENT_FAILURE
                await eventually(
                    lambda: channel.get_state() == failed, "an attempt on the dead primary"
                )
                assert not submit.done()  # failed once, and waiting for a new placement
                discovery.dead.add("d")
                discovery.set({sym: ("b", [])})
                result = await asyncio.wait_for(submit, 10)
                assert (result.client_order_id, result.is_open) == ("k1", True)
                assert await open_coids(pair["b"], sym) == ["k1"]
                # Retrying with the same id again is answered, not booked twice.
                again = await c.submit_order(sym, "buy", "2", "10", client_order_id="k1")
                assert again.duplicate
                assert again.order_id == result.order_id
                assert await open_coids(pair["b"], sym) == ["k1"]
    finally:
        doomed.stop()


# ------------------------------------------------------------------------ streams


async def both(engines: list[EngineProcess], account: str, request: tr.SubmitOrderRequest) -> None:
    """Submit ``request`` to every engine, as replicas would all apply it."""
    for engine in engines:
        async with grpc.aio.insecure_channel(engine.address) as channel:
            await Stubs(channel, engine).submit(account, request)


async def test_streams_resume_on_another_replica_without_gap_or_repeat(tmp_path: Path) -> None:
    first, second = start_engine(tmp_path / "e1"), start_engine(tmp_path / "e2")
    replicas = [first, second]
    sym = first.symbol()
    assert second.symbol() == sym
    try:
        async with serving({"e1": first, "e2": second}) as discovery:
            discovery.set({sym: ("e1", ["e2"])})
            async with client(discovery) as c:
                reports: list[Execution] = []
                trades: list[Trade] = []
                books: list[LocalBook] = []
                estats, tstats, bstats = StreamStats(), StreamStats(), StreamStats()
                executions = await c.subscribe_executions([sym], estats)
                trade_stream = await c.subscribe_trades(sym, tstats)

                async def follow_books() -> None:
                    async for book in c.book_updates(sym, stats=bstats):
                        books[:] = [book]

                async def follow_reports() -> None:
                    async for report in executions:
                        reports.append(report)

                async def follow_trades() -> None:
                    async for trade in trade_stream:
                        trades.append(trade)

                tasks = [
                    asyncio.create_task(f()) for f in (follow_reports, follow_trades, follow_books)
                ]
                try:
                    await both(
                        replicas, "alice", order(sym, "sell", "2", "10", client_order_id="m1")
                    )
                    await both(
                        replicas, "alice", order(sym, "sell", "3", "11", client_order_id="m2")
                    )
                    # One taker order, two alice reports with one seq.
                    await both(replicas, "bob", order(sym, "buy", "4", "11"))
                    await eventually(lambda: len(reports) == 4 and len(trades) == 2, "e1's reports")
                    assert reports[2].seq == reports[3].seq

                    first.proc.kill()
                    first.proc.wait()
                    discovery.dead.add("e1")
                    discovery.set({sym: ("e2", [])})
                    async with grpc.aio.insecure_channel(second.address) as channel:
                        stubs = Stubs(channel, second)
                        await stubs.submit(
                            "alice", order(sym, "sell", "5", "12", client_order_id="m3")
                        )
                        await stubs.submit("bob", order(sym, "buy", "1", "12"))
                        expected = await stubs.market.GetBook(md.GetBookRequest(symbol=sym))
                    await eventually(lambda: len(reports) >= 6 and len(trades) >= 3, "e2's reports")
                    await eventually(
                        lambda: books and books[0].seq == expected.seq, "the book from e2"
                    )
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                got = [(r.client_order_id, r.exec_type, r.seq) for r in reports]
                assert [g[:2] for g in got] == [
                    ("m1", ExecType.NEW),
                    ("m2", ExecType.NEW),
                    ("m1", ExecType.TRADE),
                    ("m2", ExecType.TRADE),
                    ("m3", ExecType.NEW),
                    ("m2", ExecType.TRADE),  # bob's last buy takes m2's last lot at 11
                ]
                assert len(set(got)) == len(got)
                assert estats.gaps == 0
                assert estats.resyncs == 1
                assert [t.trade_id for t in trades] == [1, 2, 3]
                assert tstats.gaps == 0
                assert tstats.resyncs == 1
                ask = books[0].best_ask()
                assert ask is not None
                assert ask.qty == 5
                assert bstats.resyncs >= 1
    finally:
        first.stop()
        second.stop()
