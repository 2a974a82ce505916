"""The chart's pods: restricted in every values case, and shaped by the values they follow."""

from __future__ import annotations

from chart_render import (
    MATRIX,
    NAMESPACE,
    Obj,
    of_kind,
    only,
    pod_specs,
    render,
)


def test_every_pod_is_restricted(rendered: tuple[str, list[Obj]]) -> None:
    case, objs = rendered
    specs = list(pod_specs(objs))
    assert len(specs) == 2  # the operator and the `helm test` pod
    for name, spec in specs:
        pod = spec.get("securityContext", {})
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(flag), (name, flag)
        for container in spec["containers"] + spec.get("initContainers", []):
            ctx = container["securityContext"]
            where = (case, name, container["name"])
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in ctx["capabilities"], where
            assert not ctx.get("privileged"), where
            assert ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            seccomp = ctx.get("seccompProfile", pod.get("seccompProfile"))
            assert seccomp == {"type": "RuntimeDefault"}, where
            assert ctx.get("runAsUser", pod.get("runAsUser")) != 0, where


def test_operator_deployment() -> None:
    deployment = only(render(), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "dome:0.1.0"
    assert container["command"] == ["dome-operator"]
    assert container["args"] == [
        "--standalone",
        "--liveness=http://0.0.0.0:8081/healthz",
        "--metrics-port=8080",
        f"--namespace={NAMESPACE}",
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"health": 8081, "metrics": 8080}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_operator_args_follow_the_watch_scope() -> None:
    def args(*flags: str) -> list[str]:
        container = only(render(*flags), "Deployment")["spec"]["template"]["spec"]["containers"]
        return list(container[0]["args"])

    assert args(*MATRIX["cluster-wide"])[3:] == ["--all-namespaces"]
    assert args(*MATRIX["namespaces"])[3:] == [
        "--namespace=team-a",
        "--namespace=team-b",
        "--namespace=team-c",
    ]


def test_custom_values_reach_the_pod() -> None:
    objs = render(*MATRIX["custom"])
    assert not of_kind(objs, "ServiceAccount")
    deployment = only(objs, "Deployment")
    assert deployment["metadata"]["name"] == "dome-operator"
    assert deployment["spec"]["replicas"] == 0
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "dome-operator"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    (container,) = spec["containers"]
    assert container["image"] == "registry.example.com/dome:1.2.3"
    assert container["imagePullPolicy"] == "Always"
    assert container["args"][-1] == "--verbose"
    assert {"name": "DOME_LOG", "value": "debug"} in container["env"]
    assert container["resources"]["limits"] == {"cpu": 2, "memory": "1Gi"}
    for binding in of_kind(objs, "RoleBinding") + of_kind(objs, "ClusterRoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "dome-operator", "namespace": NAMESPACE}
        ]
