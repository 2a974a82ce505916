"""The ``dome fix`` process: a QuickFIX acceptor in front of the exchange's SDK.

Start-up order matters for resuming: the acceptor is built first (which creates every
session and opens its store in ``DATA_DIR/store``), then the desk of every account with
saved state resumes its report stream (sending what happened while the gateway was
down into the session's store, to be delivered on Logon or by a resend request), and
only then does the acceptor listen. On SIGINT/SIGTERM it logs every session out, stops
the desks and removes its ready file.

QuickFIX's C++ acceptor binds every interface; with a loopback ``--host`` (the default)
the sessions accept only peers on 127.0.0.1 (QuickFIX's AllowedRemoteAddresses).

With ``fix_tls`` (``--fix-tls-dir``) the FIX port is a TLS front (``tls_front``) that
relays to the acceptor on a loopback port of its own, which then accepts 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import quickfix as fix

from dome.client import Client
from dome.fix.application import GatewayApplication, SessionOutbox, read_store
from dome.fix.desk import Desks
from dome.fix.metrics import FixMetrics
from dome.fix.state import GatewayState
from dome.fix.tls_front import TlsFront, TlsFrontError
from dome.serving import ReadyInfo, announced, client_host, metrics_endpoint, stop_on_signals
from dome.tls import TlsFiles

log = logging.getLogger("dome.fix")

BEGIN_STRING = "FIX.4.4"


class GatewayError(Exception):
    """The gateway cannot start: the message says why."""


@dataclass(frozen=True)
class FixSettings:
    """What ``dome fix`` runs with (the CLI's flags, checked)."""

    #: Account -> bearer token: one FIX session per account, TargetCompID = account.
    tokens: Mapping[str, str]
    discovery: str | None = None
    target: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    comp_id: str = "DOME"
    data_dir: Path = Path(".dome/fix")
    metrics_port: int = 0
    ready_file: Path | None = None
    tls: TlsFiles | None = None
    #: tls.crt and tls.key of the FIX port itself: FIX over TLS (None: plain TCP).
    fix_tls: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def dictionary_path() -> Path:
    """QuickFIX's FIX 4.4 data dictionary, as the quickfix package installed it."""
    for entry in metadata.files("quickfix") or []:
        if entry.name == "FIX44.xml":
            return Path(str(entry.locate())).resolve()
    raise GatewayError("the quickfix package ships no FIX44.xml data dictionary")


def free_port(host: str) -> int:
    """A port free now (QuickFIX takes a number, not an open socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def session_settings(settings: FixSettings, port: int, *, loopback_only: bool = False) -> str:
    """The QuickFIX settings file: one acceptor session per account.

    ``loopback_only``: peers from 127.0.0.1 only, whatever ``--host`` says (behind the
    TLS front every peer arrives from there, and nobody else may skip TLS).
    """
    data = settings.data_dir.resolve()
    default = {
        "ConnectionType": "acceptor",
        "BeginString": BEGIN_STRING,
        "SenderCompID": settings.comp_id,
        "SocketAcceptPort": str(port),
        "SocketReuseAddress": "Y",
        "SocketNodelay": "Y",
        "FileStorePath": str(data / "store"),
        "FileLogPath": str(data / "log"),
        # One session that never ends: sequence numbers run on across days and restarts
        # until a peer asks for a reset (ResetSeqNumFlag on its Logon).
        "NonStopSession": "Y",
        "UseDataDictionary": "Y",
        "DataDictionary": str(dictionary_path()),
        "ValidateUserDefinedFields": "Y",
        "ResetOnLogon": "N",
        "ResetOnLogout": "N",
        "ResetOnDisconnect": "N",
        "PersistMessages": "Y",
        "CheckLatency": "Y",
        "MaxLatency": "120",
    }
    loopback_host = client_host(settings.host) == "127.0.0.1" and settings.host != "0.0.0.0"
    if loopback_only or loopback_host:
        default["AllowedRemoteAddresses"] = "127.0.0.1"
    default.update(settings.extra)
    lines = ["[DEFAULT]", *(f"{k}={v}" for k, v in default.items())]
    for account in sorted(settings.tokens):
        lines += ["", "[SESSION]", f"TargetCompID={account}"]
    return "\n".join(lines) + "\n"


def _session_id(settings: FixSettings, account: str) -> object:
    return fix.SessionID(BEGIN_STRING, settings.comp_id, account)


async def serve(settings: FixSettings) -> None:
    """Run the gateway until SIGINT/SIGTERM; ``GatewayError`` if it cannot start."""
    if settings.discovery is None and settings.target is None:
        raise GatewayError("the gateway needs --discovery or --target")
    if not settings.tokens:
        raise GatewayError("no accounts: the gateway has no session to offer")
    loop = asyncio.get_running_loop()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    port = settings.port or free_port(settings.host)
    front: TlsFront | None = None
    acceptor_port = port
    if settings.fix_tls is not None:
        acceptor_port = free_port("127.0.0.1")
        try:
            front = TlsFront(settings.fix_tls, acceptor_port)
        except TlsFrontError as exc:
            raise GatewayError(str(exc)) from None
    config = settings.data_dir / "quickfix.cfg"
    config.write_text(session_settings(settings, acceptor_port, loopback_only=front is not None))
    metrics = FixMetrics()
    state = GatewayState(settings.data_dir / "gateway.sqlite")

    def make_client(account: str) -> Client:
        token = settings.tokens[account]
        if settings.discovery is not None:
            return Client(
                discovery=settings.discovery,
                token=token,
                tls=settings.tls,
                client_id=f"fix-{account}",
            )
        return Client(settings.target, token, tls=settings.tls)

    # Before the acceptor opens the stores: what each holds past the state's sent mark.
    created: dict[str, str] = {}
    already_sent: dict[str, set[str]] = {}
    for account in settings.tokens:
        mark = state.load(account).sent
        created[account], already_sent[account] = read_store(
            settings.data_dir.resolve() / "store", _session_id(settings, account), mark
        )

    def make_outbox(account: str) -> SessionOutbox:
        return SessionOutbox(_session_id(settings, account), created[account], metrics)

    desks = Desks(state, make_client, make_outbox, already_sent)
    application = GatewayApplication(loop, desks, settings.tokens, metrics)
    try:
        quickfix_settings = fix.SessionSettings(str(config))
        acceptor = fix.ThreadedSocketAcceptor(
            application,
            fix.FileStoreFactory(quickfix_settings),
            quickfix_settings,
            fix.FileLogFactory(quickfix_settings),
        )
    except (fix.ConfigError, RuntimeError) as exc:
        state.close()
        raise GatewayError(f"QuickFIX refused its settings ({config}): {exc}") from None
    stop = asyncio.Event()
    try:
        for account in state.accounts():
            if account in settings.tokens:
                await desks.open(account)  # resume before any peer can log on
        try:
            acceptor.start()
        except (fix.ConfigError, fix.RuntimeError, RuntimeError) as exc:
            raise GatewayError(f"cannot listen on port {acceptor_port}: {exc}") from None
        if front is not None:
            try:
                port = await front.start(settings.host, port)
            except OSError as exc:
                await asyncio.to_thread(acceptor.stop)
                raise GatewayError(f"cannot listen on port {port} (TLS): {exc}") from None
        address = f"{client_host(settings.host)}:{port}"
        with (
            metrics_endpoint(metrics.registry, settings.host, settings.metrics_port) as url,
            announced(settings.ready_file, ReadyInfo("fix", "fix", address, os.getpid(), url)),
            stop_on_signals(stop),
        ):
            log.info(
                "serving",
                extra={
                    "address": address,
                    "metrics": url,
                    "sessions": len(settings.tokens),
                    "tls": front is not None,
                },
            )
            await stop.wait()
        # Logs every session out (through the TLS front, still relaying); its threads may
        # still call back into the loop.
        await asyncio.to_thread(acceptor.stop)
    finally:
        if front is not None:
            await front.close()
        await desks.close()
        state.close()
