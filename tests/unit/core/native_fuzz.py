"""Hostile log batches for the native core's ``apply_encoded``, and a runner for many.

Inputs are random bytes and valid ``LogBatch`` encodings damaged the ways bytes get
damaged (bit flips, bytes changed, dropped, inserted or duplicated, truncation, two
batches spliced). Each input goes to a native market and, decoded by the Python log
(``dome.log.entries.decode_batch``), to a Python market in the same state. The rules:

- the native core raises nothing but ``ValueError`` (``LogFormatError``), and a refusal
  leaves its state hash as it was;
- it refuses exactly what the Python decoder refuses, and what both accept gives the
  same results and the same state hash on both cores.

``python tests/unit/core/native_fuzz.py --count N`` (``make fuzz-native``) runs N inputs
and prints how many were refused and accepted; the hypothesis test in
``test_native_lockstep.py`` uses the same pieces.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from typing import Any

from dome.core.commands import AmendOrder, CancelOrder, Command, NewOrder
from dome.core.instrument import Instrument
from dome.core.market import Market
from dome.core.reference import ReferenceBook
from dome.core.types import OrderType, SelfTradePrevention, Side
from dome.log.entries import decode_batch, encode_batch
from dome.log.errors import LogFormatError

INSTRUMENT = Instrument("FUZ", min_qty=1, max_qty=1_000, min_price=90, max_price=110)
ACCOUNTS = ("a", "b", "c", "")
INT64 = (-(2**63), 2**63 - 1)
UINT64_MAX = 2**64 - 1
#: New orders get fresh ids, as from the sequencer (mutations may still repeat one).
_IDS = itertools.count(1)


def random_commands(rng: random.Random, first_seq: int, count: int) -> list[Command]:
    """Commands with mostly sane values, some at the edges of their wire types."""

    def price() -> int:
        roll = rng.random()
        if roll < 0.05:
            return rng.choice([0, -1, *INT64])
        return rng.randint(88, 112)

    def qty() -> int:
        roll = rng.random()
        if roll < 0.05:
            return rng.choice([0, -1, 1_001, *INT64])
        return rng.randint(1, 30)

    def order_id() -> int:
        """A cancel's or amend's target: mostly a recent id, sometimes none at all."""
        newest = next(_IDS)
        return rng.choice([max(1, newest - rng.randint(0, 40)), 0, UINT64_MAX])

    out: list[Command] = []
    for seq in range(first_seq, first_seq + count):
        account = rng.choice(ACCOUNTS)
        roll = rng.random()
        if roll < 0.15:
            out.append(CancelOrder(seq, 7, account, order_id()))
        elif roll < 0.3:
            out.append(AmendOrder(seq, 7, account, order_id(), rng.choice([0, qty()]), price()))
        else:
            order_type = rng.choice(list(OrderType))
            cid = rng.choice(["", "", f"c{rng.randint(1, 20)}", "x" * 65, "é"])
            out.append(
                NewOrder(
                    seq,
                    7,
                    next(_IDS),
                    account,
                    cid,
                    rng.choice(list(Side)),
                    order_type,
                    0 if order_type == OrderType.MARKET and rng.random() < 0.8 else price(),
                    qty(),
                    rng.choice(list(SelfTradePrevention)),
                )
            )
    return out


def valid_batch(rng: random.Random, first_seq: int | None = None) -> bytes:
    """One encoded batch of 1-8 commands."""
    first = first_seq if first_seq is not None else rng.choice([1, rng.randint(1, 10**6)])
    commands = random_commands(rng, first, rng.randint(1, 8))
    return encode_batch(INSTRUMENT.symbol, rng.randint(0, 5), commands, rng.randint(0, 9))


def mutate(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """``data`` damaged once or a few times."""
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        roll = rng.randrange(7)
        at = rng.randrange(len(buf) + 1)
        if roll == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif roll == 1 and buf:  # change a byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif roll == 2 and buf:  # drop a few bytes
            del buf[at : at + rng.randint(1, 4)]
        elif roll == 3:  # insert interesting bytes
            buf[at:at] = bytes(
                rng.choice([[0x00], [0xFF], [0x80] * 10, [0x0A, 0x7F], [0x32, 0x00]])
            )
        elif roll == 4 and buf:  # duplicate a slice
            end = min(len(buf), at + rng.randint(1, 16))
            buf[at:at] = buf[at:end]
        elif roll == 5:  # truncate
            del buf[at:]
        else:  # splice with another batch
            cut = rng.randrange(len(other) + 1)
            buf = buf[:at] + bytearray(other[cut:])
    return bytes(buf)


def hostile(rng: random.Random) -> bytes:
    """Random bytes (a quarter of the time) or a damaged valid batch."""
    if rng.random() < 0.25:
        return rng.randbytes(rng.randint(0, 64))
    return mutate(rng, valid_batch(rng), valid_batch(rng))


class OutsideContract(Exception):
    """The Python core failed on the input: there is nothing to compare with."""


class Pair:
    """A native market and a Python market kept in the same state."""

    def __init__(self, native: Any, seed: int = 0) -> None:
        self.native = native.Market(INSTRUMENT, dedup_window=16)
        self.python = Market(ReferenceBook(INSTRUMENT), dedup_window=16)
        rng = random.Random(seed)
        warm_up = valid_batch(rng, first_seq=1)
        assert self.native.apply_encoded(warm_up) == self.python.apply_batch(
            decode_batch(warm_up).commands
        )

    def feed(self, data: bytes) -> bool:
        """Give ``data`` to both; True when it was accepted. AssertionError on a rule broken."""
        before = self.native.state_hash()
        try:
            decoded = decode_batch(data)
        except LogFormatError as exc:
            expected: Exception | None = exc
        else:
            expected = None
        try:
            got = self.native.apply_encoded(data)
        except LogFormatError as exc:
            refusal: LogFormatError | None = exc
        else:
            refusal = None
        if refusal is not None:
            assert self.native.state_hash() == before, "a refusal changed the state"
            assert expected is not None, f"native refused ({refusal}) what Python accepts: {data!r}"
            return False
        assert expected is None, f"native accepted what Python refuses ({expected}): {data!r}"
        try:
            want = self.python.apply_batch(decoded.commands)
        except Exception as exc:
            # Outside the Python core's contract: a new order reusing the id of one still
            # on the book (the sequencer never does that; the Python book breaks with a
            # KeyError, which its apply_batch wraps). The native core must only have
            # survived it, which it did.
            raise OutsideContract(repr(exc.__cause__ or exc)) from None
        assert got == want, data
        assert self.native.state_hash() == self.python.state_hash(), data
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        import dome_native
    except ImportError as exc:
        print(f"dome_native does not import ({exc}): run `make native` first", file=sys.stderr)
        return 1
    rng = random.Random(args.seed)
    pair = Pair(dome_native, args.seed)
    accepted = outside = 0
    start = time.perf_counter()
    for n in range(args.count):
        if n % 5_000 == 0 and n:
            # A fresh pair now and then, so the state does not drift far from sane.
            pair = Pair(dome_native, args.seed + n)
        try:
            accepted += pair.feed(hostile(rng))
        except OutsideContract:
            outside += 1
            pair = Pair(dome_native, args.seed + n)
    elapsed = time.perf_counter() - start
    refused = args.count - accepted - outside
    print(
        f"fuzz-native: {args.count:,} inputs in {elapsed:.1f} s: {refused:,} refused "
        f"(LogFormatError, state unchanged), {accepted:,} accepted (same results and state "
        f"hash as the Python core), {outside:,} accepted that the Python core fails on "
        "(a reused open order id); no other exception"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
