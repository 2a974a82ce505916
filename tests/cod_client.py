"""A trading client as its own process, for cancel-on-disconnect tests to kill with -9.

``python tests/cod_client.py (--target ADDR | --discovery ADDR) --token T --symbol S
[--cod] [--grace S] [--orders N]`` rests N buy orders on S (opting in to cancel on
disconnect first when ``--cod``), prints ``ready`` and the order ids as one JSON line,
and then waits to be killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from dome.client import Client


def start(*args: str, timeout: float = 30.0) -> tuple[subprocess.Popen[str], list[int]]:
    """Run this client with ``args``; return it and its order ids once it is ready."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__)), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = _read_line(proc, timeout)
    ready: dict[str, Any] = json.loads(line)
    return proc, list(ready["order_ids"])


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            raise AssertionError(f"the client was not ready within {timeout}s")
    line = proc.stdout.readline()
    if not line:
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"the client exited early:\n{err}")
    return line


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target")
    parser.add_argument("--discovery")
    parser.add_argument("--token", required=True)
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--cod", action="store_true")
    parser.add_argument("--grace", type=float, default=0.5)
    parser.add_argument("--orders", type=int, default=3)
    args = parser.parse_args()
    client = (
        Client(discovery=args.discovery, token=args.token)
        if args.discovery
        else Client(args.target, args.token)
    )
    await client.connect()
    if args.cod:
        await client.cancel_on_disconnect(args.grace)
    ids = []
    for i in range(args.orders):
        result = await client.submit_order(args.symbol, "buy", "1", str(10 + i))
        ids.append(result.order_id)
    print(json.dumps({"ready": True, "order_ids": ids}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
