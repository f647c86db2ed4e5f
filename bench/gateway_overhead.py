"""What the gateway adds: POST /v1/models/<name>/generate (n=1) through the gateway under gunicorn
against the same request sent straight to TorchServe, in the same run, with 1 and 16 clients.
Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _http import latencies, serve_digits, summary

from services.stack.local import LocalStack

KEY = "bench-key-0123456789abcdef"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per client")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        root = Path(tmp)
        served = serve_digits(stack, root, KEY)
        gateway, torchserve = served.gateway, served.torchserve
        json_headers = {"Content-Type": "application/json"}
        inference_key = json.loads(torchserve.key_file.read_text())["inference"]["key"]
        inference_headers = json_headers | {"Authorization": f"Bearer {inference_key}"}
        for clients in (1, 16):
            count = args.requests if clients == 1 else max(20, args.requests // 4)
            for _round in range(2):  # alternate, so drift hits both sides alike
                direct = latencies(
                    stack.ports.inference, "/predictions/digits", inference_headers, count, clients
                )
                through = latencies(
                    gateway.port,
                    "/v1/models/digits/generate",
                    json_headers | {"Authorization": f"Bearer {KEY}"},
                    count,
                    clients,
                )
                samples.setdefault(f"direct_{clients}", []).extend(direct)
                samples.setdefault(f"gateway_{clients}", []).extend(through)
    result: dict[str, float | str] = {}
    for clients, suffix in ((1, ""), (16, "_16_clients")):
        gateway_p50, gateway_p99 = summary(samples[f"gateway_{clients}"])
        direct_p50, direct_p99 = summary(samples[f"direct_{clients}"])
        result |= {
            f"gateway_p50_ms{suffix}": round(gateway_p50, 2),
            f"gateway_p99_ms{suffix}": round(gateway_p99, 2),
            f"torchserve_p50_ms{suffix}": round(direct_p50, 2),
            f"torchserve_p99_ms{suffix}": round(direct_p99, 2),
            f"added_p50_ms{suffix}": round(gateway_p50 - direct_p50, 2),
        }
        print(
            f"{clients:>2} client(s): gateway p50 {gateway_p50:.2f} ms (p99 {gateway_p99:.2f}), "
            f"TorchServe p50 {direct_p50:.2f} ms (p99 {direct_p99:.2f}), added {gateway_p50 - direct_p50:.2f} ms"
        )
    result["server"] = "gunicorn gevent, 2 workers (services/gunicorn_conf.py)"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
