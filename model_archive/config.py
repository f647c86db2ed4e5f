"""TorchServe's server configuration (config.properties), for local runs, tests and compose.

Decisions: the model API is on (workers register models), but only archives in the model store
may be registered (``allowed_urls``: never a download from a URL); metrics in Prometheus format.

Token authorisation is on. Listening only where the gateway and the workers are (loopback locally,
internal networks in compose) is not enough on its own: any process on the host, or any container
on TorchServe's network, could otherwise register a model, and a register call runs the archive's
code in TorchServe. At start TorchServe writes three keys to ``key_file.json`` in its working
directory (there is no option to put it elsewhere): ``management`` for the management API,
``inference`` for the inference API (``/ping`` included), ``API`` for ``/token``, which makes new
ones. Metrics need no key. A refused key gets a 400 ``InvalidKeyException``, not a 401. The
management and inference keys stop working ``token_expiration_min`` after the start and are not
renewed on their own, so the expiry is set to ten years: the keys live as long as the process, and
a restart writes new ones (the client re-reads the file when a key is refused).

In compose the management API has no TCP port at all: it listens on a Unix socket in a volume
that only TorchServe and the workers mount, so neither the host's network nor the gateway nor any
other container can reach it (an internal network's bridge still gives the host an address on
it); see ``docker/compose.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_REQUEST_BYTES = 64 * 1024  # a generation request is a small JSON object
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # 256 PNGs in base64 fit comfortably
KEYS_FOR_MINUTES = 10 * 365 * 24 * 60  # as good as never: the keys end with the process
KEY_FILE = "key_file.json"  # TorchServe writes it into its working directory


@dataclass(frozen=True)
class ServerConfig:
    """One TorchServe's addresses and limits."""

    model_store: Path
    inference_port: int = 8080
    management_port: int = 8081
    metrics_port: int = 8082
    grpc_inference_port: int = 7070  # unused by the project, but bound: two servers need two
    grpc_management_port: int = 7071
    bind: str = "127.0.0.1"
    # Prometheus scrapes it in compose's monitoring profile, on the internal network
    metrics_bind: str = "127.0.0.1"
    # the management API on this Unix socket instead of a TCP port (compose); None: TCP on ``bind``
    management_socket: Path | None = None
    default_workers_per_model: int = 1
    job_queue_size: int = 1000
    token_expiration_min: int = KEYS_FOR_MINUTES

    def render(self) -> str:
        return "\n".join(
            [
                f"inference_address=http://{self.bind}:{self.inference_port}",
                f"management_address={self._management_address}",
                f"metrics_address=http://{self.metrics_bind}:{self.metrics_port}",
                # gRPC (unused): TorchServe's default, the loopback, written down; its management
                # service is the same open door as the HTTP one would be
                "grpc_inference_address=127.0.0.1",
                f"grpc_inference_port={self.grpc_inference_port}",
                "grpc_management_address=127.0.0.1",
                f"grpc_management_port={self.grpc_management_port}",
                f"model_store={self.model_store}",
                "enable_model_api=true",
                f"allowed_urls={self.allowed_urls}",
                "disable_token_authorization=false",
                f"token_expiration_min={self.token_expiration_min}",
                "metrics_mode=prometheus",
                f"max_request_size={MAX_REQUEST_BYTES}",
                f"max_response_size={MAX_RESPONSE_BYTES}",
                f"default_workers_per_model={self.default_workers_per_model}",
                f"job_queue_size={self.job_queue_size}",
                "install_py_dep_per_model=false",
                "default_response_timeout=60",
                "",
            ]
        )

    @property
    def allowed_urls(self) -> str:
        """Only archives of the model store may be registered: no URL downloads (a register
        call is code execution in TorchServe). As a regex in a .properties value (backslashes
        doubled)."""
        store = re.escape(str(self.model_store)).replace("\\", "\\\\")
        return f"file://{store}/[a-z][a-z0-9-]*[.]v[0-9.]+[.]mar"

    @property
    def inference_url(self) -> str:
        return f"http://{self._host}:{self.inference_port}"

    @property
    def management_url(self) -> str:
        """As TorchServe's own config names it, which ``TorchServeClient`` also understands."""
        if self.management_socket is not None:
            return self._management_address
        return f"http://{self._host}:{self.management_port}"

    @property
    def _host(self) -> str:
        return _client_host(self.bind)

    @property
    def _management_address(self) -> str:
        if self.management_socket is not None:
            return f"unix:{self.management_socket}"
        return f"http://{self.bind}:{self.management_port}"

    def write(self, path: Path) -> Path:
        path.write_text(self.render())
        return path


def _client_host(bind: str) -> str:
    """Where a client on this machine reaches an address (loopback when bound to every one)."""
    return "127.0.0.1" if bind in ("0.0.0.0", "127.0.0.1") else bind


# The committed files under model_archive/torchserve/ are these, rendered (a test keeps them equal).
LOCAL = ServerConfig(model_store=Path("runs/model-store"))
# In compose the management socket lies in the "torchserve-management" volume (TorchServe and the
# workers only); the inference and metrics ports are on the internal backend network.
COMPOSE_MANAGEMENT_SOCKET = Path("/home/model-server/management/management.sock")
COMPOSE = ServerConfig(
    model_store=Path("/home/model-server/model-store"),
    bind="0.0.0.0",
    metrics_bind="0.0.0.0",
    management_socket=COMPOSE_MANAGEMENT_SOCKET,
)
