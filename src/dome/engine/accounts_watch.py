"""An engine's accounts follow its accounts file while it runs.

On Kubernetes the file is a Secret volume: the kubelet swaps its contents in place (an
atomic flip of the ``..data`` link) some seconds after the Secret changes, while the pod
keeps running. Re-reading the file here makes an added, rotated or revoked token take
effect without a restart, which on a primary would cost a failover. A file that does not
parse (a half-finished hand edit) keeps the accounts in force, with an error logged:
locking every account out would be worse than a late rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from dome.accounts import AccountsFileError, load_accounts
from dome.engine.security import Gate

log = logging.getLogger("dome.engine")

#: Seconds between two looks at the file: a stat and a read of a few hundred bytes.
POLL_SECONDS = 2.0


class AccountsWatch:
    """Reload ``gate``'s accounts from ``path`` whenever the file's bytes change.

    ``in_force`` is what the gate was built with (read from ``path`` at start-up); the
    first look compares against it, so an edit made during start-up is not missed.
    """

    def __init__(self, path: str | Path, gate: Gate, in_force: Mapping[str, str]) -> None:
        self.path = Path(path)
        self.gate = gate
        self._in_force = dict(in_force)
        self._seen: bytes | None = None

    def check(self) -> None:
        """One look at the file: replace the accounts in force if it says others."""
        digest = self._digest()
        if digest is None or digest == self._seen:
            return
        self._seen = digest
        try:
            accounts = load_accounts(self.path)
        except AccountsFileError as exc:
            log.error(
                "accounts file changed but is unusable; the accounts in force stay",
                extra={"path": str(self.path), "error": str(exc)},
            )
            return
        if accounts == self._in_force:
            return
        self._in_force = accounts
        self.gate.replace_accounts(accounts)
        log.info("accounts reloaded", extra={"path": str(self.path), "accounts": len(accounts)})

    async def run(self, interval: float = POLL_SECONDS) -> None:
        """``check`` every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.check()

    def _digest(self) -> bytes | None:
        try:
            return hashlib.sha256(self.path.read_bytes()).digest()
        except OSError as exc:
            # Mid-swap or removed: keep what is in force, look again next time.
            log.debug("accounts file unreadable", extra={"path": str(self.path), "error": str(exc)})
            return None


@contextlib.asynccontextmanager
async def following(
    path: str | Path, gate: Gate, in_force: Mapping[str, str]
) -> AsyncIterator[AccountsWatch]:
    """An ``AccountsWatch`` polling in the background for the ``async with`` block."""
    watch = AccountsWatch(path, gate, in_force)
    task = asyncio.get_running_loop().create_task(watch.run(), name="accounts-watch")
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
