"""A ClusterIP Service in front of several pods, on loopback: one port, many backends.

A command line that names a Service with more than one pod behind it (two discovery
replicas) cannot name one local port. kube-proxy spreads each new connection over the
Service's endpoints; ``TcpBalancer`` does the same over the ports ``backends()`` gives
at that moment, in turn. A backend that refuses the connection (its process just died,
before its readiness says so) is skipped for the next one, as a client of a real Service
would reach another endpoint on its retry; with none left the client's connection is
closed at once, which gRPC sees as UNAVAILABLE and retries.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Callable

LOCALHOST = "127.0.0.1"
_ACCEPT_POLL = 0.2


class TcpBalancer:
    """Listens on 127.0.0.1 (``address``); pipes each connection to a backend port."""

    def __init__(self, backends: Callable[[], list[int]], name: str = "service") -> None:
        self._backends = backends
        self._listener = socket.create_server((LOCALHOST, 0))
        self._listener.settimeout(_ACCEPT_POLL)
        self._stop = threading.Event()
        self._turn = itertools.count()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, name=f"balancer-{name}",
                                          daemon=True)  # fmt: skip
        self._acceptor.start()

    @property
    def address(self) -> str:
        return f"{LOCALHOST}:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        """Stop accepting and cut every connection piped so far."""
        self._stop.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            for end in self._open:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self._open.clear()

    def _connect(self) -> socket.socket | None:
        ports = self._backends()
        start = next(self._turn)
        for offset in range(len(ports)):
            try:
                return socket.create_connection((LOCALHOST, ports[(start + offset) % len(ports)]),
                                                timeout=2)  # fmt: skip
            except OSError:
                continue  # refused or gone: the next endpoint
        return None

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            try:
                backend = self._connect()
            except Exception:  # the endpoints could not be listed: like none ready
                backend = None
            if backend is None:
                client.close()
                continue
            backend.settimeout(None)
            with self._lock:
                self._open.update((client, backend))
            for source, sink in ((client, backend), (backend, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):  # the other direction closed it first
                    end.shutdown(socket.SHUT_RDWR)
            with self._lock:
                for end in (source, sink):
                    self._open.discard(end)
