"""The bf16 fast path: when it is on, and that training under it tracks fp32 on a fixed batch."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from conftest import tiny_config, tiny_cyclegan_config

from cgan_cli import device as device_module
from cgan_cli.device import Runtime, autocast, uses_bf16
from cgan_cli.errors import UsageError
from cgan_cli.families import create

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("single_thread")


def test_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: False)
    assert not uses_bf16(CPU) and uses_bf16(torch.device("cuda"))
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: True)
    assert uses_bf16(CPU)
    assert not uses_bf16(CPU, "fp32") and not uses_bf16(torch.device("cuda"), "fp32")
    monkeypatch.setattr(device_module, "cpu_has_fast_bf16", lambda: False)
    assert uses_bf16(CPU, "bf16") and Runtime(CPU, "bf16").bf16 and not Runtime(CPU).bf16
    with autocast(CPU, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with Runtime(CPU, "fp32").autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(UsageError):
        Runtime(CPU, "fp8")


def test_precision_is_what_the_family_was_built_with(demo_dir) -> None:
    """Two families in one process, one bf16 and one fp32: neither's choice leaks into the other."""
    bf16 = create("pix2pix", tiny_config(demo_dir), Runtime(CPU, "bf16"))
    fp32 = create("pix2pix", tiny_config(demo_dir), Runtime(CPU, "fp32"))
    x = torch.ones(2, 2)
    with bf16.runtime.autocast():
        assert (x @ x).dtype == torch.bfloat16
    with fp32.runtime.autocast():
        assert (x @ x).dtype == torch.float32


def _losses(family: str, data: Path, precision: str, steps: int = 4) -> list[dict[str, float]]:
    random.seed(0)  # CycleGAN's image pool draws from Python's random, as the reference's does
    cfg = tiny_config(data, dropout=False) if family == "pix2pix" else tiny_cyclegan_config(
        "", domain_a=str(data / "train"), domain_b=str(data / "test"))  # fmt: skip
    with torch.random.fork_rng():
        fam = create(family, cfg, Runtime(CPU, precision))
        batch = next(iter(torch.utils.data.DataLoader(fam.dataset(), batch_size=cfg.batch_size,
                                                      sampler=[(i, i) for i in range(cfg.batch_size)])))  # fmt: skip
        out = []
        for step in range(steps):
            fam.step = step
            out.append({k: float(v) for k, v in fam.train_step(batch).items()})
    return out


RECONSTRUCTION = ("G_L1", "cycle_A", "cycle_B", "idt_A", "idt_B")


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_bf16_losses_track_fp32_on_a_fixed_batch(demo_dir: Path, family: str) -> None:
    """Same weights, same batch, four steps. The tolerance: reconstruction losses (L1, cycle, identity)
    within 2%; adversarial losses, small differences of D's outputs that bf16 rounding moves most, within
    0.1 absolute. Yet not identical, so bf16 really ran."""
    fp32, bf16 = _losses(family, demo_dir, "fp32"), _losses(family, demo_dir, "bf16")
    differ = False
    for a, b in zip(fp32, bf16):
        assert a.keys() == b.keys()
        for k in a:
            allowed = 0.02 * abs(a[k]) if k in RECONSTRUCTION else 0.1
            assert abs(a[k] - b[k]) <= allowed, (k, a[k], b[k])
            differ |= a[k] != b[k]
    assert differ
