"""A throwaway certificate authority and one certificate for loopback, made with openssl.

Every process (discovery, engines, the test's clients) presents the same certificate,
valid for 127.0.0.1 and localhost as both server and client, signed by a CA that each
of them trusts: the layout of a cert-manager Secret (tls.crt, tls.key, ca.crt).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def unavailable() -> str | None:
    """Why certificates cannot be made here, or None."""
    return None if shutil.which("openssl") else "openssl is not installed"


def make_tls_dir(directory: Path) -> Path:
    """Write ca.crt, tls.crt and tls.key into ``directory``; returns it."""
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=dome-test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr",
        "-subj", "/CN=localhost")  # fmt: skip
    (directory / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    run("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tls.crt", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return directory
