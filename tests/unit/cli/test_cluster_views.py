"""Placement and check as plain data: shapes, verdicts, and what the live view prints."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from dome.cli_commands.placement import placement_table
from dome.cli_commands.view import Progress
from dome.client.simulation import SimulationTotals
from dome.files import write_json
from dome.local.check import compare
from dome.local.placement import discovery_from_cluster, placement_json
from dome.local.supervisor import LocalCluster, LocalProcess
from dome.v1 import discovery_pb2 as dp
from dome.v1 import replication_pb2 as rp


def _placement() -> dp.Placement:
    xyz = dp.SymbolPlacement(symbol="XYZ", epoch=2, primary="engine-1",
                             followers=["engine-0", "engine-2"],
                             in_sync=["engine-1", "engine-0", "engine-2"], seq=40)  # fmt: skip
    abc = dp.SymbolPlacement(symbol="ABC", epoch=3, primary="", followers=["engine-1"])
    return dp.Placement(
        version=7,
        symbols=[xyz, abc],
        engines=[
            dp.EngineInfo(
                engine_id="engine-1", address="h:2", alive=True, metrics_url="m", peer_address="h:9"
            ),
            dp.EngineInfo(engine_id="engine-0", address="h:1", alive=True),
            dp.EngineInfo(engine_id="engine-2", address="h:3", alive=False),
        ],
        replication_factor=3,
        acks="all",
    )


def test_placement_json_shape() -> None:
    doc = placement_json(_placement())
    assert list(doc["symbols"]) == ["ABC", "XYZ"]
    assert doc["symbols"]["XYZ"] == {
        "epoch": 2,
        "primary": "engine-1",
        "followers": ["engine-0", "engine-2"],
        "in_sync": ["engine-1", "engine-0", "engine-2"],
        "seq": 40,
    }
    assert doc["symbols"]["ABC"]["primary"] is None  # an election is open
    assert doc["engines"] == [
        {"id": "engine-0", "address": "h:1", "alive": True, "peer_address": ""},
        {"id": "engine-1", "address": "h:2", "alive": True, "peer_address": "h:9"},
        {"id": "engine-2", "address": "h:3", "alive": False, "peer_address": ""},
    ]
    assert (doc["replication_factor"], doc["acks"], doc["version"]) == (3, "all", 7)
    table = placement_table(doc)
    assert "(election)" in table
    assert "DEAD" in table


def test_discovery_is_found_in_cluster_json(tmp_path: Any) -> None:
    assert discovery_from_cluster(tmp_path) is None
    write_json(tmp_path / "cluster.json", {"processes": [
        {"role": "engine", "id": "engine-0", "address": "h:1"},
        {"role": "discovery", "id": "discovery", "address": "h:9"},
    ]})  # fmt: skip
    assert discovery_from_cluster(tmp_path) == "h:9"


def _status(
    engine: str, role: rp.ReplicaRole.ValueType, seq: int, digest: str
) -> rp.GetReplicaStatusResponse:
    replica = rp.ReplicaStatus(symbol="XYZ", role=role, epoch=2, applied_seq=seq,
                               journaled_seq=seq, committed_seq=seq, state_hash=digest)  # fmt: skip
    return rp.GetReplicaStatusResponse(engine_id=engine, replicas=[replica])


def _xyz_only() -> dict[str, Any]:
    doc = placement_json(_placement())
    del doc["symbols"]["ABC"]
    return doc


P, F = rp.REPLICA_ROLE_PRIMARY, rp.REPLICA_ROLE_FOLLOWER


def test_check_agrees_when_hashes_match_at_equal_seq() -> None:
    result = compare(_xyz_only(), {
        "engine-1": _status("engine-1", P, 40, "aa"),
        "engine-0": _status("engine-0", F, 40, "aa"),
        "engine-2": _status("engine-2", F, 40, "aa"),
    })  # fmt: skip
    assert (result["consistent"], result["converged"]) == (True, True)
    xyz = result["symbols"]["XYZ"]
    assert [r["engine"] for r in xyz["replicas"]] == ["engine-1", "engine-0", "engine-2"]
    assert xyz["replicas"][0] == {"engine": "engine-1", "reachable": True, "role": "primary",
                                  "epoch": 2, "seq": 40, "journaled_seq": 40,
                                  "committed_seq": 40, "state_hash": "aa"}  # fmt: skip


def test_check_flags_different_hashes_at_one_seq_only() -> None:
    behind = compare(_xyz_only(), {
        "engine-1": _status("engine-1", P, 40, "aa"),
        "engine-0": _status("engine-0", F, 39, "bb"),  # behind: not comparable
        "engine-2": None,  # unreachable: listed, inconsistent on its own never
    })  # fmt: skip
    assert (behind["consistent"], behind["converged"]) == (True, False)
    assert behind["symbols"]["XYZ"]["replicas"][2] == {
        "engine": "engine-2", "reachable": False, "role": "follower"}  # fmt: skip
    split = compare(_xyz_only(), {
        "engine-1": _status("engine-1", P, 40, "aa"),
        "engine-0": _status("engine-0", F, 40, "aa"),
        "engine-2": _status("engine-2", F, 40, "cc"),
    })  # fmt: skip
    assert split["consistent"] is False
    assert split["symbols"]["XYZ"]["consistent"] is False


async def test_the_view_prints_a_placement_line_on_each_change() -> None:
    out = io.StringIO()
    progress = Progress(out, live=False, symbols=["XYZ"], target="h:1", discovery="h:9")
    docs = [placement_json(_placement())]

    async def fake() -> dict[str, Any]:
        return docs[-1]

    progress._placement = fake  # type: ignore[method-assign]
    await progress.render(SimulationTotals(), None)
    await progress.render(SimulationTotals(), None)
    moved = placement_json(_placement())
    moved["symbols"]["XYZ"].update(epoch=3, primary="engine-0", followers=["engine-2"])
    docs.append(moved)
    await progress.render(SimulationTotals(), None)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("placement ")]
    assert lines == [
        "placement symbol=ABC epoch=3 primary=- followers=engine-1",
        "placement symbol=XYZ epoch=2 primary=engine-1 followers=engine-0,engine-2",
        "placement symbol=XYZ epoch=3 primary=engine-0 followers=engine-2",
    ]


async def test_the_view_names_the_engines_book_core() -> None:
    live, logged = io.StringIO(), io.StringIO()
    await Progress(live, live=True, symbols=[], target="h:1", core=lambda: "native").render(
        SimulationTotals(), None
    )
    await Progress(logged, live=False, symbols=[], target="h:1", core=lambda: "python").render(
        SimulationTotals(), None
    )
    header = live.getvalue().removeprefix("\x1b[H\x1b[2J").splitlines()[0]
    assert header.startswith("DOME  h:1  core native  up ")
    assert logged.getvalue().rstrip("\n").endswith(" core=python")
    unknown = io.StringIO()
    await Progress(unknown, live=False, symbols=[], target="h:1").render(SimulationTotals(), None)
    assert "core=" not in unknown.getvalue()


def test_cluster_cores_come_from_the_engines_ready_files() -> None:
    def engine(core: str) -> LocalProcess:
        return LocalProcess(None, {"role": "engine", "core": core}, Path("log"))  # type: ignore[arg-type]

    assert LocalCluster(None, [engine("native"), engine("native")]).cores() == "native"
    assert LocalCluster(None, [engine("python"), engine("native")]).cores() == "native+python"
    record = LocalCluster(None, [engine("python")]).record()
    assert record == {
        "processes": [
            {"role": "engine", "id": None, "address": None, "pid": None, "metrics": None,
             "core": "python", "peer": None}
        ]
    }  # fmt: skip
