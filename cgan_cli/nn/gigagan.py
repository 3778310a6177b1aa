"""A scaled-down GigaGAN (Kang et al., CVPR 2023, "Scaling up GANs for Text-to-Image Synthesis").

Text: a frozen CLIP text tower (elsewhere) gives per-token features; a few learned transformer layers turn
them into t_local (every token) and t_global (the EOT token). G: w = M(z, t_global) modulates every conv;
each conv mixes a bank of kernels per sample (sample-adaptive kernel selection); at sides <= attn_max_res
the convs are interleaved with L2-distance self-attention (tied q/k) and cross-attention to t_local. G
returns an image PYRAMID (toRGB at the last `pyramid` resolutions); D takes the pyramid in at every scale
and judges every scale, conditioned by projection on its own text vector t_D. Both are StyleGAN2-style:
equalized learning rate, no normalisation of activations but LayerNorm in the attention, no BatchNorm.

G's images are unbounded (no tanh, as StyleGAN2: tanh saturates, starving G of gradient); they are trained
against real images in [-1, 1] and should be clamped to [-1, 1] for saving. No per-pixel noise inputs: G
is a deterministic function of (z, text), which the tests and `interp` rely on.

Scaled down from the paper: text_layers 2 (paper 4), kernels 4 (paper up to 16 at 512px), attention only at
sides <= attn_max_res, a single-pass multi-scale D (the paper also feeds each scale through separate
branches), no minibatch-std layer, one w for all layers (no style mixing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.nn.gigagan_layers import (
    AdaptiveModulatedConv2d,
    AttentionBlock,
    EqualConv2d,
    EqualLinear,
    MappingNetwork,
    TextTransformer,
    local_mask,
    lrelu,
)

W_AVG_DECAY = 0.995


@dataclass(frozen=True)
class GigaGANNetConfig:
    """Everything needed to rebuild both networks; stored (via the family config) in every checkpoint."""

    image_size: int = 64  # power of two, 16..256
    channels: int = 3
    text_dim: int = 512  # width of the CLIP token features fed in
    z_dim: int = 128
    w_dim: int = 256
    t_dim: int = 256  # width of the learned text transformer / t_local
    text_layers: int = 2  # learned transformer layers over the frozen CLIP tokens (paper: 4)
    mapping_layers: int = 4  # MLP depth of M(z, t_global) (StyleGAN: 8)
    ngf: int = 32  # G width: channels at resolution r = min(ngf * image_size // r, channel_max)
    ndf: int = 32
    channel_max: int = 256
    kernels: int = 4  # filter bank size of sample-adaptive kernel selection
    attn_max_res: int = 16  # self- and cross-attention blocks at sides <= this
    heads: int = 4
    pyramid: int = 4  # number of output scales: image_size, /2, /4, /8 (>= 1)

    def __post_init__(self) -> None:
        size = self.image_size
        if size < 16 or size > 256 or size & (size - 1):
            raise ValueError(f"image_size must be a power of two in 16..256, got {size}")
        if not 1 <= self.pyramid <= self.stages + 1:
            raise ValueError(f"pyramid must be in 1..{self.stages + 1} at image_size {size} (G starts at 4×4)")
        if self.mapping_layers < 1 or self.kernels < 1 or self.text_layers < 0:
            raise ValueError("mapping_layers and kernels must be >= 1, text_layers >= 0")
        if self.t_dim % self.heads:
            raise ValueError(f"t_dim {self.t_dim} is not a multiple of heads {self.heads}")

    @property
    def stages(self) -> int:
        """Doublings from G's 4×4 constant to the image side."""
        return int(math.log2(self.image_size)) - 2

    @property
    def resolutions(self) -> list[int]:
        """G's sides, coarse to fine: 4, 8, …, image_size."""
        return [4 * 2**i for i in range(self.stages + 1)]

    @property
    def pyramid_sizes(self) -> list[int]:
        """Sides of the image pyramid, finest first: image_size, image_size / 2, …"""
        return [self.image_size // 2**i for i in range(self.pyramid)]

    def g_width(self, res: int) -> int:
        return min(self.ngf * self.image_size // res, self.channel_max)

    def d_width(self, res: int) -> int:
        return min(self.ndf * self.image_size // res, self.channel_max)


# --- generator ---------------------------------------------------------------------------------------


class SynthesisBlock(nn.Module):
    """One resolution of G: (up-sampling) adaptive conv, attention (at small sides), adaptive conv, toRGB."""

    def __init__(self, cfg: GigaGANNetConfig, in_ch: int, out_ch: int, res: int, up: bool, to_rgb: bool):
        super().__init__()
        self.conv0 = AdaptiveModulatedConv2d(in_ch, out_ch, cfg.w_dim, 3, cfg.kernels, up=up)
        self.attn = AttentionBlock(out_ch, cfg.t_dim, cfg.w_dim, cfg.heads) if res <= cfg.attn_max_res else None
        self.conv1 = AdaptiveModulatedConv2d(out_ch, out_ch, cfg.w_dim, 3, cfg.kernels)
        # toRGB: one modulated 1×1 kernel, not demodulated (its output scale is the image's), as StyleGAN2
        self.to_rgb = (
            AdaptiveModulatedConv2d(out_ch, cfg.channels, cfg.w_dim, 1, 1, demodulate=False) if to_rgb else None
        )

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, t_local: torch.Tensor, key_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (N, in, r', r') with r' = r/2 when up-sampling → features (N, out, r, r), image (N, C, r, r) or None."""
        x = lrelu(self.conv0(x, w))
        if self.attn is not None:
            x = self.attn(x, w, t_local, key_mask)
        x = lrelu(self.conv1(x, w))
        return x, None if self.to_rgb is None else self.to_rgb(x, w)


class GigaGANGenerator(nn.Module):
    """(z, CLIP tokens, mask) → image pyramid [(N, C, S, S), (N, C, S/2, S/2), …], finest ("the image") first.

    Truncation lerps w towards `w_avg`, a running mean of w over all texts (updated by `mapping` in training
    mode, decay 0.995, as StyleGAN). Because w_avg pools every text, truncation 0 removes z AND t_global's
    influence on w; the text still steers the image through cross-attention to t_local."""

    def __init__(self, cfg: GigaGANNetConfig):
        super().__init__()
        self.cfg = cfg
        self.text = TextTransformer(cfg.text_dim, cfg.t_dim, cfg.text_layers, cfg.heads)
        self.mapping_network = MappingNetwork(cfg.z_dim, cfg.t_dim, cfg.w_dim, cfg.mapping_layers)
        self.const = nn.Parameter(torch.randn(cfg.g_width(4), 4, 4))  # (C4, 4, 4) learned input
        first_rgb = len(cfg.resolutions) - cfg.pyramid
        self.blocks = nn.ModuleList(
            SynthesisBlock(cfg, cfg.g_width(max(4, res // 2)), cfg.g_width(res), res, up=i > 0, to_rgb=i >= first_rgb)
            for i, res in enumerate(cfg.resolutions)
        )
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def encode_text(self, clip_tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """clip_tokens (N, L, text_dim), mask (N, L) → t_local (N, L, t_dim), t_global (N, t_dim)."""
        return self.text(clip_tokens, mask)

    def mapping(self, z: torch.Tensor, t_global: torch.Tensor, truncation: float | torch.Tensor = 1.0) -> torch.Tensor:
        """z (N, z_dim), t_global (N, t_dim) → w (N, w_dim), truncated towards w_avg (1.0: none; a (1,) tensor
        ψ, as exported graphs take it, is always applied)."""
        w = self.mapping_network(z, t_global)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.mean(0).to(self.w_avg.dtype), 1.0 - W_AVG_DECAY)
        if isinstance(truncation, torch.Tensor):
            return self.w_avg.to(w.dtype).lerp(w, truncation.to(w.dtype))
        if truncation != 1.0:
            w = self.w_avg.to(w.dtype).lerp(w, truncation)
        return w

    def synthesis(self, w: torch.Tensor, t_local: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """w (N, w_dim), t_local (N, L, t_dim), mask (N, L) → pyramid, finest first."""
        key_mask = local_mask(mask)
        x = self.const[None].expand(w.shape[0], -1, -1, -1)  # (N, C4, 4, 4)
        images = []
        for block in self.blocks:
            x, rgb = block(x, w, t_local, key_mask)
            if rgb is not None:
                images.append(rgb)
        return images[::-1]

    def forward(
        self, z: torch.Tensor, clip_tokens: torch.Tensor, mask: torch.Tensor, truncation: float | torch.Tensor = 1.0
    ) -> list[torch.Tensor]:
        """z (N, z_dim), clip_tokens (N, L, text_dim), mask (N, L) → [(N, C, S, S), (N, C, S/2, S/2), …]."""
        t_local, t_global = self.encode_text(clip_tokens, mask)
        return self.synthesis(self.mapping(z, t_global, truncation), t_local, mask)


# --- discriminator -----------------------------------------------------------------------------------


def make_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(N, C, S, S) → [(N, C, S, S), (N, C, S/2, S/2), …] (`levels` of them): area (box) down-sampling, the
    exact mean of each 2^i × 2^i block, which is what G's coarse outputs should match."""
    side = images.shape[-1]
    return [images] + [F.interpolate(images, size=side // 2**i, mode="area") for i in range(1, levels)]


class DownBlock(nn.Module):
    """Residual down-block (StyleGAN2's D): two 3×3 convs and a 2× average pool, plus a pooled 1×1 skip."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv0, self.conv1 = EqualConv2d(in_ch, in_ch, 3), EqualConv2d(in_ch, out_ch, 3)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in, r, r) → (N, out, r/2, r/2)."""
        y = F.avg_pool2d(lrelu(self.conv1(lrelu(self.conv0(x)))), 2)
        return (y + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class ProjectionHead(nn.Module):
    """out = psi(h) + <proj(t_D), h> on the mean-pooled features h (Miyato & Koyama 2018): the text enters D
    as an inner product, so D judges image-text agreement, not just realism."""

    def __init__(self, ch: int, t_dim: int):
        super().__init__()
        self.conv = EqualConv2d(ch, ch, 3)
        self.psi = EqualLinear(ch, 1)
        self.proj = EqualLinear(t_dim, ch)
        self.proj_gain = 1 / math.sqrt(ch)  # keeps the inner product O(1) at init, like psi's term

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x (N, ch, r, r), t (N, t_dim) → (N,) logits."""
        h = lrelu(self.conv(x)).mean((2, 3))  # (N, ch)
        return self.psi(h).squeeze(1) + (self.proj(t) * h).sum(1) * self.proj_gain


class GigaGANDiscriminator(nn.Module):
    """Multi-scale input, multi-scale output. The image at pyramid scale s enters the trunk at its own side
    through its fromRGB, added to the down-sampled features of the finer scales; after each down-block a
    text-projection head gives that scale's logit. Column s thus sees the finest s + 1 images: column 0 is
    a local judge of the full-size image, the last column a deep one of all scales together."""

    def __init__(self, cfg: GigaGANNetConfig):
        super().__init__()
        self.cfg = cfg
        self.text = TextTransformer(cfg.text_dim, cfg.t_dim, max(1, cfg.text_layers // 2), cfg.heads)
        sizes = cfg.pyramid_sizes
        self.from_rgb = nn.ModuleList(EqualConv2d(cfg.channels, cfg.d_width(r), 1) for r in sizes)
        self.down = nn.ModuleList(DownBlock(cfg.d_width(r), cfg.d_width(r // 2)) for r in sizes)
        self.heads = nn.ModuleList(ProjectionHead(cfg.d_width(r // 2), cfg.t_dim) for r in sizes)

    def encode_text(self, clip_tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """D's own text branch: (N, L, text_dim), (N, L) → t_D (N, t_dim), its transformer's EOT output."""
        return self.text(clip_tokens, mask)[1]

    def forward(self, pyramid: list[torch.Tensor], clip_tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """pyramid finest first [(N, C, S, S), (N, C, S/2, S/2), …] → (N, pyramid) logits, one column a scale."""
        if len(pyramid) != self.cfg.pyramid:
            raise ValueError(f"expected a pyramid of {self.cfg.pyramid} images, got {len(pyramid)}")
        t_d = self.encode_text(clip_tokens, mask)
        h = lrelu(self.from_rgb[0](pyramid[0]))  # (N, ch(S), S, S)
        logits = []
        for s, (down, head) in enumerate(zip(self.down, self.heads)):
            h = down(h)  # (N, ch(r/2), r/2, r/2)
            logits.append(head(h, t_d))
            if s + 1 < len(pyramid):
                h = h + lrelu(self.from_rgb[s + 1](pyramid[s + 1]))
        return torch.stack(logits, 1)  # (N, pyramid)


class VisionAidedHead(nn.Module):
    """Vision-aided GAN (Kumari et al., CVPR 2022), as used by GigaGAN: a small trainable MLP discriminator on
    FROZEN CLIP image embeddings, conditioned by projection with a text vector. Pretrained features see
    semantics a D trained from scratch on few images would miss. Embeddings are L2-normalised first
    (CLIP compares by cosine; the raw norm varies between models)."""

    def __init__(self, embed_dim: int, t_dim: int, hidden: int = 256):
        super().__init__()
        self.fc1, self.fc2 = EqualLinear(embed_dim, hidden), EqualLinear(hidden, hidden)
        self.psi = EqualLinear(hidden, 1)
        self.proj = EqualLinear(t_dim, hidden)
        self.proj_gain = 1 / math.sqrt(hidden)

    def forward(self, image_embed: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """image_embed (N, embed_dim), t (N, t_dim) → (N,) logits."""
        # × √embed_dim: unit-norm rows have entries of size 1/√embed_dim; equalized layers expect unit entries
        h = lrelu(self.fc2(lrelu(self.fc1(F.normalize(image_embed, dim=1) * math.sqrt(image_embed.shape[1])))))
        return self.psi(h).squeeze(1) + (self.proj(t) * h).sum(1) * self.proj_gain
