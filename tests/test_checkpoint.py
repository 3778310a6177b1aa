"""Checkpoint format: self-describing metadata, exact round trip, and refusal of damaged files."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

import cgan_cli
from cgan_cli.checkpoint import Checkpoint, load_checkpoint, read_metadata, save_checkpoint
from cgan_cli.errors import CheckpointError


def make(path, **extra):
    tensors = {
        "net/G/w": torch.arange(12, dtype=torch.float32).view(3, 4),
        "net/G/b": torch.tensor([1.5, -2.0]),
        "net/D/w": torch.randn(5).to(torch.bfloat16),
        "rng/torch": torch.get_rng_state(),
        "optim/G/0.step": torch.tensor(7.0),
    }
    ckpt = Checkpoint(None, "pix2pix", {"lr": 0.0002, "paired": "/data"}, 42, 3, tensors, {"position": {"index": 5}})
    return save_checkpoint(path, ckpt), tensors


def test_round_trip_and_metadata(tmp_path):
    path, tensors = make(tmp_path / "a.safetensors")
    meta = read_metadata(path)
    assert meta["family"] == "pix2pix" and meta["step"] == "42" and meta["epoch"] == "3"
    assert json.loads(meta["config"]) == {"lr": 0.0002, "paired": "/data"}
    assert meta["cgan_version"] == cgan_cli.__version__ and meta["torch_version"] == torch.__version__
    ckpt = load_checkpoint(path)
    assert ckpt.step == 42 and ckpt.state == {"position": {"index": 5}}
    assert set(ckpt.tensors) == set(tensors)
    for k, v in tensors.items():
        assert ckpt.tensors[k].dtype == v.dtype and torch.equal(ckpt.tensors[k], v)
    assert set(ckpt.sub("net/G")) == {"w", "b"}


def test_partial_load_reads_only_requested_groups(tmp_path):
    path, _ = make(tmp_path / "a.safetensors")
    ckpt = load_checkpoint(path, groups=["net/G"])
    assert set(ckpt.tensors) == {"net/G/w", "net/G/b"}


def test_no_pickle_in_the_file(tmp_path):
    path, _ = make(tmp_path / "a.safetensors")
    raw = path.read_bytes()
    assert b"\x80\x04" not in raw[:16] and raw[8:9] == b"{"  # a safetensors JSON header, not a pickle stream


def flip_byte(path, offset_from_end):
    raw = bytearray(path.read_bytes())
    raw[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_tampered_tensor_data_is_refused(tmp_path):
    path, _ = make(tmp_path / "a.safetensors")
    flip_byte(path, 3)
    with pytest.raises(CheckpointError, match="checksum mismatch|damaged"):
        load_checkpoint(path)


def test_tampered_metadata_config_is_refused(tmp_path):
    path, _ = make(tmp_path / "a.safetensors")
    raw = path.read_bytes()
    assert b'\\"lr\\": 0.0002' in raw
    path.write_bytes(raw.replace(b'\\"lr\\": 0.0002', b'\\"lr\\": 0.0003'))
    with pytest.raises(CheckpointError, match="metadata"):
        load_checkpoint(path)


def test_truncated_file_is_refused(tmp_path):
    path, _ = make(tmp_path / "a.safetensors")
    raw = path.read_bytes()
    for cut in (len(raw) // 2, 20, 4):
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_other_files_are_refused(tmp_path):
    text = tmp_path / "notes.safetensors"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(text)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a cgan checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_newer_format_is_refused(tmp_path):
    path = tmp_path / "new.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "cgan-checkpoint", "format_version": "99"})
    with pytest.raises(CheckpointError, match="newer cgan"):
        read_metadata(path)


def test_failed_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path, _ = make(tmp_path / "a.safetensors")
    before = path.read_bytes()

    def broken(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("cgan_cli.checkpoint.save_file", broken)
    with pytest.raises(OSError):
        make(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.safetensors"]
