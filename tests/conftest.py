"""Shared fixtures: tiny made datasets and a tiny pix2pix config that trains in well under a second."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cgan_cli.data.demo import write_demo
from cgan_cli.families.pix2pix import Pix2PixConfig

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo(root, train=12, test=4, size=32)
    return root


def tiny_config(paired: Path, **overrides) -> Pix2PixConfig:
    """unet_32 with 8 filters: the real architecture, scaled down to run in milliseconds."""
    values = dict(
        paired=str(paired),
        net_g="unet_32",
        ngf=8,
        ndf=8,
        load_size=36,
        crop_size=32,
        save_every=1000,
        sample_every=1000,
        log_every=2,
    )
    values.update(overrides)
    return Pix2PixConfig(**values)


@pytest.fixture(scope="session")
def classes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers_classes import write_classes

    return write_classes(tmp_path_factory.mktemp("classes"), per_class=4)


def tiny_family_config(name: str, demo_dir: Path, classes_dir: Path):
    """Every registered family at toy size: the real architecture, scaled down (a new family adds a line)."""
    from cgan_cli.families import family_class

    latent = {"image_size": 32, "ngf": 8, "ndf": 8, "batch_size": 4}
    configs = {
        "pix2pix": lambda: tiny_config(demo_dir),
        "dcgan": lambda: {"images": str(classes_dir), **latent},
        "cgan": lambda: {"classes": str(classes_dir), **latent},
        "acgan": lambda: {"classes": str(classes_dir), **latent},
    }
    made = configs[name]()
    return family_class(name).Config(**made) if isinstance(made, dict) else made
