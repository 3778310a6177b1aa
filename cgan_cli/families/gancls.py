"""The DF-GAN / GAN-CLS text-to-image family's training step and export graph (Tao et al., CVPR 2022; Reed
et al., ICML 2016): hinge loss with MA-GP, or matching-aware BCE with GAN-INT. The options and the papers'
defaults are in cgan_cli/config/gancls.py; captions and the CLIP encoder are TextGAN's (text_to_image.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.config.gancls import SPEC, GANCLSConfig
from cgan_cli.device import Runtime
from cgan_cli.families.graph import BATCH, GraphInput
from cgan_cli.families.text_to_image import TextGAN
from cgan_cli.nn.dfgan import DFGANDiscriminator, DFGANGenerator, DFGANNetConfig
from cgan_cli.nn.ema import warmed_up
from cgan_cli.nn.losses import matching_aware_gp
from cgan_cli.text.clip import TextFeatures


class GANCLS(TextGAN):
    spec = SPEC
    Generator = DFGANGenerator
    config: GANCLSConfig
    reads_tokens = False  # DF-GAN reads the sentence vector only

    @classmethod
    def net_config(cls, config: GANCLSConfig) -> DFGANNetConfig:
        encoder = config.text_encoder or {}
        return DFGANNetConfig(
            image_size=config.image_size,
            z_dim=config.z_dim,
            cond_dim=int(encoder.get("embed_dim", 0)),
            ngf=config.ngf,
            ndf=config.ndf,
        )

    def __init__(self, config: GANCLSConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        net = self.net_config(self.config)
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
        width = cls.net_config(cfg).cond_dim
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
        with self.runtime.autocast():
            fake = self.run_G(z, right)  # (N, 3, S, S)

        # D: (real, right) → real; (real, wrong) and (fake, right) → fake, each weighted ½
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        gp_on = cfg.loss == "hinge" and cfg.magp > 0
        if gp_on:
            real = real.detach().requires_grad_(True)
            right = right.detach().requires_grad_(True)
        with self.runtime.autocast():
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
        with self.runtime.autocast():
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
