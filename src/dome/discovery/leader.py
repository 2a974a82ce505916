"""Leader election among discovery replicas on a ``coordination.k8s.io/v1`` Lease.

``dome.discovery.replica`` runs it in ``dome discovery --leader-lease``;
docs/discovery-ha.md is the design. The leader writes its gRPC address (``advertise``)
into the Lease's ``ADDRESS_ANNOTATION``; every read records the holder's
(``leader_address``), where a standby relays calls (``dome.discovery.relay``).

The rules are client-go's, and need no synchronised clocks (``Candidacy``, pure):

- A candidate takes the Lease when it is absent, has no holder (released), or has not
  changed (same ``resourceVersion``) for the holder's ``leaseDurationSeconds`` measured
  on the candidate's own monotonic clock from when it *first saw* that version. It
  renews without waiting only what this process itself wrote: a restarted process
  under the same identity (the pod's name) waits its predecessor's term out.
- The leader counts its term from the *sending* time of its last successful write and
  leads only until ``sent + renew_deadline``, with ``renew_deadline < duration``. Any
  other candidate saw that write no earlier than it was sent, so it takes over no
  earlier than ``sent + duration``: the old leader has stopped ``duration -
  renew_deadline`` before (the margin covers clock rate differences).
- Every write is a compare-and-set on ``resourceVersion`` (a create of an absent
  Lease, a replace of the version read), so two candidates never both win one term.

``LeaderElector`` does the I/O through the official client (``dome.kube``), each call
in a worker thread, every call bounded by a timeout and, while leading, by the end of
the term: a hung API call cannot keep a deposed leader deciding.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import urllib3
from kubernetes import client

from dome import kube

log = logging.getLogger("dome.discovery")

OWNER_API_VERSION = "dome.dev/v1alpha1"
OWNER_KIND = "Exchange"
#: The holder's gRPC address (pod IP and port, from the downward API).
ADDRESS_ANNOTATION = "dome.dev/leader-address"


class ElectionError(Exception):
    """The Lease could not be read or written (the API server refused or is away)."""


@dataclass(frozen=True)
class LeaderTimings:
    """Seconds. ``renew_deadline < duration``; the difference is the safety margin."""

    duration: float = 2.0
    renew_deadline: float = 1.4
    #: Between two renewals of a leader, and two attempts of a candidate.
    retry: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.duration:
            raise ValueError("leader timings need 0 < retry < renew_deadline < duration")


@dataclass(frozen=True)
class LeaseView:
    """What a read of the leader Lease says."""

    holder: str
    version: str
    duration: float
    transitions: int
    #: The holder's advertised gRPC address ("": none given).
    address: str = ""


class Action(StrEnum):
    CREATE = "create"
    RENEW = "renew"
    TAKE = "take"
    WAIT = "wait"


class Candidacy:
    """The decisions of one candidate, fed its reads and its monotonic clock."""

    def __init__(self, identity: str, timings: LeaderTimings) -> None:
        self.identity = identity
        self.timings = timings
        self._seen: str | None = None
        self._seen_at = 0.0
        #: Monotonic time until which this candidate leads (0: it does not).
        self.leads_until = 0.0
        #: Whether a write of this candidate (this process) ever landed.
        self._wrote = False

    def decide(self, view: LeaseView | None, now: float) -> Action:
        """What to do after reading ``view`` (None: no Lease) at ``now``."""
        if view is None:
            return Action.CREATE
        # Our identity is the pod's name, so a restarted process finds its predecessor
        # holding the Lease: it waits the term out like any candidate instead of renewing
        # it, so the standby (which has been watching longer) takes over, the take is
        # counted and logged, and failover does not hang on how fast the pod restarts.
        if view.holder == self.identity and self._wrote:
            return Action.RENEW
        if not view.holder:
            return Action.TAKE
        if view.version != self._seen:
            self._seen, self._seen_at = view.version, now
            return Action.WAIT
        return Action.TAKE if now - self._seen_at >= view.duration else Action.WAIT

    def written(self, sent: float) -> None:
        """A write of ours, sent at ``sent``, landed: we lead for a term from then."""
        self.leads_until = max(self.leads_until, sent + self.timings.renew_deadline)
        self._wrote = True

    def lost(self) -> None:
        self.leads_until = 0.0

    def leading(self, now: float) -> bool:
        return now < self.leads_until


class LeaderElector:
    """Campaign for, hold and release the Lease ``name`` in ``namespace``."""

    def __init__(
        self,
        namespace: str,
        name: str,
        identity: str,
        api_client: client.ApiClient,
        *,
        timings: LeaderTimings | None = None,
        owner: tuple[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 2.0,
        advertise: str = "",
    ) -> None:
        self.namespace = namespace
        #: Our gRPC address, written into the Lease while we hold it.
        self.advertise = advertise
        self._holder = LeaseView("", "", 0.0, 0)
        #: Whether the last read of the Lease got an answer (a standby's readiness).
        self.read_ok = False
        self.name = name
        self.candidacy = Candidacy(identity, timings or LeaderTimings())
        self.timings = self.candidacy.timings
        self._api = client.CoordinationV1Api(api_client)
        self._clock = clock
        self._timeout = timeout
        #: (Exchange name, uid): the Lease goes with the Exchange.
        self._owners = (
            None
            if owner is None
            else [
                client.V1OwnerReference(
                    api_version=OWNER_API_VERSION, kind=OWNER_KIND, name=owner[0], uid=owner[1]
                )
            ]
        )

    @property
    def identity(self) -> str:
        return self.candidacy.identity

    def leading(self) -> bool:
        return self.candidacy.leading(self._clock())

    def leader_address(self) -> str:
        """The address of another replica that held the Lease at the last read; "" if
        none did, it gave no address, or we hold it. A dead leader's address stays
        until its successor writes: a call relayed there fails UNAVAILABLE meanwhile."""
        view = self._holder
        return view.address if view.holder and view.holder != self.identity else ""

    async def attempt(self) -> bool:
        """One read and, if the rules allow, one write; whether we lead afterwards."""
        lease = await self._read()
        view = None if lease is None else _view(lease)
        self._holder = view or LeaseView("", "", 0.0, 0)
        action = self.candidacy.decide(view, self._clock())
        if action is Action.WAIT:
            return self.leading()
        sent = self._clock()
        transitions = 0 if view is None else view.transitions + (action is Action.TAKE)
        body = self._lease(lease, transitions, renewing=action is Action.RENEW)
        try:
            if action is Action.CREATE:
                await self._call(self._api.create_namespaced_lease, self.namespace, body)
            else:
                await self._call(
                    self._api.replace_namespaced_lease, self.name, self.namespace, body
                )
        except client.ApiException as exc:
            if exc.status in (404, 409):  # someone else wrote first: not ours this time
                self.candidacy.lost()
                return False
            raise ElectionError(f"writing Lease {self.name}: HTTP {exc.status}") from None
        self.candidacy.written(sent)
        if action is not Action.RENEW:
            log.info("discovery leader elected", extra={"identity": self.identity,
                                                        "transitions": transitions})  # fmt: skip
        return True

    async def campaign(self) -> None:
        """Return once this candidate leads; errors are logged and retried."""
        while True:
            try:
                if await self.attempt():
                    return
            except ElectionError as exc:
                log.warning("leader election attempt failed", extra={"error": str(exc)})
            await asyncio.sleep(self.timings.retry)  # the retry period, not a condition

    async def hold(self) -> None:
        """Renew until the term cannot be extended; return *before* it could lapse.

        The caller stops deciding when this returns. Each renewal may take no longer
        than what is left of the term, so a hung API server ends the term on time.
        """
        while True:
            left = self.candidacy.leads_until - self._clock()
            if left <= 0:
                break
            await asyncio.sleep(min(self.timings.retry, left))  # the renew period
            left = self.candidacy.leads_until - self._clock()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    await self.attempt()
            except (TimeoutError, ElectionError) as exc:
                log.warning("leader renewal failed", extra={"error": str(exc) or "timeout"})
            if not self.leading():
                break
        self.candidacy.lost()
        log.error("discovery leadership lost: stopped deciding", extra={"identity": self.identity})

    async def release(self) -> None:
        """Give the Lease up (no holder) so a candidate takes it at once; best effort."""
        if not self.leading():
            return
        self.candidacy.lost()
        try:
            lease = await self._read()
            if lease is None or _view(lease).holder != self.identity:
                return
            lease.spec.holder_identity = None
            await self._call(self._api.replace_namespaced_lease, self.name, self.namespace, lease)
        except (ElectionError, client.ApiException) as exc:
            log.warning("leader release failed", extra={"error": str(exc)})

    # -- internals ------------------------------------------------------------------

    def _lease(self, read: Any, transitions: int, *, renewing: bool) -> client.V1Lease:
        now = datetime.datetime.now(datetime.UTC)
        spec = read.spec if read is not None and read.spec is not None else client.V1LeaseSpec()
        return client.V1Lease(
            api_version="coordination.k8s.io/v1",
            kind="Lease",
            metadata=client.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={"app.kubernetes.io/managed-by": "dome-discovery"},
                annotations={ADDRESS_ANNOTATION: self.advertise} if self.advertise else None,
                owner_references=self._owners,
                resource_version=None if read is None else read.metadata.resource_version,
            ),
            spec=client.V1LeaseSpec(
                holder_identity=self.identity,
                # Rounded up: others must wait at least our duration, never less.
                lease_duration_seconds=math.ceil(self.timings.duration),
                # Wall-clock times are for people reading the Lease; nobody decides by them.
                acquire_time=spec.acquire_time if renewing else now,
                renew_time=now,
                lease_transitions=transitions,
            ),
        )

    async def _read(self) -> Any:
        self.read_ok = False
        try:
            lease = await self._call(self._api.read_namespaced_lease, self.name, self.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                self.read_ok = True
                return None
            raise ElectionError(f"reading Lease {self.name}: HTTP {exc.status}") from None
        self.read_ok = True
        return lease

    async def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        try:
            return await kube.off_loop(method, *args, _request_timeout=self._timeout)
        except kube.KubeConfigError as exc:
            raise ElectionError(str(exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ElectionError(f"cannot reach the Kubernetes API: {exc}") from None


def _view(lease: Any) -> LeaseView:
    spec = lease.spec or client.V1LeaseSpec()
    return LeaseView(
        holder=spec.holder_identity or "",
        version=str(lease.metadata.resource_version if lease.metadata else ""),
        duration=float(spec.lease_duration_seconds or 0),
        transitions=int(spec.lease_transitions or 0),
        address=str(
            ((lease.metadata and lease.metadata.annotations) or {}).get(ADDRESS_ANNOTATION, "")
        ),
    )
