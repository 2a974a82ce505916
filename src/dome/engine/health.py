"""When an engine is ready: it holds every replica discovery gave it, each in sync.

The readiness probe (``dome.health``) gates the client Service, the PodDisruptionBudget
and the StatefulSet's rolling update. "The process serves" is not enough for those: an
engine whose follower is still catching up holds a copy nobody could fail over to, and
rolling the next pod then would leave that symbol with one fewer in-sync replica. So an
engine in a cluster is ready only when:

- its discovery lease is valid (discovery counts it alive), and it has a placement;
- for every symbol, the placement names a primary (no election open), and where the
  placement makes this engine the primary its replica leads, where it makes it a
  follower its replica follows and the placement lists it in sync; a symbol this
  engine holds no replica of asks nothing;
- no replica has stopped on a failure (``Replica.failed``).

A standalone engine (no discovery) is ready as soon as it serves.
"""

from __future__ import annotations

from dome.engine.member import ClusterMember
from dome.engine.replica import Replica, Role
from dome.v1 import discovery_pb2 as ds


def engine_ready(member: ClusterMember | None) -> bool:
    """Whether this engine should receive traffic and count as available (see above)."""
    if member is None:
        return True
    agent = member.agent
    if agent is None or not agent.lease_valid() or agent.current_placement is None:
        return False
    placed = {sp.symbol: sp for sp in agent.current_placement.symbols}
    return all(
        replica_in_sync(member.engine_id, replica, placed.get(symbol))
        for symbol, replica in member.replicas.items()
    )


def replica_in_sync(engine_id: str, replica: Replica, sp: ds.SymbolPlacement | None) -> bool:
    """One symbol's part of ``engine_ready``."""
    if sp is None or not sp.primary or replica.failed is not None:
        return False
    if sp.primary == engine_id:
        return replica.role is Role.PRIMARY
    if engine_id in sp.followers:
        return replica.role is Role.FOLLOWER and engine_id in sp.in_sync
    return True
