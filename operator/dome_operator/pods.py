"""Hardened pods: one builder for every workload the operator renders.

Every DOME pod runs the same way, so a new workload gets the hardening by calling these
instead of spelling it out again: the restricted Pod Security Standard (non-root, no
privilege escalation, every capability dropped, RuntimeDefault seccomp), a read-only root
filesystem with a small /tmp, no service links, and no service-account token unless the
process calls the Kubernetes API. A pod that does call it mounts a bound token
explicitly (``api_access=True``) rather than through automounting, so the token is there
exactly where it was asked for and scanners (checkov's CKV_K8S_38) can see that.

Where a check is deliberately not met, ``checkov_skips`` writes checkov's skip annotations
with the reason on the workload itself, so the reason travels with the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The image's non-root user and group (images/ creates them with these ids).
RUN_AS_ID = 10001
#: Python writes temporary files; the root filesystem is read-only.
TMP_DIR = "/tmp"
#: Where Kubernetes client libraries (and discovery's store) read the API credentials.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
API_ACCESS_VOLUME = "kube-api-access"
#: The lifetime the kubelet gives automounted tokens; it rotates them well before expiry.
API_TOKEN_SECONDS = 3607
#: checkov reads skips from annotations named ``checkov.io/skip<N>``, valued
#: ``CHECK_ID=reason`` (the reason may not contain "=").
CHECKOV_SKIP_PREFIX = "checkov.io/skip"

CONTAINER_SECURITY_CONTEXT: Mapping[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def pod_spec(
    container: dict[str, Any],
    *,
    service_account: str,
    api_access: bool,
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """A hardened pod running ``container`` (from ``container_spec``) as ``service_account``.

    With ``api_access`` the pod gets its account's token, the cluster CA and its namespace
    at ``SERVICE_ACCOUNT_DIR`` through a projected volume; without, no token at all.
    """
    volumes = list(volumes)
    if api_access:
        container = {
            **container,
            "volumeMounts": [
                *container.get("volumeMounts", []),
                {"name": API_ACCESS_VOLUME, "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True},
            ],
        }
        volumes.append(_api_access_volume())
    return {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        # Service environment variables (NAME_PORT=tcp://...) are noise at best and can
        # collide with DOME_* settings at worst; DNS is how pods find Services.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_ID,
            "runAsGroup": RUN_AS_ID,
            "fsGroup": RUN_AS_ID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [*volumes, {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }


def container_spec(
    name: str,
    *,
    image: str,
    pull_policy: str,
    command: list[str],
    args: list[str],
    ports: Mapping[str, int],
    probes: Mapping[str, dict[str, Any]],
    mounts: list[dict[str, Any]],
    env: list[dict[str, Any]],
    resources: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """A hardened container; ``probes`` maps startupProbe/readinessProbe/livenessProbe."""
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": command,
        "args": args,
    }
    if env:
        container["env"] = env
    return container | {
        "ports": [
            {"name": port_name, "containerPort": port, "protocol": "TCP"}
            for port_name, port in ports.items()
        ],
        **probes,
        "resources": {kind: dict(pairs) for kind, pairs in resources.items()},
        "securityContext": dict(CONTAINER_SECURITY_CONTEXT),
        "volumeMounts": [*mounts, {"name": "tmp", "mountPath": TMP_DIR}],
    }


def image_reference(repository: str, tag: str, digest: str | None) -> str:
    """``repository@digest`` when a digest is given (immutable), else ``repository:tag``.

    >>> image_reference("dome", "0.1.0", None), image_reference("dome", "0.1.0", "sha256:ab")
    ('dome:0.1.0', 'dome@sha256:ab')
    """
    return f"{repository}@{digest}" if digest else f"{repository}:{tag}"


def image_skips(image: str) -> dict[str, str]:
    """The checks an image named by tag cannot pass, with why; none for a digest.

    The default image is a local build (``kind load docker-image dome:0.1.0``) that no
    registry serves: it has no digest to pin and cannot be pulled ``Always``.
    """
    if "@" in image:
        return {}
    return {
        "CKV_K8S_43": "image by tag: the default is a local build with no registry digest; "
        "set spec.image.digest to pin it",
        "CKV_K8S_15": "pullPolicy Always cannot pull a kind-loaded local image; "
        "a digest-pinned image passes without it",
    }


def checkov_skips(skips: Mapping[str, str]) -> dict[str, str]:
    """checkov's skip annotations for ``{check id: reason}``, numbered in order.

    >>> checkov_skips({"CKV_K8S_11": "no CPU limit on purpose"})
    {'checkov.io/skip1': 'CKV_K8S_11=no CPU limit on purpose'}
    """
    for check, reason in skips.items():
        if "=" in reason or not reason:
            raise ValueError(f"{check}: a checkov skip reason must be non-empty, without '='")
    return {
        f"{CHECKOV_SKIP_PREFIX}{index}": f"{check}={reason}"
        for index, (check, reason) in enumerate(skips.items(), start=1)
    }


def _api_access_volume() -> dict[str, Any]:
    return {
        "name": API_ACCESS_VOLUME,
        "projected": {
            "defaultMode": 0o444,
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": API_TOKEN_SECONDS}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }
