"""Real data from ../shared (CMP Facades in the pix2pix aligned layout), when it is present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cgan_cli.data.paired import find_pairs, load_pair
from cgan_cli.families import create
from cgan_cli.families.pix2pix import Pix2PixConfig

FACADES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "facades-train"
pytestmark = pytest.mark.skipif(not FACADES.is_dir(), reason="../shared/data/facades-train is not present")


def top_colour_share(img, k: int = 12) -> float:
    """Share of pixels in the k most common colours (quantised to 32 levels, so JPEG noise merges)."""
    _, counts = np.unique((np.asarray(img) >> 3).reshape(-1, 3), axis=0, return_counts=True)
    return float(np.sort(counts)[::-1][:k].sum() / counts.sum())


def test_facades_pairs_and_direction():
    pairs = find_pairs(FACADES)
    assert len(pairs) == 400 and all(p.b is None for p in pairs)
    for pair in pairs[:5]:
        label, photo = load_pair(pair, "BtoA", 3, 3)  # labels → photo, the classic task
        assert label.size == photo.size == (256, 256)
        assert top_colour_share(label) > top_colour_share(photo) + 0.1  # a flat label map, then a photo
        photo_first, label_second = load_pair(pair, "AtoB", 3, 3)  # the photo is the left half (A)
        assert np.array_equal(np.asarray(photo_first), np.asarray(photo))
        assert np.array_equal(np.asarray(label_second), np.asarray(label))


def test_one_default_pix2pix_step_on_facades():
    cfg = Pix2PixConfig(paired=str(FACADES), direction="BtoA")  # paper defaults: unet_256, 286 → 256
    family = create("pix2pix", cfg, torch.device("cpu"))
    item = family.dataset()[(0, 123)]
    assert item["input"].shape == item["target"].shape == (3, 256, 256)
    batch = {k: v[None] for k, v in item.items()}
    losses = family.train_step(batch)
    assert set(losses) == {"D_real", "D_fake", "G_GAN", "G_L1"}
    assert all(torch.isfinite(v) for v in losses.values())
    # L1 is weighted by 100 and the untrained generator is far from the photo
    assert losses["G_L1"].item() > 10
