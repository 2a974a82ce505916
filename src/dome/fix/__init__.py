"""The FIX 4.4 gateway: FIX sessions for trading clients, as a client of the exchange.

``dome fix`` accepts FIX 4.4 sessions (one per account) and turns each into calls of the
SDK (``dome.client.Client``), so orders reach their symbol's primary through discovery
and survive a failover like any other client's. The session layer is QuickFIX (C++,
through its Python binding): logon, heartbeats, test requests, sequence numbers kept in
the data directory, resend requests, gap fills, duplicates. This package only maps FIX
to DOME and back:

- ``requests``: an incoming FIX message to a typed request, or the FIX reject it earns;
- ``orders``: the account's orders as FIX sees them; DOME execution reports to FIX
  ExecutionReports (ClOrdID chains, CumQty, AvgPx, deterministic ExecIDs);
- ``market_data``: book pictures to snapshots (W) and incremental refreshes (X), and
  ``subscriptions``, a session's live MarketDataRequests;
- ``state``: the gateway's own state in the data directory (SQLite), so a restart
  resumes every account's report stream where it was;
- ``desk``: one account's worker on the asyncio loop (its client, its requests), with
  ``pump``, its report stream made into ExecutionReports, and ``replies``, the
  messages the gateway makes itself;
- ``application``: the QuickFIX callbacks, bridging QuickFIX's threads to the loop;
- ``server``: the process (settings, QuickFIX acceptor, metrics, ready file).

See docs/fix.md for the tag mapping and the rejects.
"""
