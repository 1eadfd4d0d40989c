"""The paper-scale entry points at tiny sizes on the CPU: ``benchmarks/paper_scale.py --cpu-smoke``, the
Table 1 command line at smoke scale, their refusal without CUDA, :mod:`mmc_utils.accel`, and the
host reads of ``train_model`` (per epoch, never per step)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmc_utils import accel
from mmc_utils.models import build_model
from mmc_utils.train import TrainConfig, load_or_train_model, train_model

from _support import TensorSet

ROOT = Path(__file__).resolve().parents[1]
NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}  # hides any GPU, so the refusals are tested on every machine


def run(args: list[str], tmp_path: Path, timeout: int = 120, **env: str) -> subprocess.CompletedProcess:
    """Run ``python *args`` from the repository root with one thread, a private cache and no MMC_SCALE."""
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "MMC_CACHE_DIR": str(tmp_path / "cache"),
               "MMC_PROGRESS": "0", **env}
    environ.pop("MMC_SCALE", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=timeout)


# ----------------------------------------------------------------------------- benchmarks/paper_scale.py
def test_paper_scale_benchmark_cpu_smoke(tmp_path):
    out = tmp_path / "bench.json"
    proc = run(["benchmarks/paper_scale.py", "--cpu-smoke", "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in ("images/s", "s/epoch", "speed-up", "resident on cpu", "CPU SMOKE RUN"):
        assert text in proc.stdout
    r = json.loads(out.read_text())
    assert r["cpu_smoke"] is True and r["device"] == "cpu" and r["image_shape"] == [3, 32, 32]
    assert r["resident_bytes"] >= r["n_images"] * 3 * 32 * 32 * 4
    assert r["max_abs_diff_reference_vs_ours"] <= 1 / 255 + 1e-6
    for side in (r["reference"], r["fast"]["eager"]):
        assert side["images_per_s"] > 0 and side["s_per_epoch"] > 0 and side["images"] == r["n_images"]
        assert side["peak_bytes"] is None  # no GPU
    assert r["best"] == "eager" and r["ratio"] == pytest.approx(
        r["fast"]["eager"]["images_per_s"] / r["reference"]["images_per_s"])
    assert set(r["goals"]) == {"epoch_le_0.5_s", "ratio_ge_10"} and r["host_syncs_one_epoch"] is None
    assert r["fast"]["eager"]["amp"] is False and r["fast"]["eager"]["fell_back_to_eager"] is False


def test_paper_scale_benchmark_refuses_without_cuda(tmp_path):
    proc = run(["benchmarks/paper_scale.py"], tmp_path, timeout=60, **NO_GPU)
    assert proc.returncode == 2
    assert "needs a CUDA GPU" in proc.stderr and "--cpu-smoke" in proc.stderr


# ----------------------------------------------------------------------------- python -m mmc_utils.reproduce
def test_reproduce_cli_smoke_and_resume(tmp_path):
    # a private cache, and the code version pinned so that an edit elsewhere between the two runs
    # (a developer's working tree) cannot invalidate the entries whose reuse is being tested
    pin = {"MMC_CODE_VERSION": "test-resume"}
    out = tmp_path / "table1.json"
    proc = run(["-m", "mmc_utils.reproduce", "--scale", "smoke", "--ps", "0.8", "--device", "cpu", "--out", str(out)], tmp_path,
               **pin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[  6/6] p=0.80 seed 0  CBFT" in proc.stdout and "trained" in proc.stdout
    r = json.loads(out.read_text())
    assert (r["scale"], r["ps"], r["seeds"], r["device"]) == ("smoke", [0.8], [0], "cpu")
    assert [x["method"] for x in r["records"]] == ["θ_C", "FT small", "FT medium", "LLR", "LP-FT", "CBFT"]
    assert all(set(x["acc"]) == {"NC", "C", "RC", "RI"} and 0 <= min(x["acc"].values()) for x in r["records"])
    assert set(r["table"]["0.8"]["CBFT"]["RI"]) == {"mean", "std"} and r["seconds"] > 0
    assert r["paper"]["results"]["0.6"]["CBFT"]["RI"] == 8.75
    # an interrupted or repeated run resumes from the checkpoint store
    csv = tmp_path / "table1.csv"
    again = run(["-m", "mmc_utils.reproduce", "--scale", "smoke", "--ps", "0.8", "--device", "cpu", "--out", str(csv)], tmp_path,
                **pin)
    assert again.returncode == 0 and again.stdout.count("(cached,") == 6
    lines = csv.read_text().splitlines()
    assert lines[0] == "p,seed,method,cached,seconds,set,acc" and len(lines) == 1 + 6 * 4


def test_reproduce_cli_paper_refuses_without_cuda(tmp_path):
    proc = run(["-m", "mmc_utils.reproduce", "--scale", "paper"], tmp_path, timeout=60, **NO_GPU)
    assert proc.returncode == 2 and "needs a CUDA GPU" in proc.stderr and "--scale smoke" in proc.stderr
    assert not (tmp_path / "cache").exists()  # refused before building or training anything


# ----------------------------------------------------------------------------- accel and train_model
def test_accel_helpers(monkeypatch):
    assert [accel.compile_mode(v) for v in (False, True, "reduce-overhead")] == [None, "default", "reduce-overhead"]
    with pytest.raises(ValueError, match="compile"):
        accel.compile_mode("fastest")
    with pytest.raises(TypeError, match="compile"):
        accel.compile_mode(1)
    cpu = torch.device("cpu")
    x = torch.randn(2, 3, 4, 4)
    assert accel.as_input(x, cpu, channels_last=True) is x  # channels-last applies on CUDA only
    with accel.autocast(cpu, amp=True)():
        assert (x @ x.transpose(-1, -2)).dtype == torch.float32
    accel.mark_step("reduce-overhead" if torch.cuda.is_available() else None)
    base = torch.zeros(10)
    assert accel.resident_bytes(base, base[2:], base.view(2, 5), torch.zeros(3, dtype=torch.int64)) == 40 + 24
    assert accel.peak_memory_bytes(cpu) is None
    with pytest.raises(accel.CudaUnavailable, match="needs a CUDA GPU"):
        accel.require_cuda("this test", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(accel.CudaUnavailable, match="none is available"):
        accel.require_cuda("this test")


def test_train_config_compile_modes_and_paper_preset():
    assert TrainConfig(epochs=1, lr=0.1, compile="reduce-overhead").compile == "reduce-overhead"
    with pytest.raises(ValueError, match="compile"):
        TrainConfig(epochs=1, lr=0.1, compile="fastest")
    paper = TrainConfig.for_scale("paper")
    assert paper.amp and paper.channels_last and not paper.compile
    assert "channels_last" not in paper.key_dict() and paper.key_dict()["amp"] is True


def test_amp_is_keyed_as_applied(tmp_path, monkeypatch):
    """amp is ignored off CUDA, so on the CPU amp=True and amp=False are the same cache entry."""
    monkeypatch.setenv("MMC_CACHE_DIR", str(tmp_path))
    g = torch.Generator().manual_seed(0)
    data = TensorSet(torch.randn(32, 3, 8, 8, generator=g), torch.arange(32) % 2)
    spec = {"name": "small_cnn", "num_classes": 2, "width": 0.25}
    cfg = TrainConfig(epochs=1, lr=0.05, batch_size=16)
    _, first = load_or_train_model(spec, cfg, data, {"set": "toy"}, seed=0, device="cpu")
    _, again = load_or_train_model(spec, TrainConfig(**{**cfg.to_dict(), "amp": True}), data, {"set": "toy"},
                                   seed=0, device="cpu")
    assert first["cached"] is False and again["cached"] is True


def test_train_model_reads_the_device_per_epoch_not_per_step(monkeypatch):
    """Every host read of a tensor (``.item()``, ``float()``, ...) would be a sync on CUDA: none per step."""
    reads = []
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__"):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            reads.append(1)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    counts = []
    for n in (64, 256):  # 4 and 16 steps per epoch
        g = torch.Generator().manual_seed(0)
        data = TensorSet(torch.randn(n, 3, 8, 8, generator=g), torch.arange(n) % 3)
        model = build_model("small_cnn", 3, width=0.25, init_seed=0)
        reads.clear()
        train_model(model, data, TrainConfig(epochs=2, lr=0.05, batch_size=16), seed=0, device="cpu")
        counts.append(len(reads))
    assert counts[0] == counts[1] <= 2 * 4, counts
