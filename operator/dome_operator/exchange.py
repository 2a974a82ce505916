"""Reading an Exchange custom resource into a typed, defaulted, validated value.

The API server has already applied the CRD's schema and CEL rules to anything the operator
sees, but the render must not trust that: it also runs on objects admitted under an older
CRD, on hand-written test input, and a few rules cannot be expressed in a schema at all
(quantities on the lot grid, the same symbol twice, name lengths of derived objects). So
this module is the one gate: it applies the same defaults as the CRD and raises
``InvalidExchange`` with a message that names the field. The kopf handler turns that into
a ``PermanentError``: retrying an invalid spec cannot help.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dome.instrument_spec import InstrumentFileError, InstrumentSpec
from dome_operator.pod_settings import (
    ExtraMetadata,
    InvalidPodSettings,
    PodSettings,
    read_pod_settings,
)
from dome_operator.pods import image_reference

GROUP = "dome.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Exchange"

# Defaults, identical to the CRD's `default:` values (tests/operator compares them).
DEFAULT_ENGINES = 3
#: Discovery replicas: one leads, the other takes over within a Lease duration.
DEFAULT_DISCOVERY_REPLICAS = 2
DEFAULT_ACKS = "all"
ACKS_MODES = ("all", "majority")
#: Replicas per symbol when spec.replication.factor is unset: min(this, engines), so a
#: one-engine exchange is valid without spelling out factor 1 (DESIGN.md §3).
DEFAULT_MAX_REPLICATION_FACTOR = 3
DEFAULT_STORAGE_SIZE = "1Gi"
DEFAULT_RETAIN_VOLUMES = True
EXTERNAL_SERVICE_TYPES = ("LoadBalancer", "NodePort")
DEFAULT_IMAGE_REPOSITORY = "dome"
DEFAULT_IMAGE_TAG = "0.1.0"
DEFAULT_PULL_POLICY = "IfNotPresent"
#: Engine container resources when spec.resources is unset: enough to match a few thousand
#: orders a second, a memory limit so a runaway book cannot take the node down, no CPU
#: limit so bursts are not throttled.
DEFAULT_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"memory": "512Mi"},
}

#: The FIX gateway's defaults (spec.fix): off; on, it listens on the customary FIX port
#: (``dome fix``'s own default) and keeps its sequence numbers on a volume this size.
DEFAULT_FIX_PORT = 9878
DEFAULT_FIX_STORAGE_SIZE = "1Gi"
#: Ports the gateway pod serves besides FIX (its metrics), which spec.fix.port may not take.
RESERVED_FIX_PORTS = (9100,)

#: Longest Exchange name: NAME-engine-headless must stay a 63-character DNS label, and the
#: StatefulSet's pods carry a controller-revision-hash label "NAME-engine-<10 chars>".
MAX_NAME_LENGTH = 45
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
#: An image digest as registries give it; the CRD's pattern says the same.
_IMAGE_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")

#: CRD field names (camelCase) -> the instruments-file keys of ``InstrumentSpec``.
_INSTRUMENT_FIELDS = {
    "symbol": "symbol",
    "tickSize": "tick_size",
    "lotSize": "lot_size",
    "minQty": "min_qty",
    "maxQty": "max_qty",
    "minPrice": "min_price",
    "maxPrice": "max_price",
}

T = TypeVar("T")


class InvalidExchange(ValueError):
    """The Exchange cannot be rendered; the message names the field and the rule."""


@dataclass(frozen=True)
class Resources:
    """Requests and limits of the engine container, as (resource, quantity) pairs."""

    requests: tuple[tuple[str, str], ...]
    limits: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FixGateway:
    """spec.fix, when enabled: the FIX 4.4 gateway (``dome fix``) in front of the exchange."""

    port: int
    #: A Secret whose key ``tokens.json`` holds {"account": "bearer token"}: one FIX
    #: session per account (SenderCompID = account, Password = token). Clear tokens,
    #: unlike the engines' accounts Secret: the gateway logs on to the exchange as them.
    tokens_secret: str
    #: A ``kubernetes.io/tls`` Secret (tls.crt, tls.key): FIX over TLS; None: plain TCP.
    tls_secret: str | None
    storage_size: str


@dataclass(frozen=True)
class Exchange:
    """One Exchange with every default applied: what the render works from."""

    name: str
    namespace: str
    uid: str
    engines: int
    instruments: tuple[InstrumentSpec, ...]
    replication_factor: int
    acks: str
    storage_size: str
    storage_class: str | None
    #: spec.storage.retainOnDelete: keep the engine volumes when the Exchange is deleted.
    retain_volumes: bool
    resources: Resources
    image: str
    pull_policy: str
    tls_secret: str | None
    accounts_secret: str
    service_monitor: bool
    prometheus_rule: bool
    #: None when spec.fix is absent or not enabled.
    fix: FixGateway | None = None
    #: spec.pods: scheduling and metadata of every pod (``pod_settings``).
    pods: PodSettings = field(default_factory=PodSettings)
    #: spec.service: extra metadata of the client Service.
    service: ExtraMetadata = field(default_factory=ExtraMetadata)
    #: spec.service.external: LoadBalancer or NodePort; None: no external Service.
    external_service: str | None = None
    #: spec.discovery.resources; None: ``workloads.DISCOVERY_RESOURCES``.
    discovery_resources: Resources | None = None
    #: spec.discovery.replicas: discovery pods, one leading (docs/discovery-ha.md).
    discovery_replicas: int = 2


def read_exchange(obj: Mapping[str, Any]) -> Exchange:
    """Validate ``obj`` (an Exchange as the API returns it) and apply the defaults."""
    metadata = _section(obj, "metadata", "metadata", required=True)
    name = _required(metadata, "name", str, "metadata.name")
    if len(name) > MAX_NAME_LENGTH or not _DNS_LABEL.fullmatch(name):
        raise InvalidExchange(
            f"metadata.name {name!r}: must be a DNS label (lowercase letters, digits and '-', "
            f"starting with a letter) of at most {MAX_NAME_LENGTH} characters"
        )
    spec = _section(obj, "spec", "spec", required=True)
    engines = _field(spec, "engines", int, "spec.engines", DEFAULT_ENGINES)
    if engines < 1:
        raise InvalidExchange(f"spec.engines is {engines}: an exchange needs at least one")
    replication = _section(spec, "replication", "spec.replication")
    factor = _field(
        replication,
        "factor",
        int,
        "spec.replication.factor",
        min(DEFAULT_MAX_REPLICATION_FACTOR, engines),
    )
    if not 1 <= factor <= engines:
        raise InvalidExchange(
            f"spec.replication.factor is {factor}: it must be between 1 and spec.engines "
            f"({engines}), since each replica of a symbol lives on a different engine"
        )
    acks = _field(replication, "acks", str, "spec.replication.acks", DEFAULT_ACKS)
    if acks not in ACKS_MODES:
        raise InvalidExchange(f"spec.replication.acks is {acks!r}: expected one of {ACKS_MODES}")
    storage = _section(spec, "storage", "spec.storage")
    image = _section(spec, "image", "spec.image")
    tls = _section(spec, "tls", "spec.tls")
    auth = _section(spec, "auth", "spec.auth", required=True)
    metrics = _section(spec, "metrics", "spec.metrics")
    repository = _field(image, "repository", str, "spec.image.repository", DEFAULT_IMAGE_REPOSITORY)
    tag = _field(image, "tag", str, "spec.image.tag", DEFAULT_IMAGE_TAG)
    digest = _optional(image, "digest", "spec.image.digest")
    if digest is not None and not _IMAGE_DIGEST.fullmatch(digest):
        raise InvalidExchange(f"spec.image.digest {digest!r}: expected sha256:<64 hex digits>")
    try:
        pods, service = read_pod_settings(spec)
    except InvalidPodSettings as exc:
        raise InvalidExchange(str(exc)) from None
    discovery = _section(spec, "discovery", "spec.discovery")
    discovery_resources = (
        _read_resources(discovery, "spec.discovery.resources")
        if discovery.get("resources")
        else None
    )
    discovery_replicas = _field(
        discovery, "replicas", int, "spec.discovery.replicas", DEFAULT_DISCOVERY_REPLICAS
    )
    if discovery_replicas < 1:
        raise InvalidExchange(
            f"spec.discovery.replicas is {discovery_replicas}: an exchange needs at least one"
        )
    return Exchange(
        name=name,
        namespace=_required(metadata, "namespace", str, "metadata.namespace"),
        uid=_required(metadata, "uid", str, "metadata.uid"),
        engines=engines,
        instruments=_read_instruments(spec),
        replication_factor=factor,
        acks=acks,
        storage_size=_field(storage, "size", str, "spec.storage.size", DEFAULT_STORAGE_SIZE),
        storage_class=_optional(storage, "storageClassName", "spec.storage.storageClassName"),
        retain_volumes=_field(
            storage, "retainOnDelete", bool, "spec.storage.retainOnDelete", DEFAULT_RETAIN_VOLUMES
        ),
        resources=_read_resources(spec),
        image=image_reference(repository, tag, digest),
        pull_policy=_field(image, "pullPolicy", str, "spec.image.pullPolicy", DEFAULT_PULL_POLICY),
        tls_secret=_optional(tls, "secretName", "spec.tls.secretName"),
        accounts_secret=_required(auth, "accountsSecret", str, "spec.auth.accountsSecret"),
        service_monitor=_field(
            metrics, "serviceMonitor", bool, "spec.metrics.serviceMonitor", False
        ),
        prometheus_rule=_field(
            metrics, "prometheusRule", bool, "spec.metrics.prometheusRule", False
        ),
        fix=_read_fix(spec),
        pods=pods,
        service=service,
        discovery_resources=discovery_resources,
        discovery_replicas=discovery_replicas,
        external_service=_external_service(spec),
    )


def _external_service(spec: Mapping[str, Any]) -> str | None:
    kind = _optional(_section(spec, "service", "spec.service"), "external", "spec.service.external")
    if kind is not None and kind not in EXTERNAL_SERVICE_TYPES:
        raise InvalidExchange(
            f"spec.service.external is {kind!r}: expected one of {EXTERNAL_SERVICE_TYPES}"
        )
    return kind


def _read_fix(spec: Mapping[str, Any]) -> FixGateway | None:
    fix = _section(spec, "fix", "spec.fix")
    if not _field(fix, "enabled", bool, "spec.fix.enabled", False):
        return None
    port = _field(fix, "port", int, "spec.fix.port", DEFAULT_FIX_PORT)
    if not 1024 <= port <= 65535 or port in RESERVED_FIX_PORTS:
        raise InvalidExchange(
            f"spec.fix.port is {port}: expected 1024..65535, not {RESERVED_FIX_PORTS} "
            "(the gateway's metrics port)"
        )
    return FixGateway(
        port=port,
        tokens_secret=_required(fix, "tokensSecret", str, "spec.fix.tokensSecret"),
        tls_secret=_optional(fix, "tlsSecretName", "spec.fix.tlsSecretName"),
        storage_size=_field(
            fix, "storageSize", str, "spec.fix.storageSize", DEFAULT_FIX_STORAGE_SIZE
        ),
    )


def _read_instruments(spec: Mapping[str, Any]) -> tuple[InstrumentSpec, ...]:
    raw = _required(spec, "instruments", list, "spec.instruments")
    if not raw:
        raise InvalidExchange("spec.instruments is empty: an exchange trades at least one symbol")
    specs: dict[str, InstrumentSpec] = {}
    for index, item in enumerate(raw):
        where = f"spec.instruments[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidExchange(f"{where}: expected an object, got {item!r}")
        unknown = sorted(set(item) - set(_INSTRUMENT_FIELDS))
        if unknown:
            raise InvalidExchange(f"{where}: unknown fields {unknown}")
        # The engine's own parser, so the operator refuses exactly what an engine would.
        try:
            instrument = InstrumentSpec.from_dict(
                {_INSTRUMENT_FIELDS[key]: value for key, value in item.items()}
            )
        except InstrumentFileError as exc:
            raise InvalidExchange(f"{where}: {exc}") from None
        if instrument.symbol in specs:
            raise InvalidExchange(f"{where}: symbol {instrument.symbol} appears twice")
        specs[instrument.symbol] = instrument
    return tuple(specs.values())


def _read_resources(spec: Mapping[str, Any], where: str = "spec.resources") -> Resources:
    raw = _section(spec, "resources", where) or DEFAULT_RESOURCES
    kinds: dict[str, tuple[tuple[str, str], ...]] = {}
    for kind in ("requests", "limits"):
        quantities = _section(raw, kind, f"{where}.{kind}")
        pairs = []
        for resource in sorted(quantities):
            value = quantities[resource]
            # int-or-string in the CRD, as in a Pod; a string keeps the manifest uniform.
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise InvalidExchange(f"{where}.{kind}.{resource}: not a quantity")
            pairs.append((resource, str(value)))
        kinds[kind] = tuple(pairs)
    return Resources(requests=kinds["requests"], limits=kinds["limits"])


def _section(
    mapping: Mapping[str, Any], key: str, where: str, *, required: bool = False
) -> Mapping[str, Any]:
    """A nested object; an absent optional one reads as empty, so its defaults apply."""
    value = mapping.get(key)
    if value is None:
        if required:
            raise InvalidExchange(f"{where} is required")
        return {}
    if not isinstance(value, Mapping):
        raise InvalidExchange(f"{where}: expected an object, got {value!r}")
    return value


def _field(mapping: Mapping[str, Any], key: str, kind: type[T], where: str, default: T) -> T:
    value = mapping.get(key)
    if value is None:
        return default
    return _checked(value, kind, where)


def _required(mapping: Mapping[str, Any], key: str, kind: type[T], where: str) -> T:
    value = mapping.get(key)
    if value is None or value == "":
        raise InvalidExchange(f"{where} is required")
    return _checked(value, kind, where)


def _optional(mapping: Mapping[str, Any], key: str, where: str) -> str | None:
    value = mapping.get(key)
    return None if value in (None, "") else _checked(value, str, where)


def _checked(value: object, kind: type[T], where: str) -> T:
    # bool is an int in Python but never a valid engine count or factor.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidExchange(f"{where}: expected {kind.__name__}, got {value!r}")
    return value
