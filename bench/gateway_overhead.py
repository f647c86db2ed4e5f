"""What the gateway adds: POST /v1/models/<name>/generate (n=1) through the gateway under gunicorn
against the same request sent straight to TorchServe, in the same run, with 1 and 16 clients;
the gateway once with its rate limits switched off and once with them on (counted in Redis, out
of reach). Its Prometheus metrics are always on. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _http import UNREACHED_LIMITS, latencies, serve_digits, summary

from services.stack.gateway import start_gateway
from services.stack.local import LocalStack
from services.stack.processes import free_port

KEY = "bench-key-0123456789abcdef"
CLIENTS = (1, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per client")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        root = Path(tmp)
        served = serve_digits(stack, root, KEY)  # limits on
        unlimited = start_gateway(
            stack.gateway_settings(KEY, rate_limits=False).to_env(),
            free_port(),
            root / "logs" / "gateway-unlimited.log",
        )
        try:
            json_headers = {"Content-Type": "application/json"}
            inference_key = json.loads(served.torchserve.key_file.read_text())["inference"]["key"]
            sides = {
                "direct": (stack.ports.inference, "/predictions/digits", inference_key),
                "gateway": (unlimited.port, "/v1/models/digits/generate", KEY),
                "limited": (served.gateway.port, "/v1/models/digits/generate", KEY),
            }
            for clients in CLIENTS:
                count = args.requests if clients == 1 else max(20, args.requests // 4)
                for _round in range(2):  # alternate, so drift hits every side alike
                    for side, (port, path, key) in sides.items():
                        headers = json_headers | {"Authorization": f"Bearer {key}"}
                        measured = latencies(port, path, headers, count, clients)
                        samples.setdefault(f"{side}_{clients}", []).extend(measured)
        finally:
            unlimited.stop()
    result: dict[str, float | str] = {}
    for clients in CLIENTS:
        suffix = "" if clients == 1 else f"_{clients}_clients"
        direct_p50, direct_p99 = summary(samples[f"direct_{clients}"])
        result |= {
            f"torchserve_p50_ms{suffix}": round(direct_p50, 2),
            f"torchserve_p99_ms{suffix}": round(direct_p99, 2),
        }
        for side, label in (("gateway", ""), ("limited", "_limited")):
            p50, p99 = summary(samples[f"{side}_{clients}"])
            result |= {
                f"gateway{label}_p50_ms{suffix}": round(p50, 2),
                f"gateway{label}_p99_ms{suffix}": round(p99, 2),
                f"added{label}_p50_ms_{clients}": round(p50 - direct_p50, 2),
            }
            print(
                f"{clients:>2} client(s), limits {'on ' if label else 'off'}: gateway p50 "
                f"{p50:.2f} ms (p99 {p99:.2f}), TorchServe p50 {direct_p50:.2f} ms "
                f"(p99 {direct_p99:.2f}), added {p50 - direct_p50:.2f} ms"
            )
    result["added_p50_ms"] = result["added_p50_ms_1"]  # the name earlier runs printed
    result["server"] = "gunicorn gevent, 2 workers (services/gunicorn_conf.py)"
    result["limits_on"] = json.dumps(UNREACHED_LIMITS)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
