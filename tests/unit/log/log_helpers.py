"""Shared material for the log tests: a seeded command flow cut into batches, and encoding."""

from __future__ import annotations

import random
from collections.abc import Sequence

from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.instrument import Instrument
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.log.entries import DecodedBatch, decode_batch, encode_batch

SYMBOL = "LOG-TEST"
INSTRUMENT = Instrument(SYMBOL, min_qty=1, max_qty=100, min_price=90, max_price=110)
TYPES = [OrderType.LIMIT] * 6 + [OrderType.POST_ONLY, OrderType.IOC, OrderType.FOK]


def command_batches(
    seed: int, count: int, first_seq: int = 1, max_batch: int = 8
) -> list[list[Command]]:
    """``count`` commands from ``first_seq`` on, in batches of 1..max_batch sharing a time.

    Mixed order types, cancels and amends of recent ids, and repeated client order ids
    so the idempotency window takes part.
    """
    rng = random.Random(seed)
    batches: list[list[Command]] = []
    seq = first_seq
    end = first_seq + count
    while seq < end:
        size = min(rng.randint(1, max_batch), end - seq)
        ts = 1_700_000_000_000_000_000 + seq * 1_000
        batch: list[Command] = []
        for _ in range(size):
            batch.append(_command(rng, seq, ts))
            seq += 1
        batches.append(batch)
    return batches


def _command(rng: random.Random, seq: int, ts: int) -> Command:
    account = rng.choice(["a", "b", "c"])
    target = rng.randint(max(1, seq - 40), max(1, seq - 1))
    roll = rng.random()
    if roll < 0.15:
        return CancelOrder(seq, ts, account, target)
    if roll < 0.3:
        qty = rng.choice([0, rng.randint(1, 20)])
        return AmendOrder(seq, ts, account, target, qty, rng.choice([0, rng.randint(95, 105)]))
    order_type = rng.choice([*TYPES, OrderType.MARKET])
    price = 0 if order_type == OrderType.MARKET else rng.randint(95, 105)
    cid = rng.choice(["", "", f"c{rng.randint(1, 50)}"])
    side = rng.choice(list(Side))
    stp = rng.choice(list(SelfTradePrevention))
    return NewOrder(seq, ts, seq, account, cid, side, order_type, price, rng.randint(1, 20), stp)


def encoded(
    batches: Sequence[Sequence[Command]], epoch: int = 1, committed_lag: int = 0
) -> list[tuple[bytes, DecodedBatch]]:
    """Each batch encoded, with committed_seq = its first seq - 1 - ``committed_lag``."""
    out = []
    for batch in batches:
        committed = max(batch[0].seq - 1 - committed_lag, 0)
        data = encode_batch(SYMBOL, epoch, batch, committed)
        out.append((data, decode_batch(data)))
    return out
