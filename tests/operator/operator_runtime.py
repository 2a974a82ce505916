"""Running the operator in tests: the emulated cluster, kopf in a thread, waiting.

The emulator serves on the test's event loop; ``KopfRunner`` runs the operator in its own
thread and loop, logged in through a kubeconfig that points at the emulator, exactly as
``dome-operator`` would start from the chart's arguments. The tests play the
controllers' part (StatefulSet and Deployment status) through the same HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import kmock
import pytest
import yaml
from kopf.testing import KopfRunner
from kube_emulator import RESOURCES, ClusterEmulator

import waiting
from dome_operator.cli import kopf_arguments

NAMESPACE = "trading"
EXCHANGES = "dome.dev/v1alpha1/exchanges"
T = TypeVar("T")


@pytest.fixture
async def cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ClusterEmulator]:
    """An empty emulated cluster that kopf's login finds through KUBECONFIG."""
    async with ClusterEmulator() as emulator, kmock.Server(emulator) as server:
        emulator.declare(*RESOURCES)
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": str(server.url).rstrip("/")}}],
            "users": [{"name": "operator", "user": {"token": "test"}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "operator", "namespace": NAMESPACE},
                }
            ],
            "current-context": "emulator",
        }
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        monkeypatch.setenv("KUBECONFIG", str(path))
        yield emulator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def operator(*extra: str, liveness_port: int | None = None) -> AsyncIterator[KopfRunner]:
    """``dome-operator --standalone --namespace=trading`` running until the block ends.

    Stopping joins kopf's thread; that happens off the event loop, which must keep
    serving the emulator while kopf shuts down.
    """
    argv = ["--standalone", f"--namespace={NAMESPACE}", "--verbose", *extra]
    if liveness_port is not None:
        argv.append(f"--liveness=http://127.0.0.1:{liveness_port}/healthz")
    runner = KopfRunner(kopf_arguments(argv), timeout=30)
    runner.__enter__()
    try:
        yield runner
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)


async def eventually(check: Callable[[], T | None], what: str, within: float = 15.0) -> T:
    """``waiting.eventually`` with this folder's argument order."""
    return await waiting.eventually(check, within, what)


def exchange_url(name: str, subresource: str | None = None) -> str:
    url = f"/apis/dome.dev/v1alpha1/namespaces/{NAMESPACE}/exchanges/{name}"
    return f"{url}/{subresource}" if subresource else url


async def api(
    emulator: ClusterEmulator,
    method: str,
    url: str,
    payload: Any = None,
    *,
    content_type: str = "application/merge-patch+json",
) -> dict[str, Any]:
    """One call to the emulated API, as kubectl would make it; fails on an HTTP error."""
    async with emulator.request(
        method, url, json=payload, headers={"Content-Type": content_type}
    ) as response:
        body: dict[str, Any] = await response.json()
        assert response.status < 400, body
        return body


def condition(obj: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any] | None:
    for item in (obj or {}).get("status", {}).get("conditions", []):
        if item["type"] == kind:
            found: Mapping[str, Any] = item
            return found
    return None


def has_condition(obj: Mapping[str, Any] | None, kind: str, status: str, reason: str = "") -> bool:
    found = condition(obj, kind)
    return (
        found is not None
        and found["status"] == status
        and (not reason or found["reason"] == reason)
    )


def event_reasons(emulator: ClusterEmulator, name: str) -> list[str]:
    """The reasons of the Events recorded for the Exchange ``name``, oldest first."""
    events = emulator.named("v1/events", NAMESPACE).values()
    mine = [e for e in events if e.get("involvedObject", {}).get("name") == name]
    return [e["reason"] for e in sorted(mine, key=lambda e: int(e["metadata"]["resourceVersion"]))]
