"""The scaled-down GigaGAN family's training step and export graph (Kang et al., CVPR 2023): matching-aware
loss on a multi-scale D, CLIP contrastive loss, vision-aided D head, lazy R1, EMA. What is GigaGAN's, what is
scaled down, and the defaults are in cgan_cli/config/gigagan.py; the networks are in cgan_cli/nn/gigagan.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.config.gigagan import SPEC, GigaGANConfig
from cgan_cli.console import warn
from cgan_cli.device import Runtime
from cgan_cli.families.graph import BATCH, Axis, GraphInput
from cgan_cli.families.text_to_image import TextGAN, clip_spec
from cgan_cli.nn.ema import warmed_up
from cgan_cli.nn.gigagan import GigaGANDiscriminator, GigaGANGenerator, GigaGANNetConfig, VisionAidedHead, make_pyramid
from cgan_cli.nn.gigagan_layers import AdaptiveModulatedConv2d
from cgan_cli.text.clip import ClipError, ImageEncoder, TextFeatures, load_image_encoder


class GigaGAN(TextGAN):
    spec = SPEC
    Generator = GigaGANGenerator
    config: GigaGANConfig

    @classmethod
    def net_config(cls, config: GigaGANConfig) -> GigaGANNetConfig:
        encoder = config.text_encoder or {}
        return GigaGANNetConfig(
            image_size=config.image_size,
            text_dim=int(encoder.get("width", 0)),
            z_dim=config.z_dim,
            w_dim=config.w_dim,
            t_dim=config.t_dim,
            text_layers=config.text_layers,
            mapping_layers=config.mapping_layers,
            ngf=config.ngf,
            ndf=config.ndf,
            channel_max=config.channel_max,
            kernels=config.kernels,
            attn_max_res=config.attn_max_res,
            heads=config.heads,
            pyramid=config.pyramid,
        )

    def __init__(self, config: GigaGANConfig, runtime: Runtime | torch.device) -> None:
        super().__init__(config, runtime)
        cfg = self.config
        net = self.net_config(cfg)
        self.G = self.add_net("G", GigaGANGenerator(net))
        self.D = self.add_net("D", GigaGANDiscriminator(net))
        self.vision: ImageEncoder | None = None
        d_params = list(self.D.parameters())
        if cfg.clip_vision and (cfg.lambda_clip > 0 or cfg.lambda_vision > 0):
            try:
                self.vision = load_image_encoder(clip_spec(cfg), self.device)
            except ClipError as exc:  # a text-only weights file: GigaGAN without its two CLIP-image terms
                warn(f"{exc}; training without the CLIP contrastive loss and the vision-aided D")
            if self.vision is not None and cfg.lambda_vision > 0:
                head = VisionAidedHead(self.vision.embed_dim, int(cfg.text_encoder["embed_dim"]))
                self.D_vision = self.add_net("D_vision", head)
                d_params += list(self.D_vision.parameters())
        self.ema = self.with_ema(self.G)
        self.opt_G = self.adam("G", self.G.parameters(), cfg.lr)
        self.opt_D = self.adam("D", d_params, cfg.lr)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")

    @staticmethod
    def run_generator(G: torch.nn.Module, z: torch.Tensor, text: TextFeatures, psi: float) -> torch.Tensor:
        return G(z, text.tokens, text.mask, truncation=psi)[0].clamp(-1, 1)  # StyleGAN-style G: no tanh

    TRUNCATION = "ψ in [0, 1]: w is pulled towards the mean w by it (1: off)"

    @classmethod
    def text_inputs(cls, cfg: GigaGANConfig) -> tuple[GraphInput, ...]:
        tokens = Axis("tokens", 77)  # CLIP's context; any length works, padded with masked zeros
        features = "the prompt's per-token CLIP text features (the text tower's output after its final layer norm)"
        return (
            GraphInput("text_tokens", (BATCH, tokens, cls.net_config(cfg).text_dim), "normal", features),
            GraphInput("text_mask", (BATCH, tokens), "mask", "True from the start token to the end token, then False"),
        )

    class Graph(nn.Module):
        """The finest image of G's pyramid, clamped: `cgan text2img` after the text encoder, as one graph."""

        def __init__(self, G: GigaGANGenerator) -> None:
            super().__init__()
            self.G = G
            for m in G.modules():
                if isinstance(m, AdaptiveModulatedConv2d):
                    m.grouped = False  # a batch-sized group count cannot be exported

        def forward(
            self, z: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor, truncation: torch.Tensor
        ) -> torch.Tensor:
            return self.G(z, text_tokens, text_mask, truncation=truncation)[0].clamp(-1, 1)

    def uses_vision_head(self) -> bool:
        return self.vision is not None and "D_vision" in self.nets

    def discriminate(self, pyramid: list[torch.Tensor], text: TextFeatures, eager: bool = False) -> torch.Tensor:
        """(N, scales) logits of the multi-scale D (`eager`: never the compiled D, for R1's double backward)."""
        D = self.D if eager else self.run_D
        return D([self.augment(x) for x in pyramid], text.tokens, text.mask)

    def clip_image(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen CLIP image embeddings of DiffAugmented images (what the vision-aided head judges)."""
        return self.vision(self.augment(images))

    def vision_logits(self, embeddings: torch.Tensor, text: TextFeatures) -> torch.Tensor:
        return self.nets["D_vision"](embeddings, text.pooled)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real, captions = batch["image"], batch["caption"]
        text = self.text_of(captions)
        wrong = self.text_of(self.table.mismatched(captions))
        z = torch.randn(real.shape[0], cfg.z_dim, device=self.device)
        with self.runtime.autocast():
            fakes = self.run_G(z, text.tokens, text.mask)  # [(N, 3, S, S), (N, 3, S/2, S/2), …]

        # D: (real, text) real; (fake, text) and (real, wrong text) fake — softplus forms of log σ
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        r1_now = cfg.r1 > 0 and self.step % cfg.r1_every == 0
        if r1_now:
            real = real.detach().requires_grad_(True)
        reals = make_pyramid(real, cfg.pyramid)
        with self.runtime.autocast():
            out_real = self.discriminate(reals, text, eager=r1_now).float()
            out_fake = self.discriminate([f.detach() for f in fakes], text).float()
            out_wrong = self.discriminate(reals, wrong).float()
        d_real, d_fake, d_wrong = matching_aware_losses(out_real, out_fake, out_wrong)
        loss_d = d_real + d_fake + cfg.lambda_match * d_wrong
        losses = {"D_real": d_real.detach(), "D_fake": d_fake.detach(), "D_wrong": d_wrong.detach()}
        if self.uses_vision_head():
            with self.runtime.autocast():
                with torch.no_grad():  # CLIP is frozen: no graph through its tower on D's side
                    emb_real, emb_fake = self.clip_image(real.detach()), self.clip_image(fakes[0].detach())
                v_real = self.vision_logits(emb_real, text).float()
                v_fake = self.vision_logits(emb_fake, text).float()
            d_vision = F.softplus(-v_real).mean() + F.softplus(v_fake).mean()
            loss_d = loss_d + cfg.lambda_vision * d_vision
            losses["D_vision"] = d_vision.detach()
        if r1_now:
            (grad,) = torch.autograd.grad(out_real.sum(), real, create_graph=True)  # the multi-scale D's
            r1 = 0.5 * cfg.r1 * cfg.r1_every * grad.flatten(1).float().pow(2).sum(1).mean()
            loss_d = loss_d + r1
            losses["D_r1"] = r1.detach()
        loss_d.backward()
        self.opt_D.step()

        # G: fool both discriminators at every scale; match the caption under CLIP
        self.D.requires_grad_(False)
        if self.uses_vision_head():
            self.nets["D_vision"].requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            g_adv = F.softplus(-self.discriminate(fakes, text).float()).mean()
        loss_g = g_adv
        losses["G"] = g_adv.detach()
        if self.vision is not None:
            with self.runtime.autocast():
                image_emb = self.clip_image(fakes[0])  # one CLIP pass serves both image terms
        if self.vision is not None and cfg.lambda_clip > 0:
            g_clip = clip_contrastive(image_emb.float(), text.pooled, captions)
            loss_g = loss_g + cfg.lambda_clip * g_clip
            losses["G_clip"] = g_clip.detach()
        if self.uses_vision_head():
            with self.runtime.autocast():
                g_vision = F.softplus(-self.vision_logits(image_emb, text).float()).mean()
            loss_g = loss_g + cfg.lambda_vision * g_vision
            losses["G_vision"] = g_vision.detach()
            self.nets["D_vision"].requires_grad_(True)
        loss_g.backward()
        self.opt_G.step()
        if self.ema is not None:
            self.ema.update(self.G, warmed_up(cfg.ema, self.step))
        return losses


def matching_aware_losses(
    out_real: torch.Tensor, out_fake: torch.Tensor, out_wrong: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """D's terms −log σ(D(x, t)), −log(1 − σ(D(G(z, t), t))), −log(1 − σ(D(x, t̂))) in their softplus
    form, finite for any logit (log σ of a large negative logit would underflow to −inf)."""
    return F.softplus(-out_real).mean(), F.softplus(out_fake).mean(), F.softplus(out_wrong).mean()


def clip_contrastive(
    image_emb: torch.Tensor, text_emb: torch.Tensor, captions: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """GigaGAN's CLIP loss: cross-entropy that picks each generated image's own caption among the
    batch's captions by CLIP cosine similarity (CLIP's temperature). Captions repeated in the batch
    count as correct wherever they occur."""
    logits = F.normalize(image_emb, dim=-1) @ F.normalize(text_emb.float(), dim=-1).T / temperature  # (N, N)
    same = captions[:, None] == captions[None, :]
    # log-sum over the correct columns minus log-sum over all: −log p(correct caption)
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(logits.masked_fill(~same, float("-inf")), dim=1)).mean()
