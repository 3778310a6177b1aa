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
