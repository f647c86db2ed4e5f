"""TorchServe's server configuration (config.properties), for local runs, tests and compose.

Decisions: the model API is on (workers register models), but only archives in the model store
may be registered (``allowed_urls``: never a download from a URL); token authorisation is off because
TorchServe listens only where the gateway and the workers reach it (loopback locally, the compose
network in docker) and the management port is never published; metrics in Prometheus format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_REQUEST_BYTES = 64 * 1024  # a generation request is a small JSON object
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # 256 PNGs in base64 fit comfortably


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
    default_workers_per_model: int = 1
    job_queue_size: int = 1000

    def render(self) -> str:
        return "\n".join(
            [
                f"inference_address=http://{self.bind}:{self.inference_port}",
                f"management_address=http://{self.bind}:{self.management_port}",
                f"metrics_address=http://{self.bind}:{self.metrics_port}",
                f"grpc_inference_port={self.grpc_inference_port}",
                f"grpc_management_port={self.grpc_management_port}",
                f"model_store={self.model_store}",
                "enable_model_api=true",
                f"allowed_urls={self.allowed_urls}",
                "disable_token_authorization=true",
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
        return f"http://{self._host}:{self.management_port}"

    @property
    def _host(self) -> str:
        """Where a client on this machine reaches it (loopback when bound to every address)."""
        return "127.0.0.1" if self.bind in ("0.0.0.0", "127.0.0.1") else self.bind

    def write(self, path: Path) -> Path:
        path.write_text(self.render())
        return path


# The committed files under model_archive/torchserve/ are these, rendered (a test keeps them equal).
LOCAL = ServerConfig(model_store=Path("runs/model-store"))
COMPOSE = ServerConfig(model_store=Path("/home/model-server/model-store"), bind="0.0.0.0")
