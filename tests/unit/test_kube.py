"""dome.kube: one login for the operator and discovery, read when it is asked for.

The service account wins in a pod (IPv6 hosts bracketed, the token re-read before every
request, as projected tokens rotate); elsewhere the kubeconfig that KUBECONFIG names at
the time of the call, not at the time the library was imported; kopf logs in with the
same server, CA and token.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dome import kube


def _kubeconfig(path: Path, server: str, token: str, namespace: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [
                    {"name": "x", "context": {"cluster": "c", "user": "u", "namespace": namespace}}
                ],
                "current-context": "x",
            }
        )
    )
    return path


def test_in_a_pod_the_service_account_is_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("first\n")
    (tmp_path / "namespace").write_text("trading")
    monkeypatch.setenv(kube.SERVICE_ACCOUNT_ENV, str(tmp_path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    assert kube.in_cluster()
    configuration = kube.load_configuration()
    assert configuration.host == "https://[fd00::1]:6443"
    assert kube.bearer_token(configuration) == "first"
    (tmp_path / "token").write_text("rotated\n")
    assert kube.bearer_token(configuration) == "rotated"  # re-read, not cached
    assert kube.default_namespace() == "trading"


def test_outside_a_pod_the_kubeconfig_named_now_is_the_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    path = _kubeconfig(tmp_path / "config", "http://127.0.0.1:6443", "dev-token", "desk")
    monkeypatch.setenv("KUBECONFIG", str(path))  # after the library was imported
    configuration = kube.load_configuration()
    assert configuration.host == "http://127.0.0.1:6443"
    login = kube.kopf_connection(configuration)
    assert (login.server, login.token, login.scheme) == (
        "http://127.0.0.1:6443",
        "dev-token",
        "Bearer",
    )
    assert login.default_namespace == "desk"


def test_no_login_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(kube.KubeConfigError, match="absent"):
        kube.load_configuration()
    with pytest.raises(kube.KubeConfigError, match="KUBERNETES_SERVICE_HOST"):
        kube.in_cluster_configuration(tmp_path)


def test_an_empty_token_file_is_a_typed_error_of_the_request(tmp_path: Path) -> None:
    """A token caught mid-rewrite (or not yet written) must fail that request with a
    KubeConfigError, which callers retry; sent as is, the client put None in the
    Authorization header and the discovery replica died of a TypeError in http.client."""
    token = tmp_path / "token"
    configuration = kube.token_configuration("https://127.0.0.1:1", token_file=token)
    token.write_text("")
    with pytest.raises(kube.KubeConfigError, match="is empty"):
        configuration.auth_settings()
    token.write_text("abc\n")
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer abc"
