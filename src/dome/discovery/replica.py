"""One discovery replica of several: a standby until elected, the leader until deposed.

``dome discovery --leader-lease NAME`` runs this (docs/discovery-ha.md is the design).
The replica serves from its first second, so it is Ready and in its Service at once:

- **Standby.** It campaigns for the leader Lease (``dome.discovery.leader``) and, since
  ``local()`` is None, ``dome.discovery.relay.DiscoveryRouter`` relays every call to the
  leader the Lease names. Ready while its last read of the Lease got an answer: a
  replica cut off from the API server can neither relay to the right leader nor take
  over, so the Service should not send it calls.
- **Leader.** Once the Lease is ours, ``Discovery.start()`` loads the store and, like a
  restarted discovery, decides nothing for ``recovery`` (``Coordinator.load``), which
  ``dome.discovery.handover`` keeps at least the engine grant plus grace: every grant
  the predecessor gave lapses before a replacement can be elected. Then ``local()`` is
  the servicer and calls are answered here. Ready once every symbol is placed.
- **Deposed.** ``LeaderElector.hold()`` returns before the term could lapse: at once
  ``local()`` is None again (no engine call is decided here any more), the tick loop
  stops, and ``run`` returns, whereupon ``dome discovery`` exits non-zero and the kubelet
  restarts it as a fresh candidate. Exiting is the whole state reset: no ``Coordinator``
  is torn down and rebuilt in place, so nothing from the old term can leak into a new one.

Calls flow one way: ``run`` drives the elector and the ``Discovery``; the router and
the probes only ask ``local()`` and ``ready()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from dome.discovery.leader import LeaderElector
from dome.discovery.service import Discovery
from dome.discovery.servicer import DiscoveryServicer

log = logging.getLogger("dome.discovery")


class Deposed(Exception):
    """This replica led and lost the Lease: the process must exit and start over."""


class DiscoveryReplica:
    """A ``Discovery`` that decides only while ``elector`` holds the leader Lease.

    ``on_leading`` runs once the store is loaded (the runtime configuration follower,
    which only the leader applies) and is cancelled when leadership ends.
    """

    def __init__(
        self,
        elector: LeaderElector,
        discovery: Discovery,
        on_leading: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.elector = elector
        self.discovery = discovery
        self._on_leading = on_leading
        self._servicer: DiscoveryServicer | None = None
        self._started = False
        self.deposed = False

    def local(self) -> DiscoveryServicer | None:
        """The servicer while this replica leads; None while a standby or once deposed."""
        if self._servicer is not None and not self.elector.leading():
            # hold() notices a lapsed term at its next renewal; calls must not wait for it.
            self._servicer = None
        return self._servicer

    def leader_address(self) -> str:
        """Where a standby relays (the Lease's address); "" while none is known."""
        return self.elector.leader_address()

    def leading(self) -> bool:
        return self._servicer is not None

    def ready(self) -> bool:
        """The readiness probe: a standby that reads the Lease, a leader that has placed."""
        if self.deposed:
            return False
        if self._servicer is not None:
            return self.discovery.placed.is_set()
        return self.elector.read_ok

    async def run(self) -> None:
        """Campaign, lead until the term ends, then raise ``Deposed`` (nothing decided
        after that). Cancelled (a SIGTERM) it stops deciding and gives the Lease up."""
        following: asyncio.Task[None] | None = None
        holding: asyncio.Task[None] | None = None
        try:
            await self.elector.campaign()
            log.info("discovery replica leads: loading the store",
                     extra={"identity": self.elector.identity})  # fmt: skip
            # Renewing from the first moment: a load slower than the renew deadline
            # must not cost the term it was loading for.
            holding = asyncio.create_task(self.elector.hold(), name="discovery-leader-lease")
            starting = asyncio.create_task(self.discovery.start(), name="discovery-start")
            await asyncio.wait({holding, starting}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()  # a store that cannot be read: raised here
                self._started = True
                if self._on_leading is not None:
                    following = asyncio.create_task(self._on_leading(), name="discovery-config")
                self._servicer = DiscoveryServicer(self.discovery)
                await holding
            else:
                starting.cancel()
                await asyncio.wait({starting})
                # start() may have begun ticking before the cancel landed.
                self._started = True
            self.deposed = True
            raise Deposed(f"{self.elector.identity} lost the leader Lease {self.elector.name}")
        finally:
            self._servicer = None
            for task in (following, holding):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.wait({task})
            if self._started:
                await self.discovery.stop()
            else:
                await self.discovery.store.close()
            if not self.deposed:
                await self.elector.release()
