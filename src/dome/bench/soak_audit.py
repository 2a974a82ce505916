"""What a soak's audit checks once compaction has deleted the start of every journal.

Each replica's journal holds only the entries after its older kept snapshot (or after
the snapshot it rejoined from), so the audit fetches, per symbol, what every replica
still holds (``ReplicaStatus.first_seq`` on), and checks every acknowledged order in
that range on every replica with ``dome.bench.cluster.audit``. Repeats of a client
order id there are retries the engine answered as duplicates, unless they are further
apart than the idempotency window (``booked_twice``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dome.bench.cluster import audit, fetch_orders
from dome.bench.engine import _read_line
from dome.local.check import replica_status

_RPC_TIMEOUT = 30.0


async def audit_tail(
    placement: dict[str, Any],
    loaders: list[asyncio.subprocess.Process],
    peer: tuple[tuple[str, str], ...],
    dedup_window: int,
) -> dict[str, Any]:
    """Look up the acknowledged orders every replica still holds in every replica.

    Each load process (``dome.bench.soak_load``) is asked for its kept acknowledged orders
    from the highest first sequence number any replica of the symbol still holds.
    """
    addresses = {e["id"]: e["address"] for e in placement["engines"]}
    # FetchLog is served on the peer port, when the engine has one.
    peer_addresses = {e["id"]: e["peer_address"] or e["address"] for e in placement["engines"]}
    statuses = {e: await replica_status(a, _RPC_TIMEOUT) for e, a in addresses.items()}
    first: dict[str, int] = {}
    for symbol, placed in placement["symbols"].items():
        for engine in [placed["primary"], *placed["followers"]]:
            status = statuses[engine]
            if status is None:
                raise RuntimeError(f"{engine} did not answer GetReplicaStatus")
            held = next(r.first_seq for r in status.replicas if r.symbol == symbol)
            first[symbol] = max(first.get(symbol, 1), held)
    journals = {}
    for symbol, placed in placement["symbols"].items():
        for engine in [placed["primary"], *placed["followers"]]:
            journals[(symbol, engine)] = await fetch_orders(
                peer_addresses[engine], symbol, peer, from_seq=first[symbol]
            )
    loads = []
    for proc in loaders:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"from": first}).encode() + b"\n")
        await proc.stdin.drain()
        loads.append(await _read_line(proc, _RPC_TIMEOUT))
    verdict = audit(placement, journals, loads)
    acked = sum(len(orders) for load in loads for orders in load["orders"].values())
    return {
        "lost": verdict["lost"],
        "duplicates": booked_twice(journals, dedup_window),
        # Retries the engine answered as duplicates of the first (not a second order).
        "repeated_in_journal": verdict["duplicates"],
        "audited": verdict["audited"],
        "audited_orders": acked,
        "audited_from_seq": first,
        "problems": verdict["problems"],
    }


def booked_twice(
    journals: dict[tuple[str, str], tuple[dict[int, tuple[int, str, str]], int]],
    dedup_window: int,
) -> int:
    """Per symbol, the most orders any replica's journal books twice, summed over symbols.

    A client order id seen again within ``dedup_window`` new orders is answered as a
    duplicate (the idempotency window still holds it); further apart it is a second order.
    """
    worst: dict[str, int] = {}
    for (symbol, _), (orders, _) in journals.items():
        first: dict[tuple[str, str], int] = {}
        twice = 0
        for index, seq in enumerate(sorted(orders)):
            _, account, coid = orders[seq]
            seen = first.setdefault((account, coid), index)
            twice += index - seen > dedup_window
        worst[symbol] = max(worst.get(symbol, 0), twice)
    return sum(worst.values())
