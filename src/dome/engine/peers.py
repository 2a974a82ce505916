"""Channels from this engine to the others, by engine id, with optional mutual TLS.

Placement names engines by id; their addresses come with it: the client address, where
forwarded orders go (a forwarded order is a client's call, checked as one), and the peer
address, where replication goes (``peer_channel``). An engine without a peer address (no
``--peer-port``, or a version from before peer ports) serves replication on its client
address, so that is where replication goes then: a mixed-version exchange keeps
replicating during a rolling upgrade. A channel is opened once per address and reused by
every replication stream and forwarded call to it.
Replication calls carry ``metadata``, the exchange's peer credential (``dome.peer_auth``);
forwarded orders carry their account's bearer token instead, as any client's would.

With TLS, a channel presents and trusts the files in force when it was opened. Once they
are renewed (``dome.tls_renewal``), the next call to an engine gets a new channel with
the renewed files; the old one is not closed before ``close``, so streams still running
on it (a follower's replication session) are not cut, and they come back through a new
channel when they end. Renewals are months apart: the old channels cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from dome.engine.errors import Unavailable
from dome.tls import open_channel
from dome.tls_renewal import TlsSource


class Peers:
    """Engine id -> address (from placement) -> one shared channel."""

    def __init__(
        self, tls: TlsSource | None = None, metadata: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._tls = tls
        #: The TLS generation ``_channels`` were opened with.
        self._generation = 0 if tls is None else tls.generation
        #: Channels opened before a renewal, still carrying whatever runs on them.
        self._retired: list[grpc.aio.Channel] = []
        #: What every peer (replication) call carries: the peer secret.
        self.metadata = tuple(metadata)
        self._addresses: dict[str, str] = {}
        self._peer_addresses: dict[str, str] = {}
        #: Live engines of the latest placement that serve replication on their client
        #: address only (no peer address): an older version's, during a rolling upgrade.
        self.without_peer_port: frozenset[str] = frozenset()
        self._channels: dict[str, grpc.aio.Channel] = {}

    def update(
        self,
        addresses: dict[str, str],
        peer_addresses: dict[str, str] | None = None,
        without_peer_port: frozenset[str] = frozenset(),
    ) -> None:
        """Learn the current addresses (engines keep theirs across restarts on Kubernetes).

        ``peer_addresses`` holds the engines that have one; an engine missing from it
        is replicated with through its client address from now on.
        """
        self._addresses.update(addresses)
        peer_addresses = peer_addresses or {}
        for engine_id in addresses:
            if engine_id in peer_addresses:
                self._peer_addresses[engine_id] = peer_addresses[engine_id]
            else:
                self._peer_addresses.pop(engine_id, None)
        self.without_peer_port = without_peer_port

    def address(self, engine_id: str) -> str:
        """The address of ``engine_id``; ``Unavailable`` if unknown."""
        address = self._addresses.get(engine_id)
        if not address:
            raise Unavailable(f"no address known for engine {engine_id!r}")
        return address

    def peer_address(self, engine_id: str) -> str:
        """Where ``engine_id`` serves replication: its peer address, else its address."""
        return self._peer_addresses.get(engine_id) or self.address(engine_id)

    def channel(self, engine_id: str) -> grpc.aio.Channel:
        """The shared channel to ``engine_id``'s client address (forwarding)."""
        return self._channel_to(self.address(engine_id))

    def peer_channel(self, engine_id: str) -> grpc.aio.Channel:
        """The shared channel to where ``engine_id`` serves replication."""
        return self._channel_to(self.peer_address(engine_id))

    def _channel_to(self, address: str) -> grpc.aio.Channel:
        if self._tls is not None and self._tls.generation != self._generation:
            self._generation = self._tls.generation
            self._retired.extend(self._channels.values())
            self._channels.clear()
        channel = self._channels.get(address)
        if channel is None:
            options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
            files = None if self._tls is None else self._tls.files
            channel = self._channels[address] = open_channel(address, files, options)
        return channel

    async def close(self) -> None:
        """Close every channel."""
        for channel in [*self._retired, *self._channels.values()]:
            await channel.close(None)
        self._channels.clear()
        self._retired.clear()
