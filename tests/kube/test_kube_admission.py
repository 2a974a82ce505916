"""The Exchange CRD in a real API server: established, and refusing every bad Exchange.

tests/operator/test_crd_schema.py checks the bad Exchanges against the CRD's schema with
jsonschema, which knows neither CEL (``x-kubernetes-validations``), list-map keys nor
strict field decoding; here kube-apiserver itself admits or refuses each one, through
kubectl as a user would meet it, and the message is the API server's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from control_plane import ControlPlane
from kube_chart import CRD, NAMESPACE, Chart

REPO = Path(__file__).resolve().parents[2]
BAD_EXCHANGES = REPO / "tests" / "operator" / "bad_exchanges"
GOOD_EXCHANGES = REPO / "tests" / "operator" / "exchanges"
#: What kube-apiserver answers for each bad Exchange (a part of its message that names
#: the field and the rule). A new bad Exchange needs a line here: the test fails without.
DECIMAL = r"'^([1-9][0-9]*(\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*)$'"
REFUSED = {
    "acks-typo": 'spec.replication.acks: Unsupported value: "al": '
    'supported values: "all", "majority"',
    "bad-quantity-string": 'spec.instruments[0].tickSize: Invalid value: "1e-2": '
    f"spec.instruments[0].tickSize in body should match {DECIMAL}",
    "bad-storage-size": 'spec.storage.size: Invalid value: "lots": spec.storage.size in body '
    "should match '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$'",
    "bad-symbol": 'spec.instruments[0].symbol: Invalid value: "btc/usd": '
    "spec.instruments[0].symbol in body should match '^[A-Z0-9][A-Z0-9._-]{0,31}$'",
    # A list-map keyed by symbol: jsonschema cannot say this, the API server does.
    "duplicate-symbol": 'spec.instruments[1]: Duplicate value: {"symbol":"BTC-USD"}',
    "empty-instruments": "spec.instruments: Invalid value: 0: "
    "spec.instruments in body should have at least 1 items",
    "engines-not-a-number": 'spec.engines: Invalid value: "string": '
    'spec.engines in body must be of type integer: "string"',
    "engines-too-many": "spec.engines: Invalid value: 100: "
    "spec.engines in body should be less than or equal to 64",
    "engines-zero": "spec.engines: Invalid value: 0: "
    "spec.engines in body should be greater than or equal to 1",
    # CEL (x-kubernetes-validations): never evaluated before this suite.
    "factor-above-engines": "spec.replication.factor: Invalid value: "
    "replication.factor cannot exceed engines",
    "missing-accounts-secret": "spec.auth: Required value",
    "missing-instruments": "spec.instruments: Required value",
    "name-too-long": "Invalid value: name must be a DNS label (lowercase letters, digits, '-', "
    "starting with a letter) of at most 45 characters",
    # kubectl asks for strict field validation; without it the API server would prune.
    "fix-port-is-metrics": "spec.fix.port: Invalid value: 9100: 9100 is the gateway's metrics port",
    "fix-without-tokens": "spec.fix.tokensSecret: Invalid value: "
    "an enabled FIX gateway needs tokensSecret (the accounts' tokens)",
    "unknown-field": 'strict decoding error: unknown field "spec.replicas"',
    "external-service-type": 'spec.service.external: Unsupported value: "Ingress": '
    'supported values: "LoadBalancer", "NodePort"',
    # spec.pods: a typed toleration, CEL over maps' keys.
    "toleration-operator-typo": 'spec.pods.tolerations[0].operator: Unsupported value: "Exist": '
    'supported values: "Exists", "Equal"',
    "pod-label-reserved": "spec.pods.labels: Invalid value: "
    "app.kubernetes.io/ and dome.dev/ keys are the operator's",
    "affinity-typo": 'strict decoding error: unknown field "spec.pods.affinity.nodeAfinity"',
    "zero-lot": 'spec.instruments[0].lotSize: Invalid value: "0": '
    f"spec.instruments[0].lotSize in body should match {DECIMAL}",
}
#: Bad Exchanges the CRD cannot refuse (a decimal multiple is beyond CEL's types here):
#: the API server admits them and the operator's render is the check that counts.
ADMITTED = {"quantity-off-lot"}
BAD = sorted(BAD_EXCHANGES.glob("*.yaml"))
REFUSED_PATHS = [path for path in BAD if path.stem not in ADMITTED]


def test_the_crd_is_established_with_the_chart(plane: ControlPlane, chart: Chart) -> None:
    crd = plane.api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD}")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    # A structural schema: the API server says so by not reporting NonStructuralSchema.
    assert "NonStructuralSchema" not in conditions


def test_every_bad_exchange_has_an_expectation() -> None:
    assert {path.stem for path in BAD} == set(REFUSED) | ADMITTED


@pytest.mark.parametrize("path", REFUSED_PATHS, ids=[path.stem for path in REFUSED_PATHS])
def test_the_api_server_refuses_each_bad_exchange(
    plane: ControlPlane, chart: Chart, path: Path
) -> None:
    out = plane.kubectl("create", f"--namespace={NAMESPACE}", "-f", str(path), check=False)
    stored = plane.kubectl("get", "exchanges", f"--namespace={NAMESPACE}", "-o", "name")
    if stored:  # wrongly admitted: gone again, so the tests after this one are not misled
        plane.kubectl("delete", "-f", str(path), f"--namespace={NAMESPACE}", "--wait=true")
    assert REFUSED[path.stem] in out, out
    assert "is invalid" in out or "strict decoding error" in out, out
    assert stored == "", f"stored although refused: {stored}"


def test_retain_on_delete_and_size_may_change_but_size_never_shrinks_and_class_stays(
    plane: ControlPlane, chart: Chart, tmp_path: Path
) -> None:
    # In a namespace the operator does not watch: only admission is under test here.
    exchange = yaml.safe_load((GOOD_EXCHANGES / "minimal.yaml").read_text())
    name = exchange["metadata"]["name"]
    path = tmp_path / "exchange.yaml"
    path.write_text(yaml.safe_dump(exchange))
    plane.kubectl("create", "--namespace=default", "-f", str(path))
    try:
        where = ["exchange", name, "--namespace=default", "--type=merge", "-p"]
        plane.kubectl("patch", *where, '{"spec":{"storage":{"retainOnDelete":false}}}')
        plane.kubectl("patch", *where, '{"spec":{"storage":{"size":"2Gi"}}}')
        plane.kubectl("patch", *where, '{"spec":{"storage":{"size":"2048Mi"}}}')  # the same
        for smaller in ("1Gi", "2047Mi", "2G"):
            change = f'{{"spec":{{"storage":{{"size":"{smaller}"}}}}}}'
            out = plane.kubectl("patch", *where, change, check=False)
            assert "storage size may grow but never shrink" in out, out
        out = plane.kubectl(
            "patch", *where, '{"spec":{"storage":{"storageClassName":"other"}}}', check=False
        )
        assert "storage class cannot change once set" in out, out
        stored = plane.api.get(f"/apis/dome.dev/v1alpha1/namespaces/default/exchanges/{name}")[
            "spec"
        ]["storage"]
        assert stored == {"size": "2048Mi", "retainOnDelete": False}, stored
    finally:
        plane.kubectl("delete", "exchange", name, "--namespace=default", "--wait=true")
