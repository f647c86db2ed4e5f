"""A small client for TorchServe's management and inference APIs (standard library only).

The gateway and the workers talk to the model server only through this class, so another
server could take TorchServe's place behind the same methods.

With token authorisation on, TorchServe writes its keys to a key file at each start; the client
reads it on first use and sends the management key to the management API, the inference key to
the inference API. A restarted TorchServe has new keys, so a refused key makes the client read the
file again and try once more.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import ipaddress
import json
import queue
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFERENCE = "inference"
MANAGEMENT = "management"
# beside the key file, docker/torchserve-start.sh writes what TorchServe cannot use (none: no file)
START_PROBLEMS = "start-problems.txt"


class TorchServeError(Exception):
    """TorchServe answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"TorchServe {status}: {message}")
        self.status = status
        self.message = message


class TorchServeUnavailable(TorchServeError):
    """TorchServe did not answer (down, starting, or too slow)."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(status, message)


class TorchServeKeyRefused(TorchServeUnavailable):
    """TorchServe refused the key, also once the key file was read again: most often a restarted
    TorchServe that has not written its new keys yet, so callers retry it like an outage."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=401)


class NoManagementAPI(RuntimeError):
    """A management call on a client made for the inference API only (the gateway's)."""


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class KeyFile:
    """TorchServe's keys from its key_file.json: read on first use, and again on ``reload``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._keys: dict[str, str] | None = None

    def key(self, api: str) -> str:
        """The key of ``api`` ('management' or 'inference'), read from the file if not yet."""
        with self._lock:
            keys = self._keys if self._keys is not None else self._read()
        if api not in keys:
            raise TorchServeKeyRefused(f"{self.path} holds no {api} key")
        return keys[api]

    def reload(self) -> None:
        with self._lock:
            self._keys = None
            self._read()

    def _read(self) -> dict[str, str]:
        """{"management": {"key": ...}, "inference": {"key": ...}, "API": {...}} as TorchServe
        writes it; a file that is missing or half written is an outage (TorchServe starting)."""
        try:
            written = json.loads(self.path.read_text())
        except OSError as error:
            raise TorchServeUnavailable(
                f"no TorchServe key file at {self.path} ({error.strerror})"
            ) from None
        except ValueError:
            raise TorchServeUnavailable(
                f"TorchServe's key file {self.path} is not JSON (yet)"
            ) from None
        keys = {
            api: section["key"]
            for api, section in (written.items() if isinstance(written, dict) else [])
            if api in (INFERENCE, MANAGEMENT)
            and isinstance(section, dict)
            and isinstance(section.get("key"), str)
        }
        self._keys = keys
        return keys


@dataclass(frozen=True)
class TorchServeClient:
    inference_url: str  # e.g. http://127.0.0.1:8080
    # e.g. http://127.0.0.1:8081 (never exposed outside the stack), or TorchServe's own form of a
    # Unix socket, unix:/path/to/management.sock (compose: no TCP port at all); None: inference only
    management_url: str | None = None
    timeout_s: float = 10.0
    key_file: Path | None = None  # TorchServe's key_file.json; None: token authorisation is off
    _keys: KeyFile | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = KeyFile(self.key_file) if self.key_file is not None else None
        object.__setattr__(self, "_keys", keys)  # frozen: set once, here

    def start_problems(self) -> list[str]:
        """What TorchServe's start script found it cannot use (compose), read from beside the
        key file: a model store it cannot read would otherwise only show as failed loads."""
        if self.key_file is None:
            return []
        try:
            text = (self.key_file.parent / START_PROBLEMS).read_text()
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    # ---- inference ----------------------------------------------------------------------

    def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the inference API answers and reports itself healthy."""
        try:
            answer = self._call(INFERENCE, "GET", "/ping", timeout=timeout_s)
            return bool(answer.json().get("status") == "Healthy")
        except (TorchServeError, ValueError):
            return False

    def infer(
        self,
        name: str,
        payload: dict[str, Any],
        version: str | None = None,
        check: bool = True,
        request_id: str | None = None,
    ) -> Response:
        """POST a JSON request to a model; with ``check`` an error status raises. A request id
        goes along as X-Request-Id."""
        path = f"/predictions/{_quote(name)}" + (f"/{_quote(version)}" if version else "")
        body = json.dumps(payload).encode()
        extra = {"X-Request-Id": request_id} if request_id else {}
        return self._call(INFERENCE, "POST", path, body=body, check=check, extra=extra)

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
        return dict(self._call(MANAGEMENT, "POST", path, timeout=timeout_s).json())

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
        return dict(self._call(MANAGEMENT, "PUT", path, timeout=180.0).json())

    def set_default(self, name: str, version: str) -> dict[str, Any]:
        path = f"/models/{_quote(name)}/{_quote(version)}/set-default"
        return dict(self._call(MANAGEMENT, "PUT", path).json())

    def unregister(self, name: str, version: str | None = None) -> dict[str, Any]:
        path = f"/models/{_quote(name)}" + (f"/{_quote(version)}" if version else "")
        return dict(self._call(MANAGEMENT, "DELETE", path, timeout=60.0).json())

    def list_models(self) -> list[dict[str, Any]]:
        """Every registered model name with its default archive, following the pages."""
        models: list[dict[str, Any]] = []
        token = ""
        while True:
            query = urllib.parse.urlencode({"limit": 100, "next_page_token": token})
            page = self._call(MANAGEMENT, "GET", f"/models?{query}").json()
            models.extend(page.get("models", []))
            token = page.get("nextPageToken", "")
            if not token:
                return models

    def describe(self, name: str, version: str | None = "all") -> list[dict[str, Any]]:
        """Each version's description (workers, batch size, default flag); 'all' by default."""
        path = f"/models/{_quote(name)}" + (f"/{_quote(version)}" if version else "")
        return list(self._call(MANAGEMENT, "GET", path).json())

    # ---- plumbing -------------------------------------------------------------------------

    def _call(
        self,
        api: str,
        method: str,
        path: str,
        body: bytes | None = None,
        timeout: float | None = None,
        check: bool = True,
        extra: dict[str, str] | None = None,
    ) -> Response:
        """One request to ``api`` with its key; a refused key is read afresh and tried once more.

        A refused key raises even without ``check``: it is never the model's answer."""
        base = self._base(api)
        limit = timeout or self.timeout_s
        response = _send(method, base, path, body, self._headers(api, body) | (extra or {}), limit)
        if _key_refused(response) and self._keys is not None:
            self._keys.reload()  # a restarted TorchServe wrote new keys
            headers = self._headers(api, body) | (extra or {})
            response = _send(method, base, path, body, headers, limit)
        if _key_refused(response):
            raise TorchServeKeyRefused(
                f"{base} refused {self._whose_key(api)}: {_message(response)}"
            )
        if check and response.status >= 400:
            raise TorchServeError(response.status, _message(response))
        return response

    def _base(self, api: str) -> str:
        if api == INFERENCE:
            return self.inference_url
        if self.management_url is None:
            raise NoManagementAPI(
                "this TorchServe client has no management URL: it serves inference only"
            )
        return self.management_url

    def _whose_key(self, api: str) -> str:
        if self.key_file is None:
            return "a request without a key (give the client TorchServe's key file)"
        return f"the {api} key of {self.key_file}"

    def _headers(self, api: str, body: bytes | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self._keys is not None:
            headers["Authorization"] = f"Bearer {self._keys.key(api)}"
        return headers


def _send(
    method: str, base: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float
) -> Response:
    """One request on a kept-alive connection to ``base`` from the pool (opened on demand)."""
    parts = urllib.parse.urlsplit(base)
    target = (parts.path.rstrip("/") if parts.scheme != "unix" else "") + path
    for attempt in (1, 2):
        try:
            connection = _take(base, timeout)
        except OSError as error:  # its name did not resolve in time
            raise TorchServeUnavailable(f"{base} did not answer ({error})") from None
        reused = connection.sock is not None
        try:
            connection.request(method, target, body=body, headers=headers)
            answer = connection.getresponse()
            response = _response(answer.status, answer.getheaders(), answer.read())
            if answer.will_close:
                connection.close()
            _give_back(base, connection)
            break
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
            connection.close()
            if reused and attempt == 1:
                continue  # the server had closed the idle connection: one fresh try
            raise TorchServeUnavailable(f"{base} did not answer ({error})") from None
        except (OSError, http.client.HTTPException) as error:  # refused, timed out, garbled
            if connection.sock is None:  # it never connected: a restarted server may have
                _forget(parts.hostname)  # a new address, so the next request looks it up
            connection.close()
            raise TorchServeUnavailable(f"{base} did not answer ({error})") from None
    return response


def _key_refused(response: Response) -> bool:
    """TorchServe 0.12 refuses a missing, wrong or expired key with a 400 InvalidKeyException."""
    if response.status == 401:
        return True
    if response.status != 400:
        return False
    try:
        payload = response.json()
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("type") == "InvalidKeyException"


# Idle kept-alive connections per server, shared by every thread (or greenlet, under gevent) of
# the process: keep-alive saves a TCP handshake per request, and a connection serves one request
# at a time. A connection whose request failed is closed, never given back.
_idle: dict[str, queue.LifoQueue[http.client.HTTPConnection]] = {}
MAX_IDLE = 64  # per server; more than this at once are closed after use


def _take(base: str, timeout: float) -> http.client.HTTPConnection:
    try:
        connection = _idle.setdefault(base, queue.LifoQueue()).get_nowait()
    except queue.Empty:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme == "unix":
            connection = UnixHTTPConnection(parts.path)
        else:
            port = parts.port or 80
            connection = http.client.HTTPConnection(_address(parts.hostname, port, timeout), port)
    connection.timeout = timeout
    if connection.sock is not None:
        connection.sock.settimeout(timeout)
    return connection


def _give_back(base: str, connection: http.client.HTTPConnection) -> None:
    idle = _idle.setdefault(base, queue.LifoQueue())
    if idle.qsize() < MAX_IDLE:
        idle.put_nowait(connection)
    else:
        connection.close()


# Host name → the address it last resolved to, kept until a connection to it fails. A lookup
# can be slow where a request must not be: in compose, a container on two networks asks each
# network's DNS in turn, and one that does not know the name takes seconds to say so. A lookup
# slower than the request's timeout goes on in the background; the request is refused now, the
# next one finds the address.
_addresses: dict[str, str] = {}
_lookups: dict[str, concurrent.futures.Future[list[Any]]] = {}
_resolver: concurrent.futures.ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def _address(host: str | None, port: int, timeout: float) -> str:
    host = host or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
        return host  # already an address
    except ValueError:
        pass
    if (known := _addresses.get(host)) is not None:
        return known
    global _resolver
    with _resolver_lock:
        if _resolver is None:  # made on first use: under gevent, after the patching
            _resolver = concurrent.futures.ThreadPoolExecutor(4, "resolve")
        lookup = _lookups.get(host)
        if lookup is None:
            lookup = _lookups[host] = _resolver.submit(
                socket.getaddrinfo, host, port, type=socket.SOCK_STREAM
            )
    try:
        found = lookup.result(timeout)
    except concurrent.futures.TimeoutError:
        raise OSError(f"{host} did not resolve within {timeout:g} s") from None
    except OSError:
        _lookups.pop(host, None)  # failed: the next request asks again
        raise
    _lookups.pop(host, None)
    address = str(found[0][4][0])
    _addresses[host] = address
    return address


def _forget(host: str | None) -> None:
    if host:
        _addresses.pop(host, None)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (``unix:/path``, as TorchServe names one in its config)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


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
