"""The per-sample input pipeline the benchmarks compare against (the usual PyTorch pattern, and the
reference code's): a ``Dataset`` whose ``__getitem__`` builds one image and paints its box cue,
collated by a ``DataLoader``, and an fp32 training loop over it.

Used by ``bench_data.py`` (tensor images, no workers, CPU) and ``paper_scale.py`` (PIL images
through ``ToTensor`` and ``Normalize``, 4 workers, training a VGG-13 on the GPU).
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from mmc_utils.data import BoxCue, CueSet
from mmc_utils.runtime import make_generator


class PerSampleBoxDataset(Dataset):
    """One image at a time, box painted in ``__getitem__``.

    Args:
        cue_set: a :class:`~mmc_utils.data.CueSet` with the box cue (its images, labels and cue labels
            are copied to the CPU).
        pil: ``False``: images are float tensors in [-1, 1], copied per sample. ``True``: images are
            stored as uint8 ``[N, H, W, 3]`` (as CIFAR-10 is) and each sample goes
            ``PIL.Image -> ToTensor -> Normalize(0.5, 0.5)`` before its box is painted; the values
            then differ from the tensor images by at most 1/255 (uint8 rounding), box pixels exactly equal.

    Items are ``(image [3, S, S] float32, label int64 scalar)``.
    """

    def __init__(self, cue_set: CueSet, pil: bool = False) -> None:
        if not isinstance(cue_set.cue, BoxCue):
            raise TypeError("the baseline implements the box cue only")
        self.labels, self.cue_labels, self.pil = cue_set.labels.cpu(), cue_set.cue_labels.cpu(), pil
        # per class: (row slice, column slice) and colour [3, 1, 1] of its box (CPU only: workers are forked)
        cue = cue_set.cue
        self.boxes = {c: (cue.box_slices(c), cue.colours[c][:, None, None].clone())
                      for c in range(cue.num_classes) if cue.box_slices(c) is not None}
        images = cue_set.images.cpu()
        if pil:
            from torchvision import transforms

            u8 = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
            self.images = np.ascontiguousarray(u8.permute(0, 2, 3, 1).numpy())          # [N, S, S, 3]
            self.transform = transforms.Compose([transforms.ToTensor(),
                                                 transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
        else:
            self.images = images

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        if self.pil:
            from PIL import Image

            img = self.transform(Image.fromarray(self.images[i]))
        else:
            img = self.images[i].clone()
        box = self.boxes.get(int(self.cue_labels[i]))  # cue label -1 (no cue) or a class without a box: None
        if box is not None:
            img[(slice(None), *box[0])] = box[1]
        return img, self.labels[i]


def reference_loader(ds: Dataset, batch_size: int, seed: int, workers: int = 0, pin_memory: bool = False,
                     drop_last: bool = False) -> DataLoader:
    """A shuffling ``DataLoader`` over ``ds`` (new worker processes every epoch, as by default)."""
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=make_generator(seed), num_workers=workers,
                      pin_memory=pin_memory, drop_last=drop_last)


def reference_train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                          device: torch.device, max_steps: int | None = None) -> tuple[int, float, float]:
    """One fp32 epoch the way the reference code trains: copy each batch, forward, CE, backward, step,
    and read the loss back with ``.item()`` every step (a host-device sync per step).

    Returns:
        ``(images, wall seconds, mean loss)``; the time includes starting the loader's workers and a
        final device synchronisation.
    """
    model.train()
    n, total, t0 = 0, 0.0, time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * y.shape[0]
        n += y.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return n, time.perf_counter() - t0, total / max(n, 1)
