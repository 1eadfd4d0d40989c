"""Throughput of cued training batches: ``CueSet.batches`` vs a per-sample ``Dataset`` + ``DataLoader``.

Both produce the same thing: shuffled batches of 128 book-scale images (procedural shapes)
with the paper's box cue on the first ``floor(n_c p)`` training samples of each class.
The baseline is the usual PyTorch pattern (and the reference code's): a ``Dataset`` whose
``__getitem__`` copies one image and paints its box, collated by a ``DataLoader``. The
goal is a ratio of at least 20 on a CPU.

Run: ``python benchmarks/bench_data.py [--n 10000] [--size 16] [--repeats 10]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from _reference import PerSampleBoxDataset, reference_loader
from mmc_utils.data import CueDataConfig, build_data
from mmc_utils.runtime import make_generator

BATCH = 128


def _epoch(batches) -> tuple[int, float, float]:
    """Consume one epoch; return (images, wall seconds, process CPU seconds)."""
    n, t, c = 0, time.perf_counter(), time.process_time()
    for x, _ in batches:
        n += x.shape[0]
    return n, time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="training images (default: book scale)")
    ap.add_argument("--size", type=int, default=16, help="image side in pixels")
    ap.add_argument("--repeats", type=int, default=10, help="epochs timed per method (best is reported)")
    args = ap.parse_args()

    print(f"platform: {platform.platform()} | python {platform.python_version()} | cpus: {os.cpu_count()} | "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    if hasattr(os, "getloadavg"):
        print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    data = build_data(CueDataConfig.for_scale("book", n_train=args.n, image_size=args.size))
    train = data.train
    print(f"data: {len(train)} images {tuple(train.input_shape)}, {train.num_cued} cued, batch {BATCH}, shuffled")

    # correctness: both produce the same batches for the same order
    order = torch.randperm(len(train), generator=make_generator(0))[:BATCH]
    ds = PerSampleBoxDataset(train)
    ref = torch.stack([ds[int(i)][0] for i in order])
    assert torch.equal(ref, train.subset(order).materialize()[0]), "baseline and CueSet disagree"

    results = {}
    for name, make in {
        "CueSet.batches": lambda r: train.batches(BATCH, shuffle=True, generator=r),
        "Dataset+DataLoader": lambda r: reference_loader(ds, BATCH, seed=r, workers=0),
    }.items():
        runs = [_epoch(make(r)) for r in range(args.repeats)]
        n, wall, cpu = min(runs, key=lambda t: t[1])
        results[name] = n / wall
        print(f"{name:>20}: {n / wall:12,.0f} images/s  (best of {args.repeats} epochs: {wall * 1e3:8.1f} ms wall, "
              f"{cpu * 1e3:8.1f} ms CPU)")
    print(f"speed-up: {results['CueSet.batches'] / results['Dataset+DataLoader']:.1f}x (goal >= 20x)")


if __name__ == "__main__":
    main()
