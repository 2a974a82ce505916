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


def renew(ca_dir: Path, directory: Path) -> Path:
    """A new tls.crt and tls.key for loopback in ``directory``, signed by ``ca_dir``'s CA.

    What cert-manager writes when it renews: the same authority (ca.crt copied along), a
    new key and a certificate with a new serial number.
    """
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr",
        "-subj", "/CN=localhost")  # fmt: skip
    run("x509", "-req", "-in", "tls.csr", "-CA", str(ca_dir / "ca.crt"), "-CAkey",
        str(ca_dir / "ca.key"), "-CAcreateserial", "-out", "tls.crt", "-days", "2",
        "-extfile", str(ca_dir / "ext.cnf"))  # fmt: skip
    shutil.copyfile(ca_dir / "ca.crt", directory / "ca.crt")
    return directory


def serial(certificate: Path) -> int:
    """The serial number of a PEM certificate."""
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-serial", "-in", str(certificate)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(out.strip().partition("=")[2], 16)


class SecretVolume:
    """A directory laid out as the kubelet lays out a Secret volume, and its updates.

    The files live in a timestamped directory; ``..data`` links to it and each file is a
    link through ``..data``. An update writes a new timestamped directory and renames a
    new ``..data`` link over the old one: one atomic flip, as the kubelet's
    AtomicWriter does.
    """

    def __init__(self, root: Path, files: dict[str, bytes]) -> None:
        self.root = root
        self.generation = 0
        root.mkdir(parents=True, exist_ok=True)
        self.project(files)
        for name in files:
            (root / name).symlink_to(Path("..data") / name)

    def project(self, files: dict[str, bytes]) -> None:
        """Flip the volume to ``files`` (the same names as at the start)."""
        self.generation += 1
        version = self.root / f"..2026_12_03_{self.generation:04d}"
        version.mkdir()
        for name, data in files.items():
            (version / name).write_bytes(data)
        link = self.root / "..data_tmp"
        link.symlink_to(version.name)
        link.replace(self.root / "..data")


def tls_files(directory: Path) -> dict[str, bytes]:
    """tls.crt, tls.key and ca.crt of ``directory``, as a Secret would hold them."""
    return {name: (directory / name).read_bytes() for name in ("tls.crt", "tls.key", "ca.crt")}
