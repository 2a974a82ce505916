"""``TlsSource``: what a renewed, an unusable and a mismatched TLS directory do.

Real certificates (openssl) on a kubelet-style volume; the process-level behaviour (new
connections get the renewed certificate) is ``tests/cluster/test_tls_renewal.py``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from dome.discovery.agent import DiscoveryAgent
from dome.engine.peers import Peers
from dome.tls import TlsFiles, TlsFilesError
from dome.tls_renewal import TlsSource

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from certificates import SecretVolume, make_tls_dir, renew, tls_files, unavailable

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no certificates: {REASON}")
COMPLAINT = "TLS files changed but are unusable; the certificates in force stay"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A first certificate and its renewal by the same CA."""
    root = tmp_path_factory.mktemp("certs")
    first = make_tls_dir(root / "first")
    return first, renew(first, root / "renewed")


def complaints(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == COMPLAINT for r in caplog.records)


def test_a_renewal_is_put_in_force(pair: tuple[Path, Path], tmp_path: Path) -> None:
    first, renewed = pair
    volume = SecretVolume(tmp_path / "tls", tls_files(first))
    source = TlsSource(volume.root)
    source.check()
    assert (source.generation, source.files) == (0, TlsFiles.from_dir(first))
    volume.project(tls_files(renewed))
    source.check()
    assert (source.generation, source.files) == (1, TlsFiles.from_dir(renewed))
    source.check()  # nothing new
    assert source.generation == 1


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(
            lambda f, r: {**f, "tls.crt": b"-----BEGIN CERTIFICATE-----\nx\n"}, id="garbage"
        ),
        pytest.param(lambda f, r: {**f, "tls.key": r["tls.key"]}, id="key-of-another"),
        pytest.param(lambda f, r: {**f, "ca.crt": b"-----BEGIN CERTIFICATE-----\n"}, id="bad-ca"),
        pytest.param(lambda f, r: {**f, "tls.key": b"not pem"}, id="not-pem"),
    ],
)
def test_an_unusable_renewal_keeps_the_files_and_complains_once(
    pair: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, spoil: object
) -> None:
    first, renewed = pair
    volume = SecretVolume(tmp_path / "tls", tls_files(first))
    source = TlsSource(volume.root)
    caplog.set_level(logging.INFO, logger="dome.tls")
    volume.project(spoil(tls_files(first), tls_files(renewed)))  # type: ignore[operator]
    source.check()
    source.check()
    assert (source.generation, source.files) == (0, TlsFiles.from_dir(first))
    assert complaints(caplog) == 1
    # Fixed: the next usable content is taken.
    volume.project(tls_files(renewed))
    source.check()
    assert (source.generation, source.files) == (1, TlsFiles.from_dir(renewed))


def test_mutual_tls_is_not_switched_off_by_a_renewal(
    pair: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, renewed = pair
    root = tmp_path / "tls"
    root.mkdir()
    for name, data in tls_files(first).items():
        (root / name).write_bytes(data)
    source = TlsSource(root)
    (root / "ca.crt").unlink()
    (root / "tls.crt").write_bytes((renewed / "tls.crt").read_bytes())
    (root / "tls.key").write_bytes((renewed / "tls.key").read_bytes())
    source.check()
    assert (source.generation, source.files) == (0, TlsFiles.from_dir(first))
    assert complaints(caplog) == 1


def test_an_unusable_directory_at_start_is_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    first, renewed = pair
    volume = SecretVolume(
        tmp_path / "tls", {**tls_files(first), "tls.key": tls_files(renewed)["tls.key"]}
    )
    with pytest.raises(TlsFilesError):
        TlsSource(volume.root)


async def test_peers_open_new_channels_after_a_renewal(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    first, renewed = pair
    volume = SecretVolume(tmp_path / "tls", tls_files(first))
    source = TlsSource(volume.root)
    peers = Peers(source)
    peers.update({"engine-1": "127.0.0.1:1"})
    before = peers.channel("engine-1")
    assert peers.channel("engine-1") is before
    volume.project(tls_files(renewed))
    source.check()
    after = peers.channel("engine-1")
    assert after is not before
    assert peers.channel("engine-1") is after
    await peers.close()


async def test_the_discovery_agent_dials_with_renewed_files(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """The agent's calls go through a channel opened with the files in force, so a
    reconnection to discovery after a renewal presents the renewed certificate."""
    first, renewed = pair
    volume = SecretVolume(tmp_path / "tls", tls_files(first))
    source = TlsSource(volume.root)
    agent = DiscoveryAgent(
        "127.0.0.1:1", "engine-0", "127.0.0.1:2", "", lambda: [], lambda _: None, tls=source
    )
    before = agent._stub
    assert agent._stub is before
    volume.project(tls_files(renewed))
    source.check()
    after = agent._stub
    assert after is not before
    assert agent._stub is after
    await agent.stop()
