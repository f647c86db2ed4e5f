"""A small client for TorchServe's management and inference APIs (standard library only).

The gateway and the workers talk to the model server only through this class, so another
server could take TorchServe's place behind the same methods.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any


class TorchServeError(Exception):
    """TorchServe answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"TorchServe {status}: {message}")
        self.status = status
        self.message = message


class TorchServeUnavailable(TorchServeError):
    """TorchServe did not answer (down, starting, or too slow)."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class TorchServeClient:
    inference_url: str  # e.g. http://127.0.0.1:8080
    management_url: str  # e.g. http://127.0.0.1:8081 (never exposed outside the stack)
    timeout_s: float = 10.0

    # ---- inference ----------------------------------------------------------------------

    def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the inference API answers and reports itself healthy."""
        try:
            answer = self._call("GET", self.inference_url, "/ping", timeout=timeout_s)
            return bool(answer.json().get("status") == "Healthy")
        except (TorchServeError, ValueError):
            return False

    def infer(
        self, name: str, payload: dict[str, Any], version: str | None = None, check: bool = True
    ) -> Response:
        """POST a JSON request to a model; with ``check`` an error status raises."""
        path = f"/predictions/{_quote(name)}" + (f"/{_quote(version)}" if version else "")
        body = json.dumps(payload).encode()
        return self._call("POST", self.inference_url, path, body=body, check=check)

    # ---- management -----------------------------------------------------------------------

    def register(
        self,
        archive: str,
        name: str | None = None,
        initial_workers: int = 1,
        timeout_s: float = 180.0,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Register an archive (a file name in the model store, or a URL); with ``wait``, until its
        workers are up (without, TorchServe starts them meanwhile: see ``describe``)."""
        synchronous = "true" if wait else "false"
        query = {"url": archive, "initial_workers": initial_workers, "synchronous": synchronous}
        if name:
            query["model_name"] = name
        path = "/models?" + urllib.parse.urlencode(query)
        return dict(self._call("POST", self.management_url, path, timeout=timeout_s).json())

    def scale(
        self,
        name: str,
        min_workers: int,
        max_workers: int | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        query = urllib.parse.urlencode(
            {
                "min_worker": min_workers,
                "max_worker": max_workers or min_workers,
                "synchronous": "true",
            }
        )
        path = f"/models/{_quote(name)}" + (f"/{_quote(version)}" if version else "") + f"?{query}"
        return dict(self._call("PUT", self.management_url, path, timeout=180.0).json())

    def set_default(self, name: str, version: str) -> dict[str, Any]:
        path = f"/models/{_quote(name)}/{_quote(version)}/set-default"
        return dict(self._call("PUT", self.management_url, path).json())

    def unregister(self, name: str, version: str | None = None) -> dict[str, Any]:
        path = f"/models/{_quote(name)}" + (f"/{_quote(version)}" if version else "")
        return dict(self._call("DELETE", self.management_url, path, timeout=60.0).json())

    def list_models(self) -> list[dict[str, Any]]:
        """Every registered model name with its default archive, following the pages."""
        models: list[dict[str, Any]] = []
        token = ""
        while True:
            query = urllib.parse.urlencode({"limit": 100, "next_page_token": token})
            page = self._call("GET", self.management_url, f"/models?{query}").json()
            models.extend(page.get("models", []))
            token = page.get("nextPageToken", "")
            if not token:
                return models

    def describe(self, name: str, version: str | None = "all") -> list[dict[str, Any]]:
        """Each version's description (workers, batch size, default flag); 'all' by default."""
        path = f"/models/{_quote(name)}" + (f"/{_quote(version)}" if version else "")
        return list(self._call("GET", self.management_url, path).json())

    # ---- plumbing -------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        base: str,
        path: str,
        body: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> Response:
        """One request on this thread's kept-alive connection to ``base`` (opened on demand)."""
        target = urllib.parse.urlsplit(base).path.rstrip("/") + path
        headers = {"Content-Type": "application/json"} if body is not None else {}
        limit = timeout or self.timeout_s
        for attempt in (1, 2):
            connection = _connection(base, limit)
            reused = connection.sock is not None
            try:
                connection.request(method, target, body=body, headers=headers)
                answer = connection.getresponse()
                response = _response(answer.status, answer.getheaders(), answer.read())
                if answer.will_close:
                    connection.close()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                connection.close()
                if reused and attempt == 1:
                    continue  # the server had closed the idle connection: one fresh try
                raise TorchServeUnavailable(f"{base} did not answer ({error})") from None
            except (OSError, http.client.HTTPException) as error:  # refused, timed out, garbled
                connection.close()
                raise TorchServeUnavailable(f"{base} did not answer ({error})") from None
        if check and response.status >= 400:
            raise TorchServeError(response.status, _message(response))
        return response


_local = threading.local()


def _connection(base: str, timeout: float) -> http.client.HTTPConnection:
    """This thread's connection to ``base``: keep-alive saves a TCP handshake per request."""
    pool: dict[str, http.client.HTTPConnection] = _local.__dict__.setdefault("pool", {})
    connection = pool.get(base)
    if connection is None:
        parts = urllib.parse.urlsplit(base)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80)
        pool[base] = connection
    connection.timeout = timeout
    if connection.sock is not None:
        connection.sock.settimeout(timeout)
    return connection


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    plain = {key.lower(): value for key, value in headers}
    return Response(status, plain.get("content-type", ""), body, plain)


def _message(response: Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.body.decode("utf-8", "replace")[:500]
    if isinstance(payload, dict):
        if "detail" in payload:  # an RFC 9457 problem, as our handler answers
            return str(payload["detail"])
        error = payload.get("error")
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        return str(payload.get("message", payload))
    return str(payload)


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")
