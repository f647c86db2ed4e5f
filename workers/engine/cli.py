"""ganfoundry-train: run a job spec locally, and generate from a trained generator.

ganfoundry-train run examples/mnist-cgan.json --out runs/cgan [--dry-run]
ganfoundry-train generate runs/cgan/generator.pt --label 7 --n 16 --out sevens.png
ganfoundry-train interpolate runs/cgan/generator.pt --seeds 1 2 --steps 12 --label 3 --out i.png
ganfoundry-train arithmetic runs/gan/generator.pt --seeds 1 2 --out sums.png
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm import tqdm

from workers.engine.generation import (
    generate,
    generate_from_latents,
    interpolate,
    load_artifact,
    seed_arithmetic,
    seed_latents,
)
from workers.engine.pipeline import run_job
from workers.engine.plots import image_grid
from workers.engine.preflight import PreflightError
from workers.engine.trainer import Progress
from workers.spec import JobSpec, field_errors

# DataError, CheckpointError, RuntimeChoiceError and ArtifactError are ValueErrors too.
USER_ERRORS = (ValueError, PreflightError)


def load_spec(path: Path) -> JobSpec:
    """Read and validate a spec file; a ValueError lists every bad field."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: spec file not found") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    try:
        return JobSpec.model_validate(raw)
    except ValidationError as error:
        lines = [f"  {where}: {message}" for where, message in field_errors(error).items()]
        raise ValueError(f"{path}: invalid job spec\n" + "\n".join(lines)) from None


def command_run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    with tqdm(unit="step", dynamic_ncols=True, mininterval=0.5, disable=args.quiet) as bar:

        def show(progress: Progress) -> None:
            bar.total = progress.total_steps
            bar.set_description(f"epoch {progress.epoch}/{progress.epochs}", refresh=False)
            bar.set_postfix(
                D=f"{progress.d_loss:.3f}" if progress.d_loss is not None else "-",
                G=f"{progress.g_loss:.3f}" if progress.g_loss is not None else "-",
                Dx=f"{progress.d_real:.2f}",
                DGz=f"{progress.d_fake:.2f}",
                rate=f"{progress.samples_per_s:,.0f}/s",
                refresh=False,
            )
            bar.update(progress.step - bar.n)

        outcome = run_job(
            spec, args.out, show, dry_run=args.dry_run, with_evaluation=not args.no_eval
        )
    print(f"{outcome.status}: outputs in {outcome.run_dir}")
    for name, path in outcome.artifacts.items():
        print(f"  {name:10s} {path}")
    summary = _summary(outcome.metrics)
    if summary:
        print(summary)
    return 0


def _summary(metrics: dict[str, Any]) -> str:
    parts = []
    if "conditional" in metrics:
        parts.append(f"class accuracy {metrics['conditional']['mean_accuracy']:.1%}")
    if "classes" in metrics:
        classes = metrics["classes"]
        parts.append(
            f"classes covered {classes['covered']}/10, entropy {classes['entropy']:.2f}, "
            f"mode collapse: {classes['mode_collapse']}"
        )
    if "frechet_distance" in metrics:
        parts.append(f"Fréchet distance {metrics['frechet_distance']:.1f}")
    if "pattern" in metrics:
        parts.append("output " + ", ".join(f"{v:.2f}" for v in metrics["pattern"]["output"]))
    return "  " + "; ".join(parts) if parts else ""


def command_generate(args: argparse.Namespace) -> int:
    generator, _ = load_artifact(args.artifact)
    seeds = list(range(args.seed, args.seed + args.n))
    labels = None if args.label is None else [args.label] * args.n
    images = generate(generator, seeds, labels)
    image_grid(images, min(args.n, 8), args.out)
    print(f"{args.n} images (seeds {seeds[0]}..{seeds[-1]}) written to {args.out}")
    return 0


def command_interpolate(args: argparse.Namespace) -> int:
    generator, _ = load_artifact(args.artifact)
    start, end = seed_latents(generator, args.seeds)
    z = interpolate(start, end, args.steps)
    labels = None if args.label is None else [args.label] * args.steps
    image_grid(generate_from_latents(generator, z, labels), args.columns, args.out)
    print(f"{args.steps} steps from seed {args.seeds[0]} to {args.seeds[1]} written to {args.out}")
    return 0


def command_arithmetic(args: argparse.Namespace) -> int:
    generator, _ = load_artifact(args.artifact)
    z_a, z_b = seed_latents(generator, args.seeds)
    labels = None if args.label is None else [args.label] * 4
    image_grid(generate_from_latents(generator, seed_arithmetic(z_a, z_b), labels), 4, args.out)
    print(f"a, b, a+b, a-b for seeds {args.seeds} written to {args.out}")
    return 0


def command_build_hdf5(args: argparse.Namespace) -> int:
    from workers.engine.celeba.build import build_hdf5  # h5py and pillow only for this command

    path = build_hdf5(args.source, args.out, limit=args.limit or None, layout=args.layout)
    print(f"wrote {path}; train on it with dataset source 'hdf5:{path}'")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganfoundry-train", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train a job spec file into a run folder")
    run.add_argument("spec", type=Path, help="job spec JSON file")
    run.add_argument("--out", type=Path, required=True, help="run folder (resumed if it exists)")
    run.add_argument("--dry-run", action="store_true", help="one real step on fake data")
    run.add_argument("--no-eval", action="store_true", help="skip the evaluator metrics")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=command_run)

    def artifact_command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("artifact", type=Path, help="generator.pt of a finished run")
        sub.add_argument("--label", type=int, default=None, help="class (conditional generators)")
        sub.add_argument("--out", type=Path, required=True, help="PNG file to write")
        return sub

    gen = artifact_command("generate", "images from seeds (and a label)")
    gen.add_argument("--n", type=_positive(256), default=16, help="number of images (1-256)")
    gen.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed+i")
    gen.set_defaults(handler=command_generate)

    inter = artifact_command("interpolate", "morph one seed's image into another's")
    inter.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("FROM", "TO"))
    inter.add_argument("--steps", type=_positive(256), default=12)
    inter.add_argument("--columns", type=_positive(64), default=4)
    inter.set_defaults(handler=command_interpolate)

    build = commands.add_parser("build-hdf5", help="CelebA zip or folder of JPEGs to an HDF5 file")
    build.add_argument("source", type=Path, help="img_align_celeba.zip or a folder of JPEGs")
    build.add_argument("--out", type=Path, required=True, help="HDF5 file to write (resumable)")
    build.add_argument("--limit", type=int, default=20_000, help="first N images (0: all)")
    build.add_argument("--layout", choices=["project", "book"], default="project")
    build.set_defaults(handler=command_build_hdf5)

    arith = artifact_command("arithmetic", "images of seeds a, b, a+b and a-b")
    arith.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("A", "B"))
    arith.set_defaults(handler=command_arithmetic)
    return parser


def _positive(limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between 1 and {limit}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
