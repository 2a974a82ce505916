"""The Kubernetes API through the official client: one configuration, calls off the loop.

Both of DOME's Kubernetes callers, the operator (``dome_operator.apply``) and discovery's
Lease store (``dome.discovery.kube_store``), reach the API server through the official
``kubernetes`` package. This module is what they share:

- ``load_configuration``: the one login. In a pod it is the service account (the token,
  the cluster CA and ``KUBERNETES_SERVICE_HOST``/``_PORT``, as every in-cluster client
  uses them); elsewhere (a developer's machine, the tests) the kubeconfig that
  ``KUBECONFIG`` names, read when the call is made, not when the library was imported.
- ``token_configuration``: a server, an optional CA file and a token *file*, re-read on
  every request: projected service-account tokens rotate (the kubelet rewrites the file
  well before the old token expires), and a client that cached the first one would be
  refused an hour later.
- ``kopf_connection``: the same configuration as kopf's ``ConnectionInfo``, so the
  operator's watches (kopf's) and its writes (this client's) log in one way.
- ``off_loop``: the client is synchronous (urllib3); every call goes to a worker thread
  so an asyncio loop (kopf's, discovery's gRPC server) never waits on the network.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from kubernetes import client, config

if TYPE_CHECKING:
    import kopf

#: Where a pod finds its service account.
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Names another directory holding the service account's ``token``, ``ca.crt`` and
#: ``namespace``: for a process started outside a pod, which has no kubelet to mount them
#: at SERVICE_ACCOUNT (tests/operator/test_rendered_exchange_runs.py runs the rendered
#: pods on localhost).
SERVICE_ACCOUNT_ENV = "DOME_SERVICE_ACCOUNT_DIR"
#: The kubeconfig when ``KUBECONFIG`` is unset, as kubectl reads it.
DEFAULT_KUBECONFIG = "~/.kube/config"

P = ParamSpec("P")
T = TypeVar("T")


class KubeConfigError(Exception):
    """No usable login: not in a pod, and no kubeconfig that loads."""


def service_account_dir() -> Path:
    """Where this process's service-account files are (``DOME_SERVICE_ACCOUNT_DIR`` wins)."""
    return Path(os.environ.get(SERVICE_ACCOUNT_ENV) or SERVICE_ACCOUNT)


def in_cluster() -> bool:
    """True in a pod (or a stand-in for one) whose service-account token is mounted."""
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (service_account_dir() / "token").is_file()
    )


def in_cluster_configuration(account: Path | None = None) -> client.Configuration:
    """The pod's service account: the API server at ``KUBERNETES_SERVICE_HOST``:``_PORT``,
    the token and CA from ``account`` (default ``service_account_dir()``)."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT") or "443"
    if not host:
        raise KubeConfigError("not in a cluster: KUBERNETES_SERVICE_HOST is not set")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    account = account or service_account_dir()
    ca = account / "ca.crt"
    return token_configuration(
        f"https://{host}:{port}",
        token_file=account / "token",
        ca_file=ca if ca.is_file() else None,
    )


def token_configuration(
    server: str, *, token_file: Path | None = None, ca_file: Path | None = None
) -> client.Configuration:
    """A configuration for ``server`` with a bearer token read from ``token_file`` before
    every request (none without it) and the CA bundle ``ca_file`` (default: the system's)."""
    configuration = client.Configuration(host=server.rstrip("/"))
    if ca_file is not None:
        configuration.ssl_ca_cert = str(ca_file)
    if token_file is not None:
        # Filled by the hook before each request, so a file that is not there yet (or
        # unreadable) is an error of that request, not of building the client.
        configuration.api_key["BearerToken"] = ""
        configuration.api_key_prefix["BearerToken"] = "Bearer"
        # The library types the hook attribute as None; any callable is what it calls.
        hook: Any = functools.partial(_refresh_token, token_file)
        configuration.refresh_api_key_hook = hook
    return configuration


def kubeconfig_configuration(
    path: str | None = None, *, context: str | None = None
) -> client.Configuration:
    """The kubeconfig's current (or named) context, as kubectl would use it.

    ``path`` defaults to ``KUBECONFIG`` as set *now* (the library reads the variable when
    it is imported, which may be before a test or a wrapper set it), else
    ``~/.kube/config``; a ``:``-separated list merges as kubectl merges it.
    """
    path = path or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (config.ConfigException, OSError, ValueError) as exc:
        raise KubeConfigError(f"cannot load the kubeconfig {path}: {exc}") from exc
    return configuration


def load_configuration() -> client.Configuration:
    """The service account in a pod, else the kubeconfig: the login of every DOME caller."""
    if in_cluster():
        return in_cluster_configuration()
    return kubeconfig_configuration()


def default_namespace() -> str | None:
    """The namespace of the login: the pod's own, or the kubeconfig context's."""
    if in_cluster():
        try:
            return (service_account_dir() / "namespace").read_text().strip() or None
        except OSError:
            return None
    path = os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    try:
        _, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError, ValueError):
        return None
    namespace = (active or {}).get("context", {}).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def bearer_token(configuration: client.Configuration) -> str | None:
    """The token the configuration sends now (refreshed first), without its scheme."""
    value = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" and token else value


def kopf_connection(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """``configuration`` as kopf's login result: the same server, CA, token or client
    certificate, so kopf's watches and this client's calls are one identity."""
    import kopf

    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme="Bearer",
        token=bearer_token(configuration),
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
        default_namespace=default_namespace(),
    )


def api_client(configuration: client.Configuration | None = None) -> client.ApiClient:
    """An ``ApiClient`` on ``configuration`` (default ``load_configuration()``)."""
    client_ = client.ApiClient(configuration or load_configuration())
    client_.user_agent = "dome"
    return client_


async def off_loop(call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a (blocking) client call in a worker thread and await its result."""
    return await asyncio.to_thread(call, *args, **kwargs)


def api_error_status(exc: BaseException) -> int | None:
    """The HTTP status of an API error, None for one that never got an answer."""
    if isinstance(exc, client.ApiException):
        status = exc.status
        return int(status) if status is not None else None
    return None


def _read_token(token_file: Path) -> str:
    try:
        token = token_file.read_text().strip()
    except OSError as exc:
        raise KubeConfigError(f"cannot read the token {token_file}: {exc}") from exc
    if not token:
        # Caught mid-rewrite by a writer that is not atomic, or not written yet. Sent
        # as is, the client would put no Authorization value at all (a TypeError deep
        # in http.client) or ask as anonymous: an error of this request, retried.
        raise KubeConfigError(f"the token file {token_file} is empty")
    return token


def _refresh_token(token_file: Path, configuration: Any) -> None:
    """The ``refresh_api_key_hook``: the token as the file holds it now."""
    configuration.api_key["BearerToken"] = _read_token(token_file)
