"""Channels from this engine to the others, by engine id, with optional mutual TLS.

Placement names engines by id; their addresses come with it. A channel is opened once
per address and reused by every replication stream and forwarded call to that engine.
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
        self._channels: dict[str, grpc.aio.Channel] = {}

    def update(self, addresses: dict[str, str]) -> None:
        """Learn the current addresses (engines keep theirs across restarts on Kubernetes)."""
        self._addresses.update(addresses)

    def address(self, engine_id: str) -> str:
        """The address of ``engine_id``; ``Unavailable`` if unknown."""
        address = self._addresses.get(engine_id)
        if not address:
            raise Unavailable(f"no address known for engine {engine_id!r}")
        return address

    def channel(self, engine_id: str) -> grpc.aio.Channel:
        """The shared channel to ``engine_id``."""
        address = self.address(engine_id)
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
