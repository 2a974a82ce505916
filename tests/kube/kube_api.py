"""A small synchronous client for the real API server: what the tests assert with.

It speaks plain REST with the administrator's client certificate (or a bearer token),
so a test sees exactly the status code and message the API server answers, which is
what the admission and RBAC tests check. kubectl and helm are run as programs instead
wherever the user's experience is the point.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ApiError(Exception):
    """An HTTP error from the API server, with its Status object."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('message', body)}")
        self.status = status
        self.body = dict(body)

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


@dataclass
class Kube:
    """The API server at ``url``, as the administrator or as a token's owner."""

    url: str
    ca: Path
    cert: Path | None = None
    key: Path | None = None
    token: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        self._context = ssl.create_default_context(cafile=str(self.ca))
        if self.cert is not None:
            self._context.load_cert_chain(str(self.cert), str(self.key))

    def as_token(self, token: str) -> Kube:
        """The same API server, authenticated only by ``token`` (no client certificate)."""
        return Kube(self.url, self.ca, token=token, timeout=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        raw: bool = False,
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, context=self._context, timeout=self.timeout) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            try:
                status = json.loads(text)
            except ValueError:
                status = {"message": text}
            raise ApiError(error.code, status) from None
        return text if raw else json.loads(text)

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def find(self, path: str) -> Any:
        """The object at ``path``, or None where the API server answers 404."""
        try:
            return self.get(path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def create(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, body)

    def merge_patch(self, path: str, patch: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def apply(self, path: str, body: Mapping[str, Any], manager: str = "dome-tests") -> Any:
        """Server-side apply of ``body`` at ``path`` (the object's own URL)."""
        return self.request(
            "PATCH",
            f"{path}?fieldManager={manager}&force=true",
            body,
            content_type="application/apply-patch+yaml",
        )

    def items(self, path: str, selector: str = "") -> list[dict[str, Any]]:
        query = f"?labelSelector={urllib.request.quote(selector)}" if selector else ""
        items: list[dict[str, Any]] = self.get(path + query)["items"]
        return items


def resource_path(api_version: str, plural: str, namespace: str | None, name: str = "") -> str:
    """The REST path of a collection or, with ``name``, of one object.

    >>> resource_path("v1", "pods", "trading", "a")
    '/api/v1/namespaces/trading/pods/a'
    >>> resource_path("apps/v1", "statefulsets", None)
    '/apis/apps/v1/statefulsets'
    """
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{scope}/{plural}" + (f"/{name}" if name else "")
