"""Text-to-image GAN with DF-GAN's networks and loss (Tao et al., CVPR 2022; tobran/DF-GAN), or Reed et
al.'s GAN-CLS/GAN-INT objective (ICML 2016) with `--loss gancls`, conditioned on a frozen CLIP text
encoder's sentence embedding instead of the papers' own text encoders.

Defaults are DF-GAN's: nf 32, z 100, one-stage G of fusion blocks, 64×64 here (the paper trains
256×256; `--image-size 256` on a GPU), random horizontal flips (DF-GAN also random-crops from a 76/64
larger resize; here images are resized and centre-cropped), batch 32, Adam betas (0.0, 0.9), lr G 1e-4
and D 4e-4, constant rate, and the hinge loss over (real, matching text), (fake, text) and (real,
mismatched text: the batch shifted by one), the last two weighted ½, plus the matching-aware gradient
penalty (weight 2, power 6) on real images with their text. G minimises −D(fake, text).

`--loss gancls` is Reed et al.'s matching-aware BCE loss: D scores (real, right) real and (real, wrong)
and (fake, right) fake, the last two halved; G's non-saturating loss adds fakes made from the midpoint of
two captions' embeddings (GAN-INT, β = ½), which D never sees as real. MA-GP is DF-GAN's and is not used
with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.config import option
from cgan_cli.device import autocast
from cgan_cli.families.base import BATCH, GraphInput, register
from cgan_cli.families.text_to_image import TextConfig, TextGAN
from cgan_cli.nn.dfgan import DFGANDiscriminator, DFGANGenerator, DFGANNetConfig
from cgan_cli.nn.ema import warmed_up
from cgan_cli.nn.losses import matching_aware_gp
from cgan_cli.text.clip import TextFeatures

LOSSES = ("hinge", "gancls")


@dataclass
class GANCLSConfig(TextConfig):
    ngf: int = option(32, "Generator width (DF-GAN's nf): 8·ngf channels at 4×4.", min=1)
    ndf: int = option(32, "Discriminator width of the first layer.", min=1)
    loss: str = option("hinge", "hinge: DF-GAN's loss with MA-GP; gancls: Reed et al.'s BCE with GAN-INT.",
                       choices=LOSSES)  # fmt: skip
    magp: float = option(2.0, "Matching-aware gradient penalty weight (hinge loss; 0: off).", min=0.0)
    magp_power: float = option(6.0, "MA-GP power p in E[‖∇‖^p].", min=1.0)
    lr: float = option(1e-4, "Generator learning rate.", min=0.0)
    lr_d: float = option(4e-4, "Discriminator learning rate.", min=0.0)
    beta1: float = option(0.0, "Adam beta1.", min=0.0, max=1.0)
    beta2: float = option(0.9, "Adam beta2.", min=0.0, max=1.0)
    batch_size: int = option(32, "Images per step.", min=1)
    epochs: int = option(600, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)
    flip: bool = option(True, "Random horizontal flips of the training images (DF-GAN's RandomHorizontalFlip).")

    def net(self) -> DFGANNetConfig:
        encoder = self.text_encoder or {}
        return DFGANNetConfig(
            image_size=self.image_size,
            z_dim=self.z_dim,
            cond_dim=int(encoder.get("embed_dim", 0)),
            ngf=self.ngf,
            ndf=self.ndf,
        )


@register
class GANCLS(TextGAN):
    name = "gancls"
    summary = "Text-to-image with DF-GAN's one-stage generator and matching-aware hinge loss (or GAN-CLS)."
    Generator = DFGANGenerator
    Config = GANCLSConfig
    config: GANCLSConfig
    reads_tokens = False  # DF-GAN reads the sentence vector only

    def __init__(self, config: GANCLSConfig, device: torch.device, compile: bool = False) -> None:
        super().__init__(config, device, compile)
        net = self.config.net()
        self.G = self.add_net("G", DFGANGenerator(net))
        self.D = self.add_net("D", DFGANDiscriminator(net))
        self.ema = self.with_ema(self.G)
        self.opt_G = self.adam("G", self.G.parameters(), self.config.lr)
        self.opt_D = self.adam("D", self.D.parameters(), self.config.lr_d)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")

    @staticmethod
    def run_generator(G: torch.nn.Module, z: torch.Tensor, text: TextFeatures, psi: float) -> torch.Tensor:
        return G(z * psi, text.pooled)

    TRUNCATION = "ψ in [0, 1]: z is scaled by it (1: off)"

    @classmethod
    def text_inputs(cls, cfg: GANCLSConfig) -> tuple[GraphInput, ...]:
        width = cfg.net().cond_dim
        meaning = "the prompt's pooled CLIP text embedding (open_clip encode_text, not normalised)"
        return (GraphInput("text_embedding", (BATCH, width), "normal", meaning),)

    class Graph(nn.Module):
        """G(ψ·z, sentence embedding): `cgan text2img` after the text encoder, as one graph."""

        def __init__(self, G: DFGANGenerator) -> None:
            super().__init__()
            self.G = G

        def forward(self, z: torch.Tensor, text_embedding: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
            return self.G(z * truncation, text_embedding)

    def d_logits(self, real: torch.Tensor, right: torch.Tensor, wrong: torch.Tensor, fake: torch.Tensor):
        """(D(real, right), D(real, wrong), D(fake, right)) logits; real features are computed once."""
        features = self.D.features(self.augment(real))
        return self.D.head(features, right), self.D.head(features, wrong), self.run_D(self.augment(fake), right)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real, captions = batch["image"], batch["caption"]
        right = self.text_of(captions).pooled  # (N, E)
        wrong = self.text_of(self.table.mismatched(captions)).pooled
        z = torch.randn(real.shape[0], cfg.z_dim, device=self.device)
        with autocast(self.device):
            fake = self.run_G(z, right)  # (N, 3, S, S)

        # D: (real, right) → real; (real, wrong) and (fake, right) → fake, each weighted ½
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        gp_on = cfg.loss == "hinge" and cfg.magp > 0
        if gp_on:
            real = real.detach().requires_grad_(True)
            right = right.detach().requires_grad_(True)
        with autocast(self.device):
            out_real, out_wrong, out_fake = self.d_logits(real, right, wrong, fake.detach())
        if cfg.loss == "hinge":
            d_real = F.relu(1 - out_real.float()).mean()
            d_wrong = F.relu(1 + out_wrong.float()).mean()
            d_fake = F.relu(1 + out_fake.float()).mean()
        else:
            d_real = F.softplus(-out_real.float()).mean()  # BCE(σ(l), 1)
            d_wrong = F.softplus(out_wrong.float()).mean()  # BCE(σ(l), 0)
            d_fake = F.softplus(out_fake.float()).mean()
        loss_d = d_real + (d_fake + d_wrong) / 2
        losses = {"D_real": d_real.detach(), "D_wrong": d_wrong.detach(), "D_fake": d_fake.detach()}
        if gp_on:
            gp = matching_aware_gp(out_real, real, right, cfg.magp, cfg.magp_power)
            loss_d = loss_d + gp
            losses["D_magp"] = gp.detach()
        loss_d.backward()
        self.opt_D.step()

        # G
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        right = right.detach()
        with autocast(self.device):
            out = self.run_D(self.augment(fake), right).float()
            if cfg.loss == "hinge":
                loss_g = -out.mean()
            else:
                mixed = 0.5 * (right + wrong)  # GAN-INT, β = ½
                z_int = torch.randn_like(z)
                out_int = self.run_D(self.augment(self.run_G(z_int, mixed)), mixed).float()
                loss_g = F.softplus(-out).mean() + F.softplus(-out_int).mean()
        losses["G"] = loss_g.detach()
        loss_g.backward()
        self.opt_G.step()
        if self.ema is not None:
            self.ema.update(self.G, warmed_up(cfg.ema, self.step))
        return losses
