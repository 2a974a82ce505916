"""The control plane's keys and certificates, made with openssl for one test session.

One CA signs the API server's serving certificate (for 127.0.0.1 and the names an
in-cluster client uses) and the administrator's client certificate (group
``system:masters``, as kubeadm's admin.conf). The service-account key pair signs and
checks the tokens the API server issues (TokenRequest), which the operator and
discovery present as their ServiceAccounts, so RBAC applies to them.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Names the API server's certificate is valid for: loopback and the in-cluster names.
SERVING_NAMES = ("IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                 "DNS:kubernetes.default.svc")  # fmt: skip


@dataclass(frozen=True)
class Certificates:
    ca: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_pub: Path


def make_certificates(directory: Path) -> Certificates:
    """Write every key and certificate into ``directory`` (valid for one day)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed to make the control plane's certificates")
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    def key(name: str) -> Path:
        path = directory / f"{name}.key"
        run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-out", str(path))  # fmt: skip
        return path

    ca_key = key("ca")
    ca = directory / "ca.crt"
    run("req", "-x509", "-new", "-key", str(ca_key), "-days", "1", "-subj", "/CN=dome-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(ca))  # fmt: skip

    def signed(name: str, subject: str, extensions: str) -> tuple[Path, Path]:
        private = key(name)
        request, cert = directory / f"{name}.csr", directory / f"{name}.crt"
        ext = directory / f"{name}.ext"
        ext.write_text(extensions)
        run("req", "-new", "-key", str(private), "-subj", subject, "-out", str(request))
        run("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
        return cert, private

    serving_cert, serving_key = signed(
        "apiserver",
        "/CN=kube-apiserver",
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(SERVING_NAMES)}\n",
    )
    admin_cert, admin_key = signed(
        "admin",
        "/O=system:masters/CN=dome-test-admin",
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    sa_key = key("service-account")
    sa_pub = directory / "service-account.pub"
    run("pkey", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
    return Certificates(ca, serving_cert, serving_key, admin_cert, admin_key, sa_key, sa_pub)
