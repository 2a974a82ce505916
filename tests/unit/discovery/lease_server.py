"""A small real HTTP server that keeps Leases like the API server: the three endpoints
discovery's Lease users call (get, create, replace), with ``resourceVersion`` bumped on
every write and 409 on a stale replace or on creating what exists.

kmock's plain emulator does not set ``resourceVersion`` or refuse stale replaces (the
operator tests' ``ClusterEmulator`` adds that, but lives in another test tree).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BASE = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"


@dataclass
class LeaseServer:
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    revision: int = 0
    tokens: list[str] = field(default_factory=list)
    #: Answer every request with 500, as an API server that lost etcd does.
    refuse: bool = False

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._refusing])
        app.router.add_get(BASE + "/{name}", self.get)
        app.router.add_post(BASE, self.create)
        app.router.add_put(BASE + "/{name}", self.replace)
        return app

    @web.middleware
    async def _refusing(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.refuse:
            return web.json_response({"kind": "Status", "code": 500}, status=500)
        response: web.StreamResponse = await handler(request)
        return response

    def _bump(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        return obj

    async def get(self, request: web.Request) -> web.Response:
        self.tokens.append(request.headers.get("Authorization", ""))
        lease = self.leases.get((request.match_info["ns"], request.match_info["name"]))
        if lease is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.json_response(lease)

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = (request.match_info["ns"], body["metadata"]["name"])
        if key in self.leases:
            return web.json_response({"kind": "Status", "reason": "AlreadyExists"}, status=409)
        body["metadata"].pop("resourceVersion", None)
        self.leases[key] = self._bump(copy.deepcopy(body))
        return web.json_response(self.leases[key], status=201)

    async def replace(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = (request.match_info["ns"], request.match_info["name"])
        live = self.leases.get(key)
        if live is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        if body["metadata"].get("resourceVersion") != live["metadata"]["resourceVersion"]:
            return web.json_response({"kind": "Status", "reason": "Conflict"}, status=409)
        self.leases[key] = self._bump(copy.deepcopy(body))
        return web.json_response(self.leases[key])
