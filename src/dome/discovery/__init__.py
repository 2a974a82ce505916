"""Discovery: the engine registry with leases, symbol placement with epochs, failover.

The decisions are a pure state machine (``core``); stores keep epochs safe across
restarts (``store``, ``file_store``, ``kube_store``); the service, its gRPC adapter and
the engine-side ``agent`` are thin layers around them.
"""
