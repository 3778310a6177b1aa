"""Crop, flip and float conversion on the training device (DeviceCrop / crop_on_device): the same pixels
as the per-item Pillow path, for pairs (one shared view) and unpaired domains (a view each), and the
path the trainer really takes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_config, tiny_cyclegan_config
from helpers_images import noise, side_by_side, write
from torch.utils.data import default_collate

from cgan_cli.data import transforms
from cgan_cli.data.paired import PairedDataset, find_pairs
from cgan_cli.data.transforms import VIEW, Preprocess, crop_flip, crop_on_device
from cgan_cli.data.unpaired import UnpairedDataset, find_domains
from cgan_cli.families import create
from cgan_cli.trainer import Trainer

CPU = torch.device("cpu")


def both_ways(ds, keys: list[tuple[int, int]]) -> tuple[dict, dict]:
    """(per-item CPU batch, deferred batch finished by crop_on_device) for the same keys."""
    ds.defer_crop = False
    eager = default_collate([ds[k] for k in keys])
    ds.defer_crop = True
    raw = default_collate([ds[k] for k in keys])
    ds.defer_crop = False
    return eager, raw


@pytest.mark.parametrize(("load", "crop"), [(40, 24), (20, 24), (24, 24)])
def test_paired_device_crop_equals_pillow_crop(tmp_path: Path, load: int, crop: int) -> None:
    for i in range(3):
        write(tmp_path / "ds" / f"{i}.png", side_by_side(noise(37, 29, seed=i), noise(37, 29, seed=10 + i)))
    ds = PairedDataset(find_pairs(tmp_path / "ds"), "AtoB", Preprocess(load_size=load, crop_size=crop), 3, 3)
    keys = [(i % 3, seed) for i, seed in enumerate(range(12))]
    eager, raw = both_ways(ds, keys)
    assert raw["input"].dtype == torch.uint8 and raw["input"].shape[-1] == max(load, crop)  # resized, not cropped
    assert torch.equal(raw["input" + VIEW], raw["target" + VIEW])  # A and B share the draw
    flips = set(raw["input" + VIEW][:, 2].tolist())
    assert flips == {0, 1}  # both branches of the gather ran
    if load > crop:
        assert len(set(raw["input" + VIEW][:, 0].tolist())) > 1  # and several crop corners
    done = crop_on_device(raw, CPU)
    assert set(done) == {"input", "target"}
    for key in ("input", "target"):
        assert done[key].dtype == torch.float32 and done[key].shape == eager[key].shape
        assert torch.equal(done[key], eager[key]), key


def test_unpaired_device_crop_equals_pillow_crop_with_a_view_per_domain(unpaired_dir: Path) -> None:
    ds = UnpairedDataset(find_domains(unpaired_dir), Preprocess(load_size=36, crop_size=32), 3, 3)
    keys = [(i % 5, 100 + i) for i in range(10)]
    eager, raw = both_ways(ds, keys)
    assert not torch.equal(raw["A" + VIEW], raw["B" + VIEW])  # each image draws its own crop and flip
    done = crop_on_device(raw, CPU)
    assert torch.equal(done["A"], eager["A"]) and torch.equal(done["B"], eager["B"])


@pytest.mark.parametrize("mode", ["crop", "scale_width", "scale_width_and_crop", "none"])
def test_sizes_that_differ_before_the_crop_stay_on_the_cpu(tmp_path: Path, mode: str) -> None:
    write(tmp_path / "ds" / "x.png", side_by_side(noise(40, 32, seed=1), noise(40, 32, seed=2)))
    ds = PairedDataset(find_pairs(tmp_path / "ds"), "AtoB", Preprocess(mode, load_size=36, crop_size=24), 3, 3)
    ds.defer_crop = True
    item = ds[(0, 3)]
    assert item["input"].dtype == torch.float32 and not any(k.endswith(VIEW) for k in item)


def test_crop_flip_one_channel_and_known_pixels() -> None:
    images = torch.arange(2 * 1 * 5 * 6, dtype=torch.uint8).reshape(2, 1, 5, 6)
    views = torch.tensor([[1, 2, 0, 3], [2, 0, 1, 3]])
    out = crop_flip(images, views, 3)
    expected0 = images[0, :, 2:5, 1:4]
    expected1 = images[1, :, 0:3, 2:5].flip(-1)
    assert torch.equal(out[0], expected0.float() / 127.5 - 1)
    assert torch.equal(out[1], expected1.float() / 127.5 - 1)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from cgan_cli.checkpoint import load_checkpoint

    return {k: v for k, v in load_checkpoint(path).tensors.items() if k.startswith("G")}


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_trainer_crops_on_the_device_and_trains_exactly_as_the_cpu_path(
    family: str, demo_dir: Path, unpaired_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    cfg = (
        tiny_config(demo_dir, steps=3, batch_size=2)
        if family == "pix2pix"
        else tiny_cyclegan_config(unpaired_dir, steps=3, batch_size=2)
    )
    calls: list[int] = []
    real = transforms.crop_flip

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(transforms, "crop_flip", counting)
    torch.manual_seed(0)
    deferred = Trainer(create(family, cfg, CPU), tmp_path / "deferred").fit()
    assert len(calls) == 3 * 2  # every step, both images of the batch
    monkeypatch.setattr(Preprocess, "uniform", property(lambda self: False))
    torch.manual_seed(0)
    eager = Trainer(create(family, cfg, CPU), tmp_path / "eager").fit()
    assert len(calls) == 6
    a, b = _weights(deferred), _weights(eager)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
