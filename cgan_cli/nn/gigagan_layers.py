"""Building blocks of the scaled-down GigaGAN (Kang et al., CVPR 2023) in `cgan_cli.nn.gigagan`.

Equalized learning rate (Karras et al., ICLR 2018) in every linear/conv layer of the image path: weights
are stored N(0, 1) and scaled by 1/sqrt(fan_in) at run time, so Adam takes equal-sized steps in every layer
whatever its fan-in (the paper also uses it, and unit-variance init, to keep its attention stable). The
learned text transformer alone uses plain `nn.Linear` + LayerNorm: a standard pre-LN transformer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) × √2 (StyleGAN's bias_act gain): keeps unit variance through the layer."""
    return F.leaky_relu(x, 0.2) * SQRT2


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each row to unit RMS: z and the text embedding enter the mapping MLP on an equal footing."""
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + eps)


def eot_mask(mask: torch.Tensor) -> torch.Tensor:
    """(N, L) bool → (N, L) bool, True at each row's last True: the EOT token (CLIP's argmax of token ids).
    A mask rather than indices, built without a device-bound `arange`, so a traced graph runs on any device."""
    return mask & (mask.flip(1).long().cumsum(1).flip(1) == 1)


def local_mask(mask: torch.Tensor) -> torch.Tensor:
    """The keys G cross-attends to: the real tokens less EOT (the paper's t_local = t_{1:C} \\ t_EOT, since
    t_global already carries EOT), unless a row has no other token."""
    local = mask & ~eot_mask(mask)
    return local | (mask & ~local.any(1, keepdim=True))  # logic ops, not a bool `where` (ONNX Runtime has none)


class EqualLinear(nn.Module):
    """Linear with equalized learning rate; `lr_mul` < 1 slows a layer down (StyleGAN's mapping MLP: 0.01)."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), bias_init / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        return F.linear(x, self.weight * self.weight_gain, bias)


class EqualConv2d(nn.Module):
    """Conv2d (same padding) with equalized learning rate."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2)


# --- text --------------------------------------------------------------------------------------------


class TextLayer(nn.Module):
    """One pre-LN transformer layer (dot-product attention, GELU MLP); padding keys are masked out."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(dim, dim=2)  # 3 × (N, L, D)
        q, k, v = (t.view(n, length, self.heads, dim // self.heads).transpose(1, 2) for t in (q, k, v))  # (N, h, L, d)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])  # (N, h, L, d)
        x = x + self.proj(y.transpose(1, 2).reshape(n, length, dim))
        return x + self.mlp(self.norm2(x))


class TextTransformer(nn.Module):
    """The learned attention layers T over the frozen CLIP tokens: CLIP was trained for retrieval, not for
    generation, so a few trainable layers adapt its features. Returns t_local and t_global (the EOT token)."""

    def __init__(self, in_dim: int, dim: int, layers: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"text width {dim} is not a multiple of heads {heads}")
        self.proj = nn.Linear(in_dim, dim)
        self.layers = nn.ModuleList(TextLayer(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, clip_tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """clip_tokens (N, L, text_dim), mask (N, L) → t_local (N, L, dim), t_global (N, dim)."""
        # zeroing padding first makes every output, padded rows included, independent of what padding holds
        x = self.proj(clip_tokens.masked_fill(~mask[..., None], 0.0))  # (N, L, dim)
        for layer in self.layers:
            x = layer(x, mask)
        x = self.norm(x)
        return x, (x * eot_mask(mask)[..., None].to(x.dtype)).sum(1)  # the EOT row (others × 0)


class MappingNetwork(nn.Module):
    """w = M(z, t_global): StyleGAN's MLP (LeakyReLU, lr_mul 0.01) on [pixel-normed z, pixel-normed embedding]."""

    def __init__(self, z_dim: int, t_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        self.embed = EqualLinear(t_dim, w_dim)
        dims = [z_dim + w_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims, dims[1:]))

    def forward(self, z: torch.Tensor, t_global: torch.Tensor) -> torch.Tensor:
        """z (N, z_dim), t_global (N, t_dim) → w (N, w_dim)."""
        x = torch.cat([pixel_norm(z), pixel_norm(self.embed(t_global))], 1)  # (N, z_dim + w_dim)
        for layer in self.layers:
            x = lrelu(layer(x))
        return x


# --- convolution ------------------------------------------------------------------------------------


class AdaptiveModulatedConv2d(nn.Module):
    """Sample-adaptive kernel selection + StyleGAN2 modulation: a bank of `kernels` filters mixed per sample by
    softmax(affine_sel(w)), so capacity grows with K at the compute of one conv; then the mixed kernel is scaled
    per input channel by s = affine(w) and (optionally) demodulated, and run as one grouped conv for the batch.
    `up` doubles the side first (bilinear) so the conv smooths the interpolation."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        w_dim: int,
        kernel_size: int = 3,
        kernels: int = 1,
        demodulate: bool = True,
        up: bool = False,
    ):
        super().__init__()
        self.bank = nn.Parameter(torch.randn(kernels, out_ch, in_ch, kernel_size, kernel_size))  # (K, out, in, k, k)
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)  # styles start near 1, as StyleGAN2
        self.affine_sel = EqualLinear(w_dim, kernels) if kernels > 1 else None
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.demodulate = demodulate
        self.up = up
        self.grouped = True  # False: the exportable form (see `_stacked`)

    def selection(self, w: torch.Tensor) -> torch.Tensor:
        """w (N, w_dim) → (N, K) kernel weights: non-negative, summing to one per sample."""
        if self.affine_sel is None:
            return w.new_ones(w.shape[0], 1)
        return self.affine_sel(w).softmax(1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x (N, in, H, W), w (N, w_dim) → (N, out, H', W'), H' = 2H with `up`; bias added, no activation."""
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        if not self.grouped:
            return self._stacked(x, w)
        n, in_ch, height, width = x.shape
        weight = torch.einsum("nk,koiyx->noiyx", self.selection(w), self.bank) * self.weight_gain  # (N, out, in, k, k)
        weight = weight * self.affine(w)[:, None, :, None, None]  # modulate
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum((2, 3, 4), keepdim=True) + 1e-8)
        out_ch, k = weight.shape[1], weight.shape[-1]
        y = F.conv2d(
            x.reshape(1, n * in_ch, height, width), weight.reshape(n * out_ch, in_ch, k, k), padding=k // 2, groups=n
        )
        return y.view(n, out_ch, height, width) + self.bias[None, :, None, None]

    def _stacked(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The same function without a grouped conv, whose group count (the batch) ONNX and traced TorchScript
        cannot vary: scale x by the styles, convolve with all K kernels at once, mix by the selection, and
        demodulate the output (StyleGAN2's non-fused form; conv is linear in the kernel). K× the conv work."""
        n, _, height, width = x.shape
        kernels, out_ch, in_ch, k, _ = self.bank.shape
        sel, styles = self.selection(w), self.affine(w)  # (N, K), (N, in)
        bank = self.bank.reshape(kernels * out_ch, in_ch, k, k) * self.weight_gain
        y = F.conv2d(x * styles[:, :, None, None], bank, padding=k // 2)  # (N, K·out, H, W)
        y = torch.einsum("nk,nkohw->nohw", sel, y.view(n, kernels, out_ch, height, width))
        if self.demodulate:
            weight = torch.einsum("nk,koiyx->noiyx", sel, self.bank) * self.weight_gain * styles[:, None, :, None, None]
            y = y * torch.rsqrt(weight.square().sum((2, 3, 4)) + 1e-8)[:, :, None, None]
        return y + self.bias[None, :, None, None]


# --- attention --------------------------------------------------------------------------------------


def l2_attention_logits(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q (..., I, d), k (..., J, d) → −‖q_i − k_j‖² / √d (..., I, J). Unlike the dot product, the L2 distance
    gives a Lipschitz attention (Kim et al., ICML 2021), which the paper needs for stable GAN training.
    Expanded rather than `cdist` so that second derivatives (R1 penalty, path length) exist."""
    dist = q.square().sum(-1, keepdim=True) - 2 * q @ k.transpose(-1, -2) + k.square().sum(-1)[..., None, :]
    return -dist.clamp_min(0) / math.sqrt(q.shape[-1])


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """L2-distance attention: q (N, h, I, d), k/v (N, h, J, d), key_mask (N, J) True = keep → (N, h, I, d)."""
    logits = l2_attention_logits(q, k)  # (N, h, I, J)
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return logits.softmax(-1) @ v


class _Heads(nn.Module):
    """Head splitting shared by the image attentions: inner width heads × max(1, dim // heads)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, max(1, dim // heads)
        self.inner = self.heads * self.head_dim

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, h·d) → (N, h, T, d)."""
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def merge(self, x: torch.Tensor) -> torch.Tensor:
        """(N, h, T, d) → (N, T, h·d)."""
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.inner)


class L2SelfAttention(_Heads):
    """Self-attention over image positions with L2 logits and TIED query/key weights (one matrix: with separate
    ones the L2 attention is not Lipschitz). w joins the keys/values as one extra token, so the attention is
    modulated by the style too. Pre-LN; returns the update (the caller adds the residual)."""

    def __init__(self, dim: int, w_dim: int, heads: int):
        super().__init__(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.to_w_token = EqualLinear(w_dim, dim)
        self.to_qk = EqualLinear(dim, self.inner, bias=False)
        self.to_v = EqualLinear(dim, self.inner, bias=False)
        self.to_out = EqualLinear(self.inner, dim)

    def _qkv(self, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        keys = self.norm(torch.cat([x, self.to_w_token(w)[:, None]], 1))  # (N, T + 1, C): positions, then w
        return self.split(self.to_qk(keys[:, :-1])), self.split(self.to_qk(keys)), self.split(self.to_v(keys))

    def attention_logits(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x (N, T, C), w (N, w_dim) → (N, h, T, T + 1) logits; the last key is the w token."""
        q, k, _ = self._qkv(x, w)
        return l2_attention_logits(q, k)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x (N, T, C), w (N, w_dim) → (N, T, C)."""
        q, k, v = self._qkv(x, w)
        return self.to_out(self.merge(attend(q, k, v)))


class CrossAttention(_Heads):
    """Image positions attend to the text tokens t_local (L2 logits; queries and keys live in different spaces,
    so their weights cannot be tied). Masked keys get zero weight. Returns the update."""

    def __init__(self, dim: int, ctx_dim: int, heads: int):
        super().__init__(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.to_q = EqualLinear(dim, self.inner, bias=False)
        self.to_k = EqualLinear(ctx_dim, self.inner, bias=False)
        self.to_v = EqualLinear(ctx_dim, self.inner, bias=False)
        self.to_out = EqualLinear(self.inner, dim)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """x (N, T, C), ctx (N, L, ctx_dim), key_mask (N, L) → (N, T, C)."""
        q, k, v = self.split(self.to_q(self.norm(x))), self.split(self.to_k(ctx)), self.split(self.to_v(ctx))
        return self.to_out(self.merge(attend(q, k, v, key_mask)))


class AttentionBlock(nn.Module):
    """The attention interleaved with G's convolutions: self-attention, cross-attention to the text, then a
    pointwise MLP, each residual. Lets text words steer individual image regions, which convs alone cannot."""

    def __init__(self, dim: int, t_dim: int, w_dim: int, heads: int):
        super().__init__()
        self.self_attn = L2SelfAttention(dim, w_dim, heads)
        self.cross_attn = CrossAttention(dim, t_dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = EqualLinear(dim, 2 * dim), EqualLinear(2 * dim, dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, t_local: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), w (N, w_dim), t_local (N, L, t_dim), key_mask (N, L) → (N, C, H, W)."""
        n, c, height, width = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (N, HW, C)
        tokens = tokens + self.self_attn(tokens, w)
        tokens = tokens + self.cross_attn(tokens, t_local, key_mask)
        tokens = tokens + self.fc2(lrelu(self.fc1(self.norm(tokens))))
        return tokens.transpose(1, 2).reshape(n, c, height, width)
