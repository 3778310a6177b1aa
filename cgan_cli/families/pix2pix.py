"""Pix2Pix's networks, training step and inference (Isola et al., CVPR 2017), following
junyanz/pytorch-CycleGAN-and-pix2pix `pix2pix_model.py`: G makes B from A; D judges (A, B) pairs, its loss
halved; G adds λ·L1 to the target. The options and the paper's defaults are in cgan_cli/config/pix2pix.py.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.inference import ExportOptions, TranslateOptions
from cgan_cli.config.pix2pix import SPEC, Pix2PixConfig
from cgan_cli.data.grid import grid
from cgan_cli.data.paired import PairedDataset, find_pairs, validation_pairs
from cgan_cli.device import Runtime
from cgan_cli.errors import UsageError
from cgan_cli.families.base import Family, Translator, load_net
from cgan_cli.families.graph import ExportGraph, translation_graph
from cgan_cli.families.image_translation import (
    build_generator,
    for_inference,
    gan_loss,
    generator_config,
    patchgan_config,
    preprocessing,
)
from cgan_cli.nn.losses import gradient_penalty
from cgan_cli.nn.patchgan import patchgan

VALIDATION_IMAGES = 4




class Pix2Pix(Family):
    spec = SPEC
    export_choices = ("direction", "image_stats")
    config: Pix2PixConfig

    def __init__(self, config: Pix2PixConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        self.G = self.add_net("G", build_generator(generator_config(config, config.input_nc, config.output_nc)))
        self.D = self.add_net("D", patchgan(patchgan_config(config, config.input_nc + config.output_nc)))
        self.opt_G = self.adam("G", self.G.parameters(), config.lr)
        self.opt_D = self.adam("D", self.D.parameters(), config.lr)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.gan_loss = gan_loss(config)
        self._pairs = None

    # --- data -------------------------------------------------------------------------------
    def pairs(self):
        if self._pairs is None:
            self._pairs = find_pairs(Path(self.config.paired), "train")
        return self._pairs

    def dataset(self) -> PairedDataset:
        cfg = self.config
        return PairedDataset(self.pairs(), cfg.direction, preprocessing(cfg), cfg.input_nc, cfg.output_nc)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        cfg = self.config
        return validation_pairs(Path(cfg.paired), self.pairs, cfg.direction, preprocessing(cfg),
                                cfg.input_nc, cfg.output_nc, VALIDATION_IMAGES)  # fmt: skip

    # --- training ---------------------------------------------------------------------------
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        real_a, real_b = batch["input"], batch["target"]
        with self.runtime.autocast():
            fake_b = self.run_G(real_a)  # (N, output_nc, H, W)

        # D: real pairs → real, generated pairs → fake; the reference halves the sum
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            fake_ab = torch.cat([real_a, fake_b.detach()], 1)
            real_ab = torch.cat([real_a, real_b], 1)
            loss_d_fake = self.gan_loss(self.run_D(fake_ab), real=False)
            loss_d_real = self.gan_loss(self.run_D(real_ab), real=True)
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
        losses = {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach()}
        if self.gan_loss.uses_gradient_penalty:
            with self.runtime.autocast():
                gp = gradient_penalty(self.D, real_ab, fake_ab, self.config.lambda_gp)  # eager: see runner
            loss_d = loss_d + gp
            losses["D_gp"] = gp.detach()
        loss_d.backward()
        self.opt_D.step()

        # G: fool D, and stay close to the target in L1
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            loss_g_gan = self.gan_loss(self.run_D(torch.cat([real_a, fake_b], 1)), real=True, generator=True)
        loss_g_l1 = F.l1_loss(fake_b.float(), real_b.float()) * self.config.lambda_l1
        (loss_g_gan + loss_g_l1).backward()
        self.opt_G.step()
        losses.update(G_GAN=loss_g_gan.detach(), G_L1=loss_g_l1.detach())
        return losses

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.G.eval()
        try:
            with self.runtime.autocast():
                fake = self.G(batch["input"])
        finally:
            self.G.train()
        rows = [[x, y, t] for x, y, t in zip(batch["input"], fake.float(), batch["target"])]
        return grid(rows)  # input | output | target

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def translator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> Translator:
        cfg = cls.config_from(ckpt)
        if options.direction not in (None, cfg.direction):
            raise UsageError(f"{ckpt.path}: this pix2pix model was trained {cfg.direction} only")
        net = build_generator(generator_config(cfg, cfg.input_nc, cfg.output_nc))
        load_net(net, ckpt, "G")
        for_inference(net, options).to(device)
        half = "left" if cfg.direction == "AtoB" else "right"
        return Translator(net, cfg.input_nc, cfg.output_nc, cfg.multiple, half)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        options = TranslateOptions(direction=options.direction, image_stats=options.image_stats)
        translator = cls.translator(ckpt, torch.device("cpu"), options)
        notes = {"image_stats": options.image_stats}
        return translation_graph(translator, cls.config_from(ckpt).crop_size, "G", notes)
