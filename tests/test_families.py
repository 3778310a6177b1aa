"""The family registry: a checkpoint's family name selects its code, and commands refuse families
that cannot do what was asked."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from cgan_cli.checkpoint import Checkpoint, save_checkpoint
from cgan_cli.cli import app
from cgan_cli.config import FamilySpec, TrainConfig
from cgan_cli.errors import CheckpointError
from cgan_cli.families import FAMILIES, family_class, register
from cgan_cli.families.base import Family

UNCONDITIONAL = FamilySpec("test-unconditional", TrainConfig, "samples", f"{__name__}:Unconditional",
                           "a family that samples but cannot translate")  # fmt: skip


class Unconditional(Family):
    spec = UNCONDITIONAL

    def dataset(self):
        raise NotImplementedError

    def validation_batch(self):
        raise NotImplementedError

    def train_step(self, batch):
        raise NotImplementedError

    def sample_grid(self, batch):
        raise NotImplementedError


@pytest.fixture
def generation_only_family():
    register(UNCONDITIONAL)
    yield Unconditional
    del FAMILIES["test-unconditional"]


def test_a_family_takes_its_name_config_and_makes_from_its_spec():
    assert (Unconditional.name, Unconditional.Config, Unconditional.makes) == ("test-unconditional", TrainConfig,
                                                                               "samples")  # fmt: skip
    for name, spec in FAMILIES.items():
        cls = family_class(name)
        assert (cls.name, cls.Config, cls.makes, cls.summary) == (name, spec.Config, spec.makes, spec.summary)
        assert spec.details.count(".") > 1  # `cgan train NAME --help` shows the paper and defaults


def write(path, family):
    ckpt = Checkpoint(None, family, {}, 1, 0, {"net/G/w": torch.zeros(1)}, {})
    return save_checkpoint(path, ckpt)


def test_family_lookup_by_name():
    assert family_class("pix2pix").name == "pix2pix"
    with pytest.raises(CheckpointError, match="unknown model family 'nope'.*pix2pix"):
        family_class("nope")


def test_translate_refuses_a_family_that_cannot_translate(tmp_path, generation_only_family):
    ckpt = write(tmp_path / "u.safetensors", "test-unconditional")
    (tmp_path / "in.png").write_bytes(b"")
    result = CliRunner().invoke(app, ["translate", str(ckpt), str(tmp_path / "in.png"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "cannot translate" in result.stderr and result.stdout == ""
    assert not (tmp_path / "o").exists()


def test_translate_refuses_an_unknown_family(tmp_path):
    ckpt = write(tmp_path / "u.safetensors", "from-the-future")
    result = CliRunner().invoke(app, ["translate", str(ckpt), str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "unknown model family 'from-the-future'" in result.stderr


def test_resume_refuses_an_unknown_family(tmp_path):
    ckpt = write(tmp_path / "u.safetensors", "from-the-future")
    result = CliRunner().invoke(app, ["train", "--resume", str(ckpt)])
    assert result.exit_code == 1 and "unknown model family" in result.stderr
