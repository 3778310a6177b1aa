"""CycleGAN's networks, training step and inference (Zhu et al., ICCV 2017), following
junyanz/pytorch-CycleGAN-and-pix2pix `cycle_gan_model.py`: G first (both Ds frozen: GAN, cycle and identity
losses), then both Ds on real images and pooled fakes. The options and the paper's defaults are in
cgan_cli/config/cyclegan.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
import torch.nn.functional as F

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config.choices import DIRECTIONS
from cgan_cli.config.cyclegan import SPEC, CycleGANConfig
from cgan_cli.config.inference import ExportOptions, TranslateOptions
from cgan_cli.data.grid import grid
from cgan_cli.data.unpaired import Domains, UnpairedDataset, find_domains, load_domain_image
from cgan_cli.device import Runtime
from cgan_cli.errors import DataError, UsageError
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
from cgan_cli.nn.pool import ImagePool

VALIDATION_IMAGES = 4




class CycleGAN(Family):
    spec = SPEC
    export_choices = ("direction", "image_stats")
    config: CycleGANConfig

    def __init__(self, config: CycleGANConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        a, b = config.input_nc, config.output_nc
        self.G_A = self.add_net("G_A", build_generator(generator_config(config, a, b)))
        self.G_B = self.add_net("G_B", build_generator(generator_config(config, b, a)))
        self.D_A = self.add_net("D_A", patchgan(patchgan_config(config, b)))  # real B vs G_A(A)
        self.D_B = self.add_net("D_B", patchgan(patchgan_config(config, a)))  # real A vs G_B(B)
        self.opt_G = self.adam("G", itertools.chain(self.G_A.parameters(), self.G_B.parameters()), config.lr)
        self.opt_D = self.adam("D", itertools.chain(self.D_A.parameters(), self.D_B.parameters()), config.lr)
        self.run = {name: self.runner(name) for name in self.nets}
        self.gan_loss = gan_loss(config)
        self.pool_a = ImagePool(config.pool_size, config.seed)  # fakes of domain A (G_B's), for D_B
        self.pool_b = ImagePool(config.pool_size, config.seed + 1)  # fakes of domain B (G_A's), for D_A
        self._domains: Domains | None = None

    # --- data -------------------------------------------------------------------------------
    def domains(self) -> Domains:
        if self._domains is None:
            self._domains = find(self.config, "train")
        return self._domains

    def dataset(self) -> UnpairedDataset:
        cfg = self.config
        return UnpairedDataset(self.domains(), preprocessing(cfg), cfg.input_nc, cfg.output_nc)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        cfg = self.config
        try:
            domains = find(cfg, "test") if cfg.unpaired and not cfg.domain_a else self.domains()
        except DataError:  # no testA/testB: show training images
            domains = self.domains()
        prep = preprocessing(cfg)
        a = [load_domain_image(p, cfg.input_nc, prep, None) for p in domains.a[:VALIDATION_IMAGES]]
        b = [load_domain_image(p, cfg.output_nc, prep, None) for p in domains.b[:VALIDATION_IMAGES]]
        a, b = [t for t in a if t.shape == a[0].shape], [t for t in b if t.shape == b[0].shape]
        n = min(len(a), len(b))
        return {"A": torch.stack(a[:n]), "B": torch.stack(b[:n])}

    # --- training ---------------------------------------------------------------------------
    def discriminator_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The reference's `backward_D_basic`: ½ (real → real + fake → fake), plus the GP with wgangp."""
        D = self.run[name]
        loss = 0.5 * (self.gan_loss(D(real), real=True) + self.gan_loss(D(fake.detach()), real=False))
        if self.gan_loss.uses_gradient_penalty:
            loss = loss + gradient_penalty(self.nets[name], real, fake, self.config.lambda_gp)  # eager: see runner
        return loss

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real_a, real_b = batch["A"], batch["B"]
        run = self.run

        # G_A and G_B, with both discriminators frozen
        for D in (self.D_A, self.D_B):
            D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            fake_b = run["G_A"](real_a)  # G_A(A)
            rec_a = run["G_B"](fake_b)  # G_B(G_A(A))
            fake_a = run["G_B"](real_b)  # G_B(B)
            rec_b = run["G_A"](fake_a)  # G_A(G_B(B))
            loss_g_a = self.gan_loss(run["D_A"](fake_b), real=True, generator=True)
            loss_g_b = self.gan_loss(run["D_B"](fake_a), real=True, generator=True)
        loss_cycle_a = F.l1_loss(rec_a.float(), real_a.float()) * cfg.lambda_a
        loss_cycle_b = F.l1_loss(rec_b.float(), real_b.float()) * cfg.lambda_b
        loss_g = loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b
        losses = {"G_A": loss_g_a.detach(), "G_B": loss_g_b.detach(), "cycle_A": loss_cycle_a.detach(),
                  "cycle_B": loss_cycle_b.detach()}  # fmt: skip
        if cfg.lambda_identity > 0:
            with self.runtime.autocast():
                idt_a = run["G_A"](real_b)  # G_A should leave B-domain images alone
                idt_b = run["G_B"](real_a)
            loss_idt_a = F.l1_loss(idt_a.float(), real_b.float()) * cfg.lambda_b * cfg.lambda_identity
            loss_idt_b = F.l1_loss(idt_b.float(), real_a.float()) * cfg.lambda_a * cfg.lambda_identity
            loss_g = loss_g + loss_idt_a + loss_idt_b
            losses.update(idt_A=loss_idt_a.detach(), idt_B=loss_idt_b.detach())
        loss_g.backward()
        self.opt_G.step()

        # D_A and D_B, on fakes drawn through the image pools
        for D in (self.D_A, self.D_B):
            D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            loss_d_a = self.discriminator_loss("D_A", real_b, self.pool_b.query(fake_b))
            loss_d_b = self.discriminator_loss("D_B", real_a, self.pool_a.query(fake_a))
        (loss_d_a + loss_d_b).backward()
        self.opt_D.step()
        losses.update(D_A=loss_d_a.detach(), D_B=loss_d_b.detach())
        return losses

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rows of A, G_A(A), G_B(G_A(A)), B, G_B(B), G_A(G_B(B))."""
        self.train_mode(False)
        try:
            with self.runtime.autocast():
                a, b = batch["A"], batch["B"]
                fake_b, fake_a = self.G_A(a), self.G_B(b)
                rec_a, rec_b = self.G_B(fake_b), self.G_A(fake_a)
        finally:
            self.train_mode(True)
        cols = (a, fake_b, rec_a, b, fake_a, rec_b)
        return grid([[c[i].float() for c in cols] for i in range(len(a))])

    # --- state: the image pools are part of an exact resume -----------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        tensors = super().state_tensors()
        tensors.update(self.pool_a.state("pool/A"))
        tensors.update(self.pool_b.state("pool/B"))
        return tensors

    def load_state(self, ckpt: Checkpoint) -> None:
        super().load_state(ckpt)
        self.pool_a.load(ckpt.sub("pool/A"), self.device)
        self.pool_b.load(ckpt.sub("pool/B"), self.device)

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G_A", "net/G_B")

    @classmethod
    def translator(cls, ckpt: Checkpoint, device: torch.device, options: TranslateOptions) -> Translator:
        cfg = cls.config_from(ckpt)
        direction = options.direction or "AtoB"
        if direction not in DIRECTIONS:
            raise UsageError(f"--direction must be AtoB or BtoA for a cyclegan checkpoint (got {direction!r})")
        a, b = cfg.input_nc, cfg.output_nc
        src, dst, name = (a, b, "G_A") if direction == "AtoB" else (b, a, "G_B")
        net = build_generator(generator_config(cfg, src, dst))
        load_net(net, ckpt, name)
        for_inference(net, options).to(device)
        min_side = 2 * cfg.multiple if cfg.net_g.startswith("resnet") else 1  # a 2×2 ResNet bottleneck at least
        return Translator(net, src, dst, cfg.multiple, "left" if direction == "AtoB" else "right", min_side)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        direction = options.direction or "AtoB"
        choice = TranslateOptions(direction=direction, image_stats=options.image_stats)
        translator = cls.translator(ckpt, torch.device("cpu"), choice)
        weights = "G_A" if direction == "AtoB" else "G_B"
        notes = {"direction": direction, "image_stats": options.image_stats}
        return translation_graph(translator, cls.config_from(ckpt).crop_size, weights, notes)


def find(cfg: CycleGANConfig, split: str = "train") -> Domains:
    """The two domains' files: --domain-a/--domain-b, or DIR/trainA and DIR/trainB (testA/testB)."""
    explicit = cfg.domain_a or cfg.domain_b
    return find_domains(
        Path(cfg.unpaired) if cfg.unpaired and not explicit else None,
        Path(cfg.domain_a) if explicit else None,
        Path(cfg.domain_b) if explicit else None,
        split,
    )
