"""Checkpoints written by cgan 0.1.0 (tests/legacy/make.sh, before the start-up refactor) still load: every
family's file makes, through today's CLI, exactly the images the old code made from it, and its training
state (optimizers and all) loads into today's family."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_cli import ok, pixels
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.families import family_class

LEGACY = Path(__file__).parent / "legacy"
INPUTS = LEGACY / "inputs"
COMMANDS = {
    # fp32: translate's `auto` would be bf16 autocast on CPUs with bf16 units (sampling is always fp32)
    "pix2pix": ["translate", str(INPUTS), "--aligned", "--precision", "fp32"],
    "cyclegan": ["translate", str(INPUTS), "--precision", "fp32"],
    "stargan": ["translate", str(INPUTS), "--to", "green", "--precision", "fp32"],
    "dcgan": ["sample", "-n", "4"],
    "cgan": ["sample", "-n", "4"],
    "acgan": ["sample", "-n", "4"],
    "gancls": ["text2img", "a red circle", "-n", "2"],
    "gigagan": ["text2img", "a red circle", "-n", "2"],
}


def made_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*.png"))


@pytest.mark.parametrize("family", sorted(COMMANDS))
def test_a_0_1_0_checkpoint_makes_the_same_images(family, tmp_path):
    command, *rest = COMMANDS[family]
    ckpt = LEGACY / f"{family}.safetensors"
    result = CliRunner().invoke(app, [command, str(ckpt), *rest, "-o", str(tmp_path), "--device", "cpu"])
    written = ok(result)
    expected = LEGACY / "made" / family
    assert made_files(tmp_path) == made_files(expected) and len(written) == len(made_files(expected)) > 0
    for rel in made_files(expected):
        made, want = pixels(tmp_path / rel), pixels(expected / rel)
        # the same images: another CPU's kernels may round a rare pixel across a quantisation step, no more
        off = np.abs(made - want)
        assert off.max() <= 1 and (off > 0).mean() <= 0.005, (str(rel), int(off.max()), float((off > 0).mean()))


@pytest.mark.parametrize("family", sorted(COMMANDS))
def test_a_0_1_0_training_checkpoint_restores_every_network_and_optimizer(family, demo_dir, classes_dir, tmp_path):
    from helpers_captions import write_captioned

    from tests.conftest import tiny_family_config

    captions = write_captioned(tmp_path, per_kind=1)  # make.sh's captions: a text run checks they are the same
    ckpt = load_checkpoint(LEGACY / f"{family}.safetensors")
    cls = family_class(ckpt.family)
    saved = cls.config_from(ckpt)
    # the data folders of 2026-12-02 are gone: point the saved config at today's tiny data of the same kind
    here = tiny_family_config(family, demo_dir, classes_dir, captions_dir=captions)
    data = {f.name: getattr(here, f.name) for f in dataclasses.fields(here) if f.metadata.get("path")}
    fam = cls(dataclasses.replace(saved, **data), torch.device("cpu"))
    fam.load_state(ckpt)
    for key, tensor in ckpt.tensors.items():
        if key.startswith("net/"):
            _, net, name = key.split("/", 2)
            np.testing.assert_array_equal(fam.nets[net].state_dict()[name].numpy(), tensor.numpy(), err_msg=key)
    assert all(opt.state for opt in fam.optimizers.values())  # the Adam moments came back, not a fresh optimizer
