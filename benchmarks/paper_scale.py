"""Paper-scale training speed on one GPU: our fast path vs the reference code's per-sample pipeline.

Both train the VGG-13 variant with the paper's recipe (SGD lr 0.1, momentum 0.9, wd 1e-4, batch 256)
on 50,000 cued 32x32 images (CIFAR-10 when it is on disk, else the embedded procedural base at CIFAR
size, via the data layer's ``paper`` preset; box cue on p = 0.8 of each class):

- reference: uint8 images, per sample ``PIL.Image -> ToTensor -> Normalize`` and the box painted in
  ``__getitem__`` (``benchmarks/_reference.py``), a ``DataLoader`` with 4 workers (pinned memory),
  an fp32 loop that reads the loss back with ``.item()`` every step;
- fast: :func:`mmc_utils.train.train_model` with ``TrainConfig.for_scale("paper")`` on the
  tensor-resident ``CueSet.batches`` (images on the GPU, cue drawn there per batch), bf16 autocast,
  channels-last, eager and with ``torch.compile`` modes (``--compile``). The first epoch of each
  variant is a warm-up (compilation, cuDNN autotuning) and is reported apart.

Goals (issue #9): an epoch of the fast path <= 0.5 s on an H100, and >= 10x the reference's
images/s. Also reported: the resident size of the training set on the device, peak GPU memory of
each variant, and the host-device synchronisations in one eager epoch (``torch.cuda`` sync debug
mode; a handful per epoch, none per step, is the expected count).

Run: ``python benchmarks/paper_scale.py [--json FILE]`` on a machine with CUDA (exits with status 2
otherwise), or ``python benchmarks/paper_scale.py --cpu-smoke`` for the same code at tiny sizes on the
CPU (what the unit test runs; its numbers mean nothing).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import warnings
from typing import Any

import torch

from _reference import PerSampleBoxDataset, reference_loader, reference_train_epoch
from mmc_utils import accel
from mmc_utils.data import CueDataConfig, CueData, build_data
from mmc_utils.models import build_model
from mmc_utils.runtime import make_generator
from mmc_utils.train import TrainConfig, train_model

GOAL_EPOCH_S = 0.5        # seconds per epoch of 50,000 images on an H100
GOAL_RATIO = 10.0
EPOCH_IMAGES = 50_000
VARIANTS = ("eager",) + accel.COMPILE_MODES
SIZES = {  # full run on CUDA / the CPU smoke run
    "gpu": dict(n=EPOCH_IMAGES, width=1.0, batch=256, epochs=3, ref_epochs=1, compile="eager,default,reduce-overhead"),
    "smoke": dict(n=256, width=0.125, batch=64, epochs=1, ref_epochs=1, compile="eager"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``None`` defaults are filled from :data:`SIZES` (GPU or smoke)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-smoke", action="store_true", help="run the same code at tiny sizes on the CPU")
    ap.add_argument("--n", type=int, help="training images per epoch (default 50,000; smoke 256)")
    ap.add_argument("--base", default="auto", choices=("auto", "shapes", "cifar10"),
                    help="auto: CIFAR-10 when on disk (MMC_DATA_DIR), else the procedural base")
    ap.add_argument("--width", type=float, help="VGG-13 width multiplier (default 1; smoke 0.125)")
    ap.add_argument("--batch", type=int, help="batch size (default 256, the paper's; smoke 64)")
    ap.add_argument("--epochs", type=int, help="timed epochs per fast variant, after one warm-up epoch")
    ap.add_argument("--ref-epochs", type=int, help="timed epochs of the reference pipeline")
    ap.add_argument("--workers", type=int, default=4, help="DataLoader workers of the reference (default 4)")
    ap.add_argument("--compile", help=f"comma-separated fast variants among {', '.join(VARIANTS)} "
                                      "(default eager,default,reduce-overhead; smoke: eager)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    for key, value in SIZES["smoke" if args.cpu_smoke else "gpu"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.variants = [v.strip() for v in args.compile.split(",") if v.strip()]
    bad = [v for v in args.variants if v not in VARIANTS]
    if bad or not args.variants:
        ap.error(f"--compile takes variants among {', '.join(VARIANTS)}; got {args.compile!r}")
    return args


def load_data(args: argparse.Namespace, device: torch.device) -> CueData:
    """The ``paper`` preset's data with ``n_train = args.n`` (no held-out split), on ``device``."""
    bases = ("cifar10", "shapes") if args.base == "auto" else (args.base,)
    for base in bases:
        config = CueDataConfig.for_scale("paper", base=base, n_train=args.n, n_clean=0, n_test=args.batch, seed=0)
        try:
            return build_data(config, device=device)
        except FileNotFoundError:
            if base == bases[-1]:
                raise
    raise AssertionError("unreachable")


def check_same_batches(data: CueData, ds: PerSampleBoxDataset) -> float:
    """Largest difference between the reference's samples and ``CueSet``'s (<= 1/255: uint8 rounding)."""
    train = data.train
    order = torch.randperm(len(train), generator=make_generator(0))[:64]
    ref = torch.stack([ds[int(i)][0] for i in order])
    ours = train.subset(order).materialize()[0].cpu()
    diff = float((ref - ours).abs().max())
    assert diff <= 1 / 255 + 1e-6, f"reference and CueSet batches differ by {diff}"
    return diff


def run_reference(args: argparse.Namespace, data: CueData, ds: PerSampleBoxDataset,
                  device: torch.device) -> dict[str, Any]:
    """Time ``args.ref_epochs`` epochs of the reference pipeline (after a 3-step warm-up)."""
    cfg = TrainConfig.for_scale("paper", batch_size=args.batch)
    model = build_model("vgg13", data.num_classes, width=args.width, init_seed=0).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    loader = reference_loader(ds, args.batch, seed=0, workers=args.workers, pin_memory=device.type == "cuda")
    reference_train_epoch(model, loader, opt, device, max_steps=3)
    accel.reset_peak_memory(device)
    runs = [reference_train_epoch(model, loader, opt, device) for _ in range(args.ref_epochs)]
    n, best, loss = min(runs, key=lambda r: r[1])
    out = {"images": n, "s_per_epoch": best, "images_per_s": n / best, "loss": loss,
           "peak_bytes": accel.peak_memory_bytes(device), "epochs_s": [r[1] for r in runs]}
    del model, opt, loader
    return out


def run_fast(args: argparse.Namespace, data: CueData, variant: str, device: torch.device) -> dict[str, Any]:
    """One warm-up epoch plus ``args.epochs`` timed epochs of ``train_model`` on the paper preset."""
    cfg = TrainConfig.for_scale("paper", epochs=1 + args.epochs, batch_size=args.batch,
                                compile=False if variant == "eager" else variant)
    model = build_model("vgg13", data.num_classes, width=args.width, init_seed=0)
    accel.reset_peak_memory(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = train_model(model, data.train, cfg, seed=0, device=device, desc=f"fast {variant}")
    timed = hist["seconds"][1:]
    best = min(timed)
    n = len(data.train) if not cfg.drop_last else cfg.steps_per_epoch(len(data.train)) * cfg.batch_size
    messages = list(dict.fromkeys(str(w.message)[:300] for w in caught))  # e.g. recompilations, fallbacks
    return {"images": n, "s_per_epoch": best, "images_per_s": n / best, "warmup_s": hist["seconds"][0],
            "epochs_s": timed, "loss": hist["loss"][-1], "peak_bytes": accel.peak_memory_bytes(device),
            "amp": cfg.amp and device.type == "cuda", "channels_last": cfg.channels_last and device.type == "cuda",
            "compile": cfg.compile, "fell_back_to_eager": any("eagerly" in m for m in messages),
            "warnings": messages[:8]}


def count_host_syncs(args: argparse.Namespace, data: CueData, device: torch.device) -> dict[str, int] | None:
    """Synchronising CUDA calls in one eager epoch of ``train_model`` (``None`` off CUDA)."""
    if device.type != "cuda":
        return None
    cfg = TrainConfig.for_scale("paper", epochs=1, batch_size=args.batch)
    model = build_model("vgg13", data.num_classes, width=args.width, init_seed=0)
    train_model(model, data.train, cfg, seed=0, device=device)   # warm-up outside the count
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_model(model, data.train, cfg, seed=1, device=device)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = sum("synchroniz" in str(w.message).lower() for w in caught)
    return {"syncs": syncs, "steps": cfg.steps_per_epoch(len(data.train))}


def _free(device: torch.device) -> None:
    """Drop the previous variant's compiled graphs and cached GPU memory, so variants start equal."""
    torch.compiler.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status (2: no CUDA and no ``--cpu-smoke``)."""
    args = parse_args(argv)
    if args.cpu_smoke:
        device = torch.device("cpu")
    else:
        try:
            device = accel.require_cuda("benchmarks/paper_scale.py")
        except accel.CudaUnavailable as err:
            print(f"error: {err}.\nUse --cpu-smoke to run the same code at tiny sizes on the CPU.", file=sys.stderr)
            return 2
        accel.configure_cuda(benchmark=True)
    if os.environ.pop("MMC_SCALE", None):
        print("note: MMC_SCALE ignored (this benchmark always uses the paper presets)")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"platform: {platform.platform()} | python {platform.python_version()} | cpus: {os.cpu_count()} | "
          f"torch {torch.__version__} (CUDA {torch.version.cuda}) | device: {device} ({name})"
          + (" | CPU SMOKE RUN: tiny sizes, numbers mean nothing" if args.cpu_smoke else ""))
    t0 = time.perf_counter()
    data = load_data(args, device)
    train = data.train
    resident = accel.resident_bytes(train.images, train.labels, train.cue_labels, train.ids)
    print(f"data: {len(train):,} images {tuple(train.input_shape)} of base {data.config.base!r}, {train.num_cued:,} "
          f"cued, built in {time.perf_counter() - t0:.1f} s; resident on {device}: {resident:,} bytes; "
          f"VGG-13 width {args.width}, batch {args.batch}")
    ds = PerSampleBoxDataset(train, pil=True)
    max_diff = check_same_batches(data, ds)

    results: dict[str, Any] = {
        "device": str(device), "device_name": name, "torch": torch.__version__, "cuda": torch.version.cuda,
        "cpu_smoke": args.cpu_smoke, "base": data.config.base, "n_images": len(train),
        "image_shape": list(train.input_shape), "batch_size": args.batch, "width": args.width,
        "resident_bytes": resident, "max_abs_diff_reference_vs_ours": max_diff,
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    ref = results["reference"] = run_reference(args, data, ds, device)
    _free(device)
    print(f"{'reference':>28}: {ref['images_per_s']:12,.0f} images/s  {ref['s_per_epoch']:8.3f} s/epoch  "
          f"(PIL -> ToTensor -> Normalize per sample, box in __getitem__, DataLoader x{args.workers}, fp32)")
    results["fast"] = {}
    for variant in args.variants:
        try:
            r = run_fast(args, data, variant, device)
        except Exception as err:  # noqa: BLE001 - report and go on with the other variants
            r = {"error": f"{type(err).__name__}: {err}"}
            print(f"{'fast, ' + variant:>28}: failed ({r['error']})")
        else:
            peak = "" if r["peak_bytes"] is None else f", peak {r['peak_bytes']:,} bytes"
            print(f"{'fast, ' + variant:>28}: {r['images_per_s']:12,.0f} images/s  {r['s_per_epoch']:8.3f} s/epoch  "
                  f"(warm-up epoch {r['warmup_s']:.2f} s{peak}"
                  + (", compiled model failed: ran eagerly" if r["fell_back_to_eager"] else "")
                  + (f", {len(r['warnings'])} distinct warnings (see --json)" if r["warnings"] else "") + ")")
        results["fast"][variant] = r
        _free(device)
    ok = {v: r for v, r in results["fast"].items() if "error" not in r}
    if ok:
        best = max(ok, key=lambda v: ok[v]["images_per_s"])
        rate = ok[best]["images_per_s"]
        results["best"] = best
        results["ratio"] = rate / ref["images_per_s"]
        results["s_per_50k_images"] = EPOCH_IMAGES / rate
        results["peak_bytes"] = ok[best]["peak_bytes"]
        results["goals"] = {"epoch_le_0.5_s": results["s_per_50k_images"] <= GOAL_EPOCH_S,
                            "ratio_ge_10": results["ratio"] >= GOAL_RATIO}
        print(f"best fast variant: {best}; speed-up over the reference {results['ratio']:.1f}x (goal >= "
              f"{GOAL_RATIO:.0f}x); {results['s_per_50k_images']:.3f} s per 50,000 images (goal <= {GOAL_EPOCH_S} s "
              f"on an H100); peak GPU memory {results['peak_bytes'] if results['peak_bytes'] is not None else 'n/a'} bytes")
    results["host_syncs_one_epoch"] = count_host_syncs(args, data, device)
    if results["host_syncs_one_epoch"] is not None:
        print(f"host-device synchronisations in one eager epoch: {results['host_syncs_one_epoch']['syncs']} "
              f"({results['host_syncs_one_epoch']['steps']} steps)")
    results["seconds"] = time.perf_counter() - t0
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"results written to {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
