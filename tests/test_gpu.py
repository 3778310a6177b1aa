"""CUDA-only checks of the GPU fast path; they skip on machines without CUDA (CI, the dev VM).

Run on a GPU machine with `pytest tests/test_gpu.py`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config, tiny_cyclegan_config
from helpers_images import noise, write
from PIL import Image
from torch.utils.data import default_collate

from cgan_cli.data import jpeg
from cgan_cli.data.io import normalise, read_image
from cgan_cli.data.transforms import crop_on_device
from cgan_cli.families import create
from cgan_cli.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("name", ["pix2pix", "cyclegan"])
def test_training_steps_never_sync_the_gpu(name: str, demo_dir: Path, unpaired_dir: Path, tmp_path: Path) -> None:
    """From the pinned loader batch to the accumulated losses, nothing waits on the GPU: the loop stays
    CUDA-graph friendly (torch raises on any synchronising call under sync debug mode "error")."""
    cfg = tiny_config(demo_dir, batch_size=2) if name == "pix2pix" else tiny_cyclegan_config(unpaired_dir, batch_size=2)
    family = create(name, cfg, torch.device("cuda"))
    trainer = Trainer(family, tmp_path / "run")
    dataset = family.dataset()
    dataset.defer_crop = True
    batches = [default_collate([dataset[(i % len(dataset), i)] for i in range(s, s + 2)]) for s in (0, 2, 4)]
    batches = [{k: v.pin_memory() for k, v in b.items()} for b in batches]
    family.train_mode(True)
    trainer.accumulate(family.train_step(crop_on_device(batches[0], family.device)))  # warm-up: cuDNN autotuning
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in batches[1:]:
            trainer.accumulate(family.train_step(crop_on_device(batch, family.device)))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert all(torch.isfinite(v) for v in trainer._sums.values())


def test_nvjpeg_decode_is_close_to_libjpeg(tmp_path: Path) -> None:
    img = noise(12, 8, seed=1).resize((96, 64), Image.Resampling.BICUBIC)
    path = write(tmp_path / "x.jpg", img, quality=90)
    t = jpeg.read_tensor(path, 3, torch.device("cuda"))
    assert t is not None and t.is_cuda and t.shape == (3, 64, 96)
    cpu = np.asarray(read_image(path)).astype(int)
    assert np.abs(t.permute(1, 2, 0).cpu().numpy().astype(int) - cpu).max() <= 3


def test_normalise_on_cuda_equals_the_cpu_bit_for_bit() -> None:
    levels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    assert torch.equal(normalise(levels.cuda()).cpu(), normalise(levels))
