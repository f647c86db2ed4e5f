"""ganfoundry: a command-line client for the gateway.

    ganfoundry demo                                  # the main job: train digits, draw every class
    ganfoundry submit --preset mnist-cgan --follow   # or: ganfoundry submit spec.json --follow
    ganfoundry jobs | ganfoundry job ID | ganfoundry watch ID | ganfoundry cancel ID | ganfoundry models
    ganfoundry generate digits --label 7 --n 16 --out sevens.png
    ganfoundry interpolate digits --seeds 1 2 --steps 12 --label 3 --out morph.png
    ganfoundry arithmetic digits --seeds 1 2 --label 3 --out sums.png

The gateway URL and key come from --url/--key, GANFOUNDRY_URL/GANFOUNDRY_API_KEY, or the local
stack's run folder (runs/stack). API errors are shown as one line.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from services.presets import PRESETS

FINAL = ("succeeded", "failed", "cancelled")


class ApiFailure(Exception):
    """The gateway said no; str() is the one line to show."""


@dataclass(frozen=True)
class Gateway:
    url: str
    key: str

    def call(
        self, method: str, path: str, body: Any = None, accept: str = "application/json"
    ) -> tuple[str, bytes]:
        headers = {"Authorization": f"Bearer {self.key}", "Accept": accept}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(
            self.url.rstrip("/") + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.headers.get("Content-Type", ""), answer.read()
        except urllib.error.HTTPError as error:
            raise ApiFailure(_error_line(error.code, error.read())) from None
        except urllib.error.URLError as error:
            raise ApiFailure(
                f"cannot reach the gateway at {self.url} ({error.reason}); is the stack up? (make up)"
            ) from None

    def json(self, method: str, path: str, body: Any = None) -> Any:
        return json.loads(self.call(method, path, body)[1])

    def open(self, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        """A GET left open for streaming (the caller closes it); API errors as ApiFailure."""
        request = urllib.request.Request(
            self.url.rstrip("/") + path, headers={"Authorization": f"Bearer {self.key}"} | headers
        )
        try:
            answer: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=60)
        except urllib.error.HTTPError as error:
            raise ApiFailure(_error_line(error.code, error.read())) from None
        return answer


def _error_line(status: int, body: bytes) -> str:
    """'422 invalid_request: label: ...' from a problem body (or an older gateway's error)."""
    try:
        problem = json.loads(body)
    except (ValueError, RecursionError):
        problem = None
    if isinstance(problem, dict) and isinstance(problem.get("error"), dict):
        problem = problem["error"]  # gateways before RFC 9457 problems
    if not isinstance(problem, dict) or not ("detail" in problem or "message" in problem):
        return f"{status}: {body[:200].decode('utf-8', 'replace')}"
    return f"{status} {problem.get('code', '')}: {problem.get('detail', problem.get('message'))}"


def connect(args: argparse.Namespace) -> Gateway:
    from services.stack.state import StackSettings, read_state

    run_dir = StackSettings().run_dir
    state = read_state(run_dir)
    url = (
        args.url
        or os.environ.get("GANFOUNDRY_URL")
        or (state.url if state else "http://127.0.0.1:8000")
    )
    key = args.key or os.environ.get("GANFOUNDRY_API_KEY")
    if not key and (run_dir / "api-key").is_file():
        key = (run_dir / "api-key").read_text().strip()
    if not key:
        raise ApiFailure(
            "no API key: pass --key, set GANFOUNDRY_API_KEY, or start the local stack (make up)"
        )
    return Gateway(url, key)


# ---- jobs -------------------------------------------------------------------------------------


def follow(gateway: Gateway, job_id: str) -> dict[str, Any]:
    """Show a job's progress as a bar, from its event stream, until it ends; returns its record."""
    with tqdm(total=1, unit="step", dynamic_ncols=True, desc="queued", mininterval=0.5) as bar:
        for _, kind, data in job_events(gateway, job_id):
            if kind == "progress" and "total_steps" in data:
                bar.total = data["total_steps"]
                bar.update(data["step"] - bar.n)
                bar.set_description(f"epoch {data['epoch']}/{data['epochs']}")
                bar.set_postfix(D=f"{data['d_loss'] or 0:.3f}", G=f"{data['g_loss'] or 0:.3f}")
            elif kind == "progress" and "phase" in data:
                bar.set_description(data["phase"])
            elif kind in ("state", "end"):
                bar.set_description(data["state"])
    return dict(gateway.json("GET", f"/v1/jobs/{job_id}"))


RECONNECTS = 5  # tries in a row, a second apart, when the stream drops


def job_events(gateway: Gateway, job_id: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(id, kind, data) of each event until the end one; a dropped stream is opened again after
    the last id seen, so nothing is missed or repeated."""
    last_id, failures = "", 0
    while True:
        headers = {"Accept": "text/event-stream"} | ({"Last-Event-ID": last_id} if last_id else {})
        try:
            with gateway.open(f"/v1/jobs/{job_id}/events", headers) as answer:
                for event in _sse(answer):
                    failures = 0
                    last_id = event.get("id", last_id)
                    data = json.loads(event.get("data", "{}"))
                    yield last_id, event["event"], data
                    if event["event"] == "end":
                        return
        except (OSError, http.client.HTTPException) as error:
            failures += 1
            if failures >= RECONNECTS:
                raise ApiFailure(f"the event stream keeps dropping ({error})") from None
        time.sleep(1)


def _sse(lines: Iterable[bytes]) -> Iterator[dict[str, str]]:
    """Server-Sent Events from a stream's lines: one dict per event (comments skipped)."""
    event: dict[str, str] = {}
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if "event" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")


def command_submit(gateway: Gateway, args: argparse.Namespace) -> int:
    spec = PRESETS[args.preset] if args.preset else json.loads(Path(args.spec).read_text())
    if args.serve_as:
        spec = spec | {"serve_as": args.serve_as}
    accepted = gateway.json("POST", "/v1/jobs", spec)
    print(f"job {accepted['id']} queued: {gateway.url}{accepted['url']}")
    if not args.follow:
        return 0
    return _report(follow(gateway, accepted["id"]))


def _report(job: dict[str, Any]) -> int:
    if job["state"] != "succeeded":
        error = job.get("error") or {}
        print(
            f"job {job['id']} {job['state']}: {error.get('code', '')} {error.get('message', '')}".rstrip()
        )
        return 1
    served = job.get("served") or {}
    print(
        f"job {job['id']} succeeded; served as {served.get('name')} version {served.get('version')}"
    )
    return 0


def command_jobs(gateway: Gateway, args: argparse.Namespace) -> int:
    query = f"?limit={args.limit}" + (f"&state={args.state}" if args.state else "")
    page = gateway.json("GET", f"/v1/jobs{query}")
    for job in page["jobs"]:
        progress = job.get("progress") or {}
        step = f"{progress.get('step', '-')}/{progress.get('total_steps', '-')}"
        print(f"{job['id']}  {job['state']:10s} {job['spec']['model']:14s} {step}")
    print(f"{len(page['jobs'])} of {page['total']}")
    return 0


def command_job(gateway: Gateway, args: argparse.Namespace) -> int:
    print(json.dumps(gateway.json("GET", f"/v1/jobs/{args.job_id}"), indent=2))
    return 0


def command_watch(gateway: Gateway, args: argparse.Namespace) -> int:
    return _report(follow(gateway, args.job_id))


def command_cancel(gateway: Gateway, args: argparse.Namespace) -> int:
    job = gateway.json("DELETE", f"/v1/jobs/{args.job_id}")
    print(f"job {job['id']}: {job['state']}")
    return 0


def command_models(gateway: Gateway, args: argparse.Namespace) -> int:
    for model in gateway.json("GET", "/v1/models")["models"]:
        classes = f"{model['num_classes']} classes" if model["num_classes"] else "unconditional"
        serving = model.get("serving", {})
        versions = ", ".join(
            f"{v} ({serving[v]['state']})" if v in serving else v for v in model["versions"]
        )
        print(
            f"{model['name']:20s} {model['family']:14s} {classes:14s} "
            f"default v{model['default_version']}, versions {versions}"
        )
    return 0


def command_serve(gateway: Gateway, args: argparse.Namespace) -> int:
    body = {"job_id": args.job_id, "name": args.name, "default": not args.keep_default}
    model = gateway.json("POST", "/v1/models", body)
    version = max(model["versions"], key=lambda v: [int(p) for p in v.split(".")])
    when = "keeps its default" if args.keep_default else "the default once it is ready"
    print(f"{args.name} version {version}: loading ({when})")
    return 0


def command_default(gateway: Gateway, args: argparse.Namespace) -> int:
    model = gateway.json("PUT", f"/v1/models/{args.name}/default", {"version": args.version})
    print(f"{args.name}: default version {model['default_version']}")
    return 0


def command_delete(gateway: Gateway, args: argparse.Namespace) -> int:
    path = f"/v1/models/{args.name}" + (f"/versions/{args.version}" if args.version else "")
    gateway.call("DELETE", path)
    print(f"deleted {args.name}" + (f" version {args.version}" if args.version else ""))
    return 0


# ---- keys (admin) -----------------------------------------------------------------------------


def command_keys(gateway: Gateway, args: argparse.Namespace) -> int:
    if args.action == "create":
        scopes = [scope.strip() for scope in args.scopes.split(",") if scope.strip()]
        issued = gateway.json("POST", "/v1/keys", {"name": args.name, "scopes": scopes})
        print(f"key {issued['id']} for {issued['name']} ({', '.join(issued['scopes'])}):")
        print(issued["key"])
        print("it is shown this once: keep it now")
    elif args.action == "revoke":
        gateway.call("DELETE", f"/v1/keys/{args.key_id}")
        print(f"revoked key {args.key_id}")
    else:
        for record in gateway.json("GET", "/v1/keys")["keys"]:
            print(f"{record['id']}  {', '.join(record['scopes']):22s} {record['name']}")
    return 0


# ---- images -----------------------------------------------------------------------------------


def _png(gateway: Gateway, name: str, body: dict[str, Any], out: Path) -> None:
    content_type, data = gateway.call(
        "POST", f"/v1/models/{name}/generate", body | {"format": "grid"}, accept="image/png"
    )
    if not content_type.startswith("image/png"):
        raise ApiFailure(f"expected a PNG, got {content_type}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"wrote {out}")


def _label(args: argparse.Namespace) -> dict[str, Any]:
    return {} if args.label is None else {"label": args.label}


def command_generate(gateway: Gateway, args: argparse.Namespace) -> int:
    _png(gateway, args.name, {"n": args.n, "seed": args.seed, **_label(args)}, args.out)
    return 0


def command_interpolate(gateway: Gateway, args: argparse.Namespace) -> int:
    experiment = {"kind": "interpolate", "seeds": args.seeds, "steps": args.steps}
    _png(gateway, args.name, {"experiment": experiment, **_label(args)}, args.out)
    return 0


def command_arithmetic(gateway: Gateway, args: argparse.Namespace) -> int:
    _png(
        gateway,
        args.name,
        {"experiment": {"kind": "arithmetic", "seeds": args.seeds}, **_label(args)},
        args.out,
    )
    return 0


def digits_sheet(gateway: Gateway, name: str, classes: int, per_row: int, out: Path) -> Path:
    """One PNG: a row of generated images for every class, top to bottom."""
    from PIL import Image

    rows = []
    for label in range(classes):
        _, data = gateway.call(
            "POST",
            f"/v1/models/{name}/generate",
            {"n": per_row, "label": label, "seed": 0, "format": "grid"},
            accept="image/png",
        )
        rows.append(Image.open(io.BytesIO(data)).convert("L"))
    sheet = Image.new("L", (max(r.width for r in rows), sum(r.height for r in rows)), 128)
    top = 0
    for row in rows:
        sheet.paste(row, (0, top))
        top += row.height
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.resize((sheet.width * 3, sheet.height * 3), Image.Resampling.NEAREST).save(out)
    return out


def command_demo(gateway: Gateway, args: argparse.Namespace) -> int:
    """Train the conditional GAN on the built-in digits through the API; draw every class."""
    spec = PRESETS["mnist-cgan"] | {"serve_as": "demo-digits"}
    accepted = gateway.json("POST", "/v1/jobs", spec)
    print(f"training the conditional MNIST GAN on the built-in digits (job {accepted['id']})")
    job = follow(gateway, accepted["id"])
    if _report(job):
        return 1
    accuracy = ((job.get("metrics") or {}).get("conditional") or {}).get("mean_accuracy")
    if accuracy is not None:
        print(
            f"the evaluator recognises {accuracy:.0%} of the generated digits as the class asked for"
        )
    out = digits_sheet(gateway, "demo-digits", 10, 10, args.out)
    print(f"one row per class, 0 to 9: {out}")
    return 0


# ---- plumbing ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganfoundry", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="gateway URL (default: the local stack)")
    parser.add_argument("--key", help="API key (default: GANFOUNDRY_API_KEY or the local stack's)")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, handler: Callable[[Gateway, argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(handler=handler)
        return sub

    demo = add("demo", command_demo, "train digits through the API and draw a row per class")
    demo.add_argument("--out", type=Path, default=Path("runs/demo/digits.png"))
    submit = add("submit", command_submit, "submit a job spec file or a preset")
    source = submit.add_mutually_exclusive_group(required=True)
    source.add_argument("spec", nargs="?", help="job spec JSON file")
    source.add_argument("--preset", choices=sorted(PRESETS))
    submit.add_argument("--serve-as", help="name to serve the generator under")
    submit.add_argument("--follow", action="store_true", help="show progress until it ends")
    jobs = add("jobs", command_jobs, "list jobs, newest first")
    jobs.add_argument("--state", choices=["queued", "running", *FINAL])
    jobs.add_argument("--limit", type=int, default=20)
    add("job", command_job, "one job as JSON").add_argument("job_id")
    add("watch", command_watch, "follow a job's progress live until it ends").add_argument("job_id")
    add("cancel", command_cancel, "cancel a job").add_argument("job_id")
    add("models", command_models, "served generators")
    serve = add("serve", command_serve, "serve a succeeded job's generator under a name")
    serve.add_argument("job_id")
    serve.add_argument("name")
    serve.add_argument("--keep-default", action="store_true", help="do not make it the default")
    default = add("default", command_default, "make a version a model's default (roll back)")
    default.add_argument("name")
    default.add_argument("version")
    delete = add("delete", command_delete, "delete a served model, or one --version of it")
    delete.add_argument("name")
    delete.add_argument("--version")
    keys = add("keys", command_keys, "issue, list and revoke API keys (an admin key)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="issue a key; prints it once")
    create.add_argument("--name", required=True, help="who or what it is for")
    create.add_argument(
        "--scopes",
        required=True,
        help="comma-separated: generate, train, metrics, admin (e.g. train,generate)",
    )
    actions.add_parser("list", help="every issued key (ids, names, scopes)")
    actions.add_parser("revoke", help="refuse a key from now on").add_argument("key_id")
    for name, handler, help_text in (
        ("generate", command_generate, "images of a class to a PNG"),
        ("interpolate", command_interpolate, "morph one seed's image into another's"),
        ("arithmetic", command_arithmetic, "images of seeds a, b, a+b, a-b"),
    ):
        sub = add(name, handler, help_text)
        sub.add_argument("name", help="served model name")
        sub.add_argument("--label", type=int)
        sub.add_argument("--out", type=Path, required=True)
        if name == "generate":
            sub.add_argument("--n", type=int, default=16)
            sub.add_argument("--seed", type=int, default=0)
        else:
            sub.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("A", "B"))
        if name == "interpolate":
            sub.add_argument("--steps", type=int, default=12)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(connect(args), args))
    except ApiFailure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:  # a spec file that is missing or not JSON
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
