"""SPADE / GauGAN networks (Park et al., CVPR 2019), following NVlabs/SPADE `models/networks/`.

`SPADE` (normalization.py): a parameter-free BatchNorm, then x̂·(1 + γ(m)) + β(m), γ and β 3×3 convs of a shared
3×3 conv + ReLU (128 channels) on the label map resized (nearest) to x. `SPADEResnetBlock` (architecture.py):
SPADE → LeakyReLU 0.2 → 3×3 conv, twice, with a learned 1×1 shortcut (SPADE, no activation, no bias) when the
width changes; spectral norm on every conv. `SPADEGenerator` (generator.py, num_upsampling_layers "normal"):
the label map downsampled (nearest) by 2⁵ → 3×3 conv to 16·ngf (with the VAE: a linear map of z instead) → head,
two middle blocks and four upsampling blocks (16, 16, 8, 4, 2, 1 ×ngf) with ×2 nearest upsampling between →
LeakyReLU → 3×3 conv → tanh.
`MultiscaleDiscriminator` (discriminator.py): `num_d` NLayerDiscriminators (4×4 convs, padding 2, spectral norm
and instance norm but on the first layer, widths doubling to 512, the last stride 1), each on the previous one's
input average-pooled by 2; each returns its intermediate features for the feature-matching loss.
`ConvEncoder` (encoder.py): the VAE's image → (μ, log σ²); `kld` and `reparameterize` as pix2pix_model.py,
`instance_edges` its get_edges. `VGG19Features`: torchvision's VGG19 up to relu5_1, its five slices (relu1_1 …
relu5_1) for the perceptual loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

UPSAMPLINGS = 5  # num_upsampling_layers "normal": the label map enters at 1/32 of the output


class SPADE(nn.Module):
    def __init__(self, channels: int, label_nc: int, hidden: int = 128) -> None:
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(channels, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    def __init__(self, fin: int, fout: int, label_nc: int, hidden: int) -> None:
        super().__init__()
        fmiddle = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(fmiddle, fout, 3, padding=1))
        self.norm_0 = SPADE(fin, label_nc, hidden)
        self.norm_1 = SPADE(fmiddle, label_nc, hidden)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
            self.norm_s = SPADE(fin, label_nc, hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


@dataclass(frozen=True)
class SPADEConfig:
    label_nc: int  # G's input channels: the classes, plus one for the instance edge map
    out_channels: int = 3
    ngf: int = 64
    hidden: int = 128  # SPADE's nhidden
    z_dim: int = 0  # --use-vae: G starts from a linear map of z (the reference's 256) instead of the label map
    z_grid: int = 8  # with z: the side of that start, crop_size / 32


class SPADEGenerator(nn.Module):
    """(N, label_nc, H, W) one-hot label maps, H and W multiples of 32 → (N, out, H, W) images in [-1, 1]."""

    def __init__(self, cfg: SPADEConfig) -> None:
        super().__init__()
        self.config = cfg
        nf, lab, hid = cfg.ngf, cfg.label_nc, cfg.hidden
        if cfg.z_dim:
            self.fc: nn.Module = nn.Linear(cfg.z_dim, 16 * nf * cfg.z_grid**2)
        else:
            self.fc = nn.Conv2d(lab, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, lab, hid)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, lab, hid)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, lab, hid)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, lab, hid)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, lab, hid)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, lab, hid)
        self.up_3 = SPADEResnetBlock(2 * nf, 1 * nf, lab, hid)
        self.conv_img = nn.Conv2d(nf, cfg.out_channels, 3, padding=1)

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """With z (a VAE generator), z is required; its start grid is resized (nearest) to a label map of
        another size than the training crop's, where the reference supports only that size."""
        h, w = seg.shape[2] // 2**UPSAMPLINGS, seg.shape[3] // 2**UPSAMPLINGS
        cfg = self.config
        if cfg.z_dim:
            if z is None:
                raise ValueError("this SPADE generator starts from z (--use-vae): give z")
            x = self.fc(z.to(seg.dtype)).view(-1, 16 * cfg.ngf, cfg.z_grid, cfg.z_grid)
            x = F.interpolate(x, size=(h, w), mode="nearest")  # always: an exported graph keeps H and W free
        else:
            x = self.fc(F.interpolate(seg, size=(h, w), mode="nearest"))
        x = self.head_0(x, seg)
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.G_middle_0(x, seg)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(x, seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


ENCODER_SIZE = 256  # the reference's ConvEncoder resizes every image to 256² (bilinear) first


class ConvEncoder(nn.Module):
    """SPADE's VAE image encoder (encoder.py): 256² → six 3×3 stride-2 convs (spectral norm, instance norm,
    widths ngf, 2, 4, 8, 8, 8 ×ngf, LeakyReLU 0.2 between) → 4×4 → linear μ and log σ² (256 each).
    The reference drops the sixth conv for crops under 256, which leaves its linear layers the wrong size
    (8×8 inputs); here all six always run, so every crop size works."""

    def __init__(self, ngf: int = 64, z_dim: int = 256, in_channels: int = 3) -> None:
        super().__init__()
        widths = (ngf, 2 * ngf, 4 * ngf, 8 * ngf, 8 * ngf, 8 * ngf)
        layers, prev = [], in_channels
        for width in widths:
            conv = spectral_norm(nn.Conv2d(prev, width, 3, stride=2, padding=1, bias=False))  # no bias before IN
            layers.append(nn.Sequential(conv, nn.InstanceNorm2d(width, affine=False)))
            prev = width
        self.layers = nn.ModuleList(layers)
        self.fc_mu = nn.Linear(prev * 4 * 4, z_dim)
        self.fc_var = nn.Linear(prev * 4 * 4, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] → (μ, log σ²)."""
        if x.shape[-2:] != (ENCODER_SIZE, ENCODER_SIZE):
            x = F.interpolate(x, size=(ENCODER_SIZE, ENCODER_SIZE), mode="bilinear")
        for i, layer in enumerate(self.layers):
            x = layer(x if i == 0 else F.leaky_relu(x, 0.2))
        x = F.leaky_relu(x, 0.2).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def kld(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) summed over the batch and dimensions, as the reference's KLDLoss."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def instance_edges(instances: torch.Tensor) -> torch.Tensor:
    """SPADE's get_edges: 1 where a pixel's instance id differs from its left, right, upper or lower
    neighbour's, else 0; (…, H, W) ids of any integer type → float of the same shape."""
    t = instances
    edge = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.float()


@dataclass(frozen=True)
class SPADEDiscriminatorConfig:
    in_channels: int  # label_nc + image channels
    ndf: int = 64
    n_layers: int = 4
    num_d: int = 2


class NLayerDiscriminator(nn.Module):
    def __init__(self, cfg: SPADEDiscriminatorConfig) -> None:
        super().__init__()
        nf = cfg.ndf
        blocks = [nn.Sequential(nn.Conv2d(cfg.in_channels, nf, 4, 2, 2), nn.LeakyReLU(0.2, False))]
        for n in range(1, cfg.n_layers):
            prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == cfg.n_layers - 1 else 2
            conv = spectral_norm(nn.Conv2d(prev, nf, 4, stride, 2, bias=False))  # bias removed before IN
            blocks.append(nn.Sequential(conv, nn.InstanceNorm2d(nf, affine=False), nn.LeakyReLU(0.2, False)))
        blocks.append(nn.Sequential(nn.Conv2d(nf, 1, 4, 1, 2)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every block's output; the last is the (N, 1, H', W') patch logits."""
        features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, cfg: SPADEDiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg
        self.discriminators = nn.ModuleList(NLayerDiscriminator(cfg) for _ in range(cfg.num_d))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for d in self.discriminators:
            out.append(d(x))
            x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        return out


# torchvision's vgg19().features up to relu5_1: conv indices, and where each of the five slices ends
VGG19_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28)
VGG19_POOLS = (4, 9, 18, 27)
VGG19_SLICES = (2, 7, 12, 21, 30)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (exclusive ends)
VGG_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGG19Features(nn.Module):
    """Frozen VGG19 slices; the widths come from the weights (`widths`: the 13 convs' output channels), so a
    test can use a narrow VGG19 of the same layout. Images in [-1, 1] go in as they are, as SPADE's VGGLoss."""

    def __init__(self, widths: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512)):
        super().__init__()
        layers: list[nn.Module] = []
        convs = iter(widths)
        channels = 3
        for i in range(VGG19_SLICES[-1]):
            if i in VGG19_CONVS:
                width = next(convs)
                layers.append(nn.Conv2d(channels, width, 3, padding=1))
                channels = width
            elif i in VGG19_POOLS:
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, start = [], 0
        for end in VGG19_SLICES:
            for i in range(start, end):
                x = self.features[i](x)
            out.append(x)
            start = end
        return out


def vgg_loss(vgg: VGG19Features, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Σ wᵢ·L1(VGG_i(fake), VGG_i(real)) with SPADE's weights 1/32 … 1."""
    fx, rx = vgg(fake), vgg(real)
    return sum(w * F.l1_loss(a, b.detach()) for w, a, b in zip(VGG_WEIGHTS, fx, rx))  # type: ignore[return-value]


def feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """SPADE's GAN feature loss (unweighted): L1 between D's intermediate features of fake and real, averaged
    over the discriminators (the last output of each, the logits, is left out)."""
    total = fake[0][0].new_zeros(())
    for f_scale, r_scale in zip(fake, real):
        for f, r in zip(f_scale[:-1], r_scale[:-1]):
            total = total + F.l1_loss(f.float(), r.detach().float())
    return total / len(fake)
