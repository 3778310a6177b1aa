"""`--compile` trains every family, gradient penalties included: torch.compile's aot_autograd cannot
differentiate twice, so WGAN-GP, R1 and MA-GP must reach the eager discriminator (Family.runner).
Slow: inductor compiles each family's nets on the CPU (10 to 50 s each here)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_family_config

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.device import Runtime
from cgan_cli.families import create
from cgan_cli.trainer import Trainer

pytestmark = pytest.mark.slow

CASES = {
    "stargan (WGAN-GP)": ("stargan", {}),
    "pix2pix wgangp": ("pix2pix", {"loss": "wgangp"}),
    "cyclegan wgangp": ("cyclegan", {"loss": "wgangp"}),
    "dcgan wgangp": ("dcgan", {"loss": "wgangp"}),
    "acgan R1": ("acgan", {"r1": 1.0}),
    "gancls (MA-GP)": ("gancls", {}),
    "gigagan (R1)": ("gigagan", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_training_with_gradient_penalties(
    case: str, demo_dir: Path, classes_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    name, overrides = CASES[case]
    cfg = dataclasses.replace(tiny_family_config(name, demo_dir, classes_dir), steps=2, **overrides)
    penalty_calls: list[int] = []
    if name == "cyclegan":  # its logs hold D_A/D_B with the penalty inside: count the calls instead
        from cgan_cli.families import cyclegan

        real_penalty = cyclegan.gradient_penalty
        monkeypatch.setattr(
            cyclegan, "gradient_penalty", lambda *a, **k: penalty_calls.append(1) or real_penalty(*a, **k)
        )
    torch.manual_seed(0)
    family = create(name, cfg, Runtime(torch.device("cpu"), compile=True))
    before = {k: v.clone() for k, v in family.nets["D"].state_dict().items()} if "D" in family.nets else None
    path = Trainer(family, tmp_path / "run").fit()
    ckpt = load_checkpoint(path)
    assert ckpt.step == 2
    logged = {k for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines() for k in json.loads(line)}
    if name == "cyclegan":
        assert len(penalty_calls) == 2 * 2  # D_A and D_B, both steps
    else:
        assert {"D_gp", "D_r1", "D_magp"} & logged, "the penalty this case is about did not run"
    if before is not None:  # the compiled and eager D share weights: D really trained
        assert any(not torch.equal(before[k], v) for k, v in family.nets["D"].state_dict().items())
