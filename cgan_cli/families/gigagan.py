"""A scaled-down GigaGAN (Kang et al., CVPR 2023, "Scaling up GANs for Text-to-Image Synthesis").

What is GigaGAN's: a frozen CLIP text tower with a learned text transformer on top giving local
(per-token) and global text features; a mapping network M(z, t_global); a StyleGAN2-style synthesis
network whose convolutions are modulated and pick their kernels per sample from a filter bank
(sample-adaptive kernel selection), interleaved with self-attention (L2-distance) and cross-attention
to the local text features; image-pyramid outputs; a multi-scale, text-conditioned discriminator fed
the matching scales (multi-scale input and output); the matching-aware loss, in which D must call a
real image with another image's caption fake; a CLIP contrastive loss on G; a vision-aided
discriminator head on frozen CLIP image features; R1; and an EMA generator.

What is scaled down: widths (ngf/ndf 32, at most 256 channels, against thousands), depth (2 text
layers, 4 mapping layers, attention only up to 16×16), a filter bank of 4 kernels, and 64×64 output
by default (`--image-size` up to 256 on a GPU). What is left out: the GAN upsampler (the paper's
second, super-resolution network), and the paper's data scale and training length; no speed or FID
of the paper is claimed for this model.

Loss weights: the paper's objective adds its terms without stating weights for every one here, so
these defaults are ours (after lucidrains/gigagan-pytorch): matching-aware 1, CLIP contrastive 0.1,
vision-aided 0.5, R1 γ 0.05 applied lazily every 4 D steps (StyleGAN2), Adam 2e-4 with betas
(0.5, 0.9), EMA 0.999. DiffAugment, when asked for, draws its own parameters at each scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.config import option
from cgan_cli.console import warn
from cgan_cli.device import autocast
from cgan_cli.errors import UsageError
from cgan_cli.families.base import BATCH, Axis, GraphInput, register
from cgan_cli.families.text_to_image import TextConfig, TextGAN
from cgan_cli.nn.ema import warmed_up
from cgan_cli.nn.gigagan import GigaGANDiscriminator, GigaGANGenerator, GigaGANNetConfig, VisionAidedHead, make_pyramid
from cgan_cli.nn.gigagan_layers import AdaptiveModulatedConv2d
from cgan_cli.text.clip import ClipError, ImageEncoder, TextFeatures, load_image_encoder


@dataclass
class GigaGANConfig(TextConfig):
    z_dim: int = option(128, "Latent (noise) dimensions.", min=1)
    w_dim: int = option(256, "Style vector width (the mapping network's output).", min=1)
    t_dim: int = option(256, "Width of the learned text transformer (local and global text features).", min=8)
    text_layers: int = option(2, "Learned transformer layers over the frozen CLIP tokens (paper: 4).", min=1)
    mapping_layers: int = option(4, "Mapping network depth (StyleGAN: 8).", min=1)
    ngf: int = option(32, "Generator width: channels at side r are min(ngf·size/r, --channel-max).", min=1)
    ndf: int = option(32, "Discriminator width, as --ngf.", min=1)
    channel_max: int = option(256, "Most channels of any layer.", min=8)
    kernels: int = option(4, "Filter bank size of sample-adaptive kernel selection.", min=1)
    attn_max_res: int = option(16, "Self- and cross-attention at sides up to this.", min=0)
    heads: int = option(4, "Attention heads.", min=1)
    pyramid: int = option(4, "Output scales fed to the multi-scale discriminator (size, size/2, …).", min=1)
    lambda_match: float = option(1.0, "Matching-aware loss weight: (real image, another caption) is fake.", min=0.0)
    lambda_clip: float = option(0.1, "CLIP contrastive loss weight on G (needs the CLIP image tower).", min=0.0)
    lambda_vision: float = option(0.5, "Vision-aided discriminator loss weight (needs the CLIP image tower).",
                                  min=0.0)  # fmt: skip
    clip_vision: bool = option(True, "Use CLIP's image tower, when the weights have one, for the contrastive loss "
                               "and the vision-aided D.")  # fmt: skip
    r1: float = option(0.05, "R1 penalty γ on real images (0: off).", min=0.0)
    r1_every: int = option(4, "Apply R1 every N D steps, scaled by N (lazy regularisation).", min=1)
    ema: float = option(0.999, "EMA generator decay (0: off); sampling uses it.", min=0.0, max=0.99999)
    lr: float = option(2e-4, "Adam learning rate of G and D.", min=0.0)
    beta1: float = option(0.5, "Adam beta1.", min=0.0, max=1.0)
    beta2: float = option(0.9, "Adam beta2.", min=0.0, max=1.0)
    batch_size: int = option(16, "Images per step.", min=1)
    epochs: int = option(300, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)

    IMAGE_SIZES = (16, 32, 64, 128, 256)

    def net(self) -> GigaGANNetConfig:
        encoder = self.text_encoder or {}
        return GigaGANNetConfig(
            image_size=self.image_size,
            text_dim=int(encoder.get("width", 0)),
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            t_dim=self.t_dim,
            text_layers=self.text_layers,
            mapping_layers=self.mapping_layers,
            ngf=self.ngf,
            ndf=self.ndf,
            channel_max=self.channel_max,
            kernels=self.kernels,
            attn_max_res=self.attn_max_res,
            heads=self.heads,
            pyramid=self.pyramid,
        )

    def check(self) -> None:
        super().check()
        if 2 ** (self.pyramid - 1) * 4 > self.image_size:
            raise UsageError(f"--pyramid {self.pyramid} has scales below 4×4 at --image-size {self.image_size}")


@register
class GigaGAN(TextGAN):
    name = "gigagan"
    summary = "A scaled-down GigaGAN: text-conditioned StyleGAN with adaptive kernels, attention, multi-scale D."
    Generator = GigaGANGenerator
    Config = GigaGANConfig
    config: GigaGANConfig

    def __init__(self, config: GigaGANConfig, device: torch.device, compile: bool = False) -> None:
        super().__init__(config, device, compile)
        cfg = self.config
        net = cfg.net()
        self.G = self.add_net("G", GigaGANGenerator(net))
        self.D = self.add_net("D", GigaGANDiscriminator(net))
        self.vision: ImageEncoder | None = None
        d_params = list(self.D.parameters())
        if cfg.clip_vision and (cfg.lambda_clip > 0 or cfg.lambda_vision > 0):
            try:
                self.vision = load_image_encoder(cfg.clip_spec(), device)
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
            GraphInput("text_tokens", (BATCH, tokens, cfg.net().text_dim), "normal", features),
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
        with autocast(self.device):
            fakes = self.run_G(z, text.tokens, text.mask)  # [(N, 3, S, S), (N, 3, S/2, S/2), …]

        # D: (real, text) real; (fake, text) and (real, wrong text) fake — softplus forms of log σ
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        r1_now = cfg.r1 > 0 and self.step % cfg.r1_every == 0
        if r1_now:
            real = real.detach().requires_grad_(True)
        reals = make_pyramid(real, cfg.pyramid)
        with autocast(self.device):
            out_real = self.discriminate(reals, text, eager=r1_now).float()
            out_fake = self.discriminate([f.detach() for f in fakes], text).float()
            out_wrong = self.discriminate(reals, wrong).float()
        d_real, d_fake, d_wrong = matching_aware_losses(out_real, out_fake, out_wrong)
        loss_d = d_real + d_fake + cfg.lambda_match * d_wrong
        losses = {"D_real": d_real.detach(), "D_fake": d_fake.detach(), "D_wrong": d_wrong.detach()}
        if self.uses_vision_head():
            with autocast(self.device):
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
        with autocast(self.device):
            g_adv = F.softplus(-self.discriminate(fakes, text).float()).mean()
        loss_g = g_adv
        losses["G"] = g_adv.detach()
        if self.vision is not None:
            with autocast(self.device):
                image_emb = self.clip_image(fakes[0])  # one CLIP pass serves both image terms
        if self.vision is not None and cfg.lambda_clip > 0:
            g_clip = clip_contrastive(image_emb.float(), text.pooled, captions)
            loss_g = loss_g + cfg.lambda_clip * g_clip
            losses["G_clip"] = g_clip.detach()
        if self.uses_vision_head():
            with autocast(self.device):
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
