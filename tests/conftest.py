"""Shared fixtures: tiny made datasets and a tiny pix2pix config that trains in well under a second."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cgan_cli.data.demo import write_demo
from cgan_cli.families.pix2pix import Pix2PixConfig

torch.set_num_threads(2)
# caches (features, caption embeddings) go to a throwaway folder, not the user's ~/.cache
os.environ.setdefault("CGAN_CACHE_DIR", tempfile.mkdtemp(prefix="cgan-test-cache-"))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Toy networks are too small to split: on a 2-core machine shared with other work, two intra-op
    threads spin-wait on each other (measured 5–30× slower than one under load)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """`pytestmark = pytest.mark.usefixtures("single_thread")` runs a module of toy-network tests on one thread."""
    with one_thread():
        yield


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo(root, train=12, test=4, size=32)
    return root


# image-translation networks at toy size: 8 filters on 32×32 crops, no checkpoints or grids on the way
TINY_TRANSLATION = dict(ngf=8, ndf=8, load_size=36, crop_size=32, save_every=1000, sample_every=1000, log_every=2)


# ProGAN at toy size: 16×16 reached after one 4-image stable phase and an 8-image fade per resolution
TINY_PROGAN = dict(image_size=16, fmap_base=64, fmap_max=16, z_dim=8, batch_size=4, stable_images=4, fade_images=8)


def tiny_config(paired: Path, **overrides) -> Pix2PixConfig:
    """unet_32 with 8 filters: the real architecture, scaled down to run in milliseconds."""
    return Pix2PixConfig(**{"paired": str(paired), "net_g": "unet_32", **TINY_TRANSLATION, **overrides})


def tiny_bicyclegan_config(paired: Path | str, **overrides):
    """unet_32, an 8-filter encoder and two-scale 8-filter PatchGANs of 2 layers (basic_128_multi) on 32×32 crops."""
    from cgan_cli.families.bicyclegan import BicycleGANConfig

    tiny = {"net_g": "unet_32", "nef": 8, "net_d": "basic_128_multi", "net_d2": "basic_128_multi"}
    return BicycleGANConfig(**{"paired": str(paired), **TINY_TRANSLATION, **tiny, **overrides})


@pytest.fixture(scope="session")
def classes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers_classes import write_classes

    return write_classes(tmp_path_factory.mktemp("classes"), per_class=4)


def unpaired_colour(domain: str, index: int) -> tuple[int, int, int]:
    """The flat colour under image `index` (0-4) of `unpaired_dir`'s domain "A" or "B": they differ by 45
    levels in some channel, so an image's mean colour still names its file after any crop or flip."""
    return (30 + 45 * index, 70, 200) if domain == "A" else (210, 40 + 45 * index, 40)


@pytest.fixture(scope="session")
def unpaired_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CycleGAN layout: trainA/ (5 images), trainB/ (3), testA/ and testB/ (2 each), 40×40 PNGs.
    The domains differ in count on purpose; each image is its `unpaired_colour` under ±24 levels of noise."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("unpaired")
    for n, (folder, count) in enumerate({"trainA": 5, "trainB": 3, "testA": 2, "testB": 2}.items()):
        (root / folder).mkdir()
        for i in range(count):
            noise = np.random.default_rng([n, i]).integers(-24, 25, (40, 40, 3))
            pixels = np.array(unpaired_colour(folder[-1], i)) + noise
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / folder / f"{folder[-1]}{i}.png")
    return root


def tiny_cyclegan_config(unpaired: Path | str, **overrides):
    """resnet_6blocks with 8 filters and 8-filter PatchGANs on 32×32 crops."""
    from cgan_cli.families.cyclegan import CycleGANConfig

    return CycleGANConfig(**{"unpaired": str(unpaired), "net_g": "resnet_6blocks", **TINY_TRANSLATION, **overrides})


@pytest.fixture(scope="session")
def captions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers_captions import write_captioned

    return write_captioned(tmp_path_factory.mktemp("captions"), per_kind=2)


@functools.cache
def _default_captions() -> Path:
    from helpers_captions import write_captioned

    return write_captioned(Path(tempfile.mkdtemp(prefix="cgan-captions-")), per_kind=2)


# text-to-image at toy size: the tiny random CLIP, 32×32, narrow nets
TINY_TEXT = dict(clip_model="cgan-tiny", clip_pretrained="none", image_size=32, ngf=8, ndf=8, batch_size=4,
                 save_every=1000, sample_every=1000, log_every=2)  # fmt: skip
TINY_GIGAGAN = dict(TINY_TEXT, z_dim=16, w_dim=16, t_dim=16, channel_max=32, pyramid=3, heads=2)


@functools.cache
def _default_labels() -> Path:
    from helpers_labels import write_labels

    return write_labels(Path(tempfile.mkdtemp(prefix="cgan-labels-")) / "labels")


# SPADE at toy size: 64×64 (the generator starts at 1/32, and batch norm needs more than 1×1), no VGG19
TINY_SPADE = dict(ngf=2, ndf=4, spade_hidden=8, n_layers_d=3, load_size=64, crop_size=64, vgg=False,
                  save_every=1000, sample_every=1000, log_every=2)  # fmt: skip


def tiny_family_config(
    name: str, demo_dir: Path, classes_dir: Path, unpaired_dir: Path | None = None, captions_dir: Path | None = None
):
    """Every registered family at toy size: the real architecture, scaled down (a new family adds a line).
    Without `unpaired_dir`, CycleGAN reads demo_dir's train/ and test/ folders as its two domains."""
    from cgan_cli.families import family_class

    latent = {"image_size": 32, "ngf": 8, "ndf": 8, "batch_size": 4}
    configs = {
        "pix2pix": lambda: tiny_config(demo_dir),
        "bicyclegan": lambda: tiny_bicyclegan_config(demo_dir),
        "dcgan": lambda: {"images": str(classes_dir), **latent},
        "cgan": lambda: {"classes": str(classes_dir), **latent},
        "acgan": lambda: {"classes": str(classes_dir), **latent},
        "progan": lambda: {"classes": str(classes_dir), **TINY_PROGAN},
        "infogan": lambda: {"images": str(classes_dir), **latent},
        # the class folders as single-label domains; n_critic 1 so that a single step also updates G
        "stargan": lambda: {
            "domains": str(classes_dir),
            "image_size": 32,
            "g_conv_dim": 8,
            "d_conv_dim": 8,
            "g_repeat_num": 1,
            "batch_size": 4,
            "n_critic": 1,
        },
        "gancls": lambda: {"captions": str(captions_dir or _default_captions()), **TINY_TEXT},
        "gigagan": lambda: {"captions": str(captions_dir or _default_captions()), **TINY_GIGAGAN},
        "spade": lambda: {"labels": str(_default_labels()), **TINY_SPADE},
        "cyclegan": lambda: (
            tiny_cyclegan_config(unpaired_dir)
            if unpaired_dir is not None
            else tiny_cyclegan_config("", domain_a=str(demo_dir / "train"), domain_b=str(demo_dir / "test"))
        ),
    }
    made = configs[name]()
    return family_class(name).Config(**made) if isinstance(made, dict) else made
