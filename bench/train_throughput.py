"""mnist-gan training throughput: book mode against batched mode, side by side in one run.

Both run the engine's own loop on the built-in digits (checkpoints included). A plain per-sample
PyTorch loop is timed too, to show that book mode is an honest baseline. Last line: JSON.

    python bench/train_throughput.py [--book-steps 3000] [--batched-steps 1200]

On the CPU, on every host: the plain loop is a CPU loop, so the engine runs there too.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from workers.engine.data import builtin_mnist_sample
from workers.engine.families import get_family
from workers.engine.runtime import configure_threads

from _timing import samples_per_s


def plain_book_loop(steps: int) -> float:
    """The book's three optimiser steps per sample, written as plainly as possible."""
    family = get_family("mnist-gan")
    d, g = family.build_discriminator(), family.build_generator()
    d_opt, g_opt = torch.optim.Adam(d.parameters(), 1e-4), torch.optim.Adam(g.parameters(), 1e-4)
    loss_fn, one, zero = torch.nn.BCELoss(), torch.ones(1, 1), torch.zeros(1, 1)
    images = builtin_mnist_sample()[0].images
    began = time.perf_counter()
    for i in range(steps):
        d_opt.zero_grad()
        loss_fn(d(images[i : i + 1]), one).backward()
        d_opt.step()
        d_opt.zero_grad()
        loss_fn(d(g(torch.randn(1, 100)).detach()), zero).backward()
        d_opt.step()
        g_opt.zero_grad()
        loss_fn(d(g(torch.randn(1, 100))), one).backward()
        g_opt.step()
    return steps / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--book-steps", type=int, default=3000)
    parser.add_argument("--batched-steps", type=int, default=1200)
    args = parser.parse_args()
    threads = configure_threads()
    plain = plain_book_loop(args.book_steps)
    cpu = {"device": "cpu"}
    book, _ = samples_per_s("mnist-gan", {"mode": "book", "max_steps": args.book_steps, **cpu})
    batched, plan = samples_per_s("mnist-gan", {"max_steps": args.batched_steps, **cpu})
    fp32, _ = samples_per_s(
        "mnist-gan", {"max_steps": args.batched_steps, "precision": "fp32", **cpu}
    )
    figures = {
        "book_samples_per_s": round(book, 1),
        "plain_loop_samples_per_s": round(plain, 1),
        "batched_samples_per_s": round(batched, 1),
        "batched_fp32_samples_per_s": round(fp32, 1),
        "ratio": round(batched / book, 1),
        "ratio_fp32": round(fp32 / book, 1),
        "batch_size": plan["batch_size"],
        "precision": plan["precision"],
        "device": plan["device"],
        "torch_threads": threads,
    }
    print(f"book mode    {book:10,.0f} samples/s (plain per-sample loop {plain:,.0f})")
    print(
        f"batched mode {batched:10,.0f} samples/s at batch {plan['batch_size']}, {plan['precision']}"
    )
    print(f"batched fp32 {fp32:10,.0f} samples/s")
    print(f"ratio        {batched / book:10.1f}x  (fp32: {fp32 / book:.1f}x)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
