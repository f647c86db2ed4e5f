"""Build a TorchServe archive (.mar) from a ``generator.pt``: handler, modules, weights, config."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

import workers.engine
from workers.engine.limits import MAX_IMAGES

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
VERSION_PATTERN = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$")
# Files, not imports: importing the handler would load TorchServe into the builder.
HANDLER = Path(__file__).with_name("handler.py")
ENGINE = Path(workers.engine.__file__).parent
PACKED_MODULES = (  # beside the handler in the archive, imported without a package
    HANDLER.with_name("image_request.py"),  # the request contract, shared with the gateway
    HANDLER.with_name("problems.py"),
    ENGINE / "limits.py",
    ENGINE / "networks.py",
    ENGINE / "generation.py",
)


class ArchiveError(ValueError):
    """The archive cannot be built; the message says what to change."""


@dataclass(frozen=True)
class ModelConfig:
    """TorchServe's per-model settings, written as the archive's model-config.yaml."""

    batch_size: int = 16
    max_batch_delay_ms: int = 1  # ms; TorchServe waits this long for a batch to fill
    min_workers: int = 1
    max_workers: int = 1
    response_timeout_s: int = 60
    max_images: int = MAX_IMAGES  # the largest n one request may ask for (at most MAX_IMAGES)
    # torch threads of a worker on the CPU; 0: by the generator's size (model_archive/handler.py)
    cpu_threads: int = 0

    def to_yaml(self) -> str:
        return (
            f"minWorkers: {self.min_workers}\n"
            f"maxWorkers: {self.max_workers}\n"
            f"batchSize: {self.batch_size}\n"
            f"maxBatchDelay: {self.max_batch_delay_ms}\n"
            f"responseTimeout: {self.response_timeout_s}\n"
            "handler:\n"
            f"  max_images: {self.max_images}\n"
            f"  cpu_threads: {self.cpu_threads}\n"
        )


def archive_file_name(name: str, version: str) -> str:
    """Versions of one name sit side by side in the model store."""
    return f"{name}.v{version}.mar"


def build_archive(
    generator_path: Path,
    name: str,
    version: str,
    export_dir: Path,
    config: ModelConfig | None = None,
) -> Path:
    """Write ``export_dir/<name>.v<version>.mar`` and return its path."""
    if not NAME_PATTERN.match(name):
        raise ArchiveError(f"model name {name!r}: use lower case letters, digits and '-' (max 63)")
    if not VERSION_PATTERN.match(version):
        raise ArchiveError(f"version {version!r}: use numbers like '1', '2.0' or '1.0.3'")
    _check_artifact(generator_path)
    export_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        weights = staging / "generator.pt"
        shutil.copyfile(generator_path, weights)
        (staging / "model-config.yaml").write_text((config or ModelConfig()).to_yaml())
        extra = [shutil.copy(module, staging) for module in PACKED_MODULES]
        handler = shutil.copy(HANDLER, staging)
        command = [
            *_archiver(),
            "--model-name", name,
            "--version", version,
            "--handler", str(handler),
            "--serialized-file", str(weights),
            "--extra-files", ",".join(str(e) for e in extra),
            "--config-file", str(staging / "model-config.yaml"),
            "--export-path", str(staging),
            "--force",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ArchiveError(
                f"torch-model-archiver failed: {done.stderr.strip() or done.stdout.strip()}"
            )
        target = export_dir / archive_file_name(name, version)
        shutil.move(staging / f"{name}.mar", target)
    return target


def _archiver() -> list[str]:
    beside = Path(sys.executable).parent / "torch-model-archiver"
    found = str(beside) if beside.exists() else shutil.which("torch-model-archiver")
    if found is None:
        raise ArchiveError(
            "torch-model-archiver is not installed: pip install torch-model-archiver"
        )
    return [found]


def _check_artifact(path: Path) -> None:
    try:
        artifact = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArchiveError(f"{path}: generator artifact not found") from None
    except Exception as error:
        raise ArchiveError(f"{path}: not a generator artifact ({error})") from None
    if not isinstance(artifact, dict) or "state_dict" not in artifact or "kwargs" not in artifact:
        raise ArchiveError(f"{path}: not a generator artifact (no state_dict and kwargs)")


def main(argv: list[str] | None = None) -> int:
    """ganfoundry-archive generator.pt --name digits --version 1 --out model-store/"""
    import argparse

    parser = argparse.ArgumentParser(prog="ganfoundry-archive", description=__doc__)
    parser.add_argument("generator", type=Path, help="generator.pt of a finished run")
    parser.add_argument("--name", required=True, help="model name to serve under")
    parser.add_argument("--version", default="1")
    parser.add_argument("--out", type=Path, required=True, help="model store folder")
    parser.add_argument("--batch-size", type=int, default=ModelConfig.batch_size)
    parser.add_argument("--max-batch-delay-ms", type=int, default=ModelConfig.max_batch_delay_ms)
    parser.add_argument("--workers", type=int, default=ModelConfig.min_workers)
    parser.add_argument(
        "--cpu-threads",
        type=int,
        default=ModelConfig.cpu_threads,
        help="torch threads per worker on the CPU (0: one for a small generator, every core "
        "for a large one)",
    )
    args = parser.parse_args(argv)
    config = ModelConfig(
        batch_size=args.batch_size,
        max_batch_delay_ms=args.max_batch_delay_ms,
        min_workers=args.workers,
        max_workers=args.workers,
        cpu_threads=args.cpu_threads,
    )
    try:
        path = build_archive(args.generator, args.name, args.version, args.out, config)
    except ArchiveError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
