"""The DCGAN backbone (Radford et al., ICLR 2016) and its class-conditional variants.

Generator: z (100) → 1×1 → transposed convs (4×4, stride 2) doubling the side and halving the width
from 4×4×(8·ngf) (4×4×1024 at the paper's 64×64 with ngf 128) to the image, BN + ReLU between, tanh
out, no biases (as Radford's code and the PyTorch example). Discriminator: the mirror image, strided
4×4 convs with LeakyReLU 0.2 and BN on every layer but the first, a 4×4 valid conv to one logit.
Other sizes add or drop a stage (32: 4×4×(4·ngf), 128: 4×4×(8·ngf) twice, the width capped at 8·ngf).

Conditioning: G joins a class vector to z (a learned embedding, or the one-hot code of ACGAN's paper);
D either sees one-hot label maps concatenated to the image (`concat`), adds an inner product of a
class embedding with its sum-pooled last features (`projection`, Miyato & Koyama 2018), or grows an
auxiliary classifier head (`acgan`, Odena et al. 2017) returning logits for cross-entropy.

InfoGAN (Chen et al. 2016) widens G's input by its codes and gives D a Q head on the shared trunk (as the
paper's MNIST net: a 128-wide hidden layer with BN and LeakyReLU, then the code parameters); the paper's own
networks, which take the same `DCGANNetConfig`, are in cgan_cli/nn/infogan.py. Before D's
last layer sit, on request, minibatch discrimination or the minibatch standard deviation map
(cgan_cli/nn/minibatch.py). D returns a `DOutput`, whose `features` are what feature matching compares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from cgan_cli.nn.minibatch import MinibatchDiscrimination, MinibatchStdDev
from cgan_cli.nn.norm import init_weights

Q_HIDDEN = 128  # InfoGAN's Q layer width (the paper's Table 1, MNIST)
MINIBATCH_DIMS = 5  # improved-gan's dimensions per minibatch-discrimination kernel

G_CONDS = ("none", "embed", "onehot")
D_CONDS = ("none", "concat", "projection", "acgan")
D_NORMS = ("batch", "layer", "none")


@dataclass(frozen=True)
class DCGANNetConfig:
    """Everything needed to rebuild both networks; stored (via the family config) in every checkpoint."""

    image_size: int = 64
    channels: int = 3
    z_dim: int = 100
    ngf: int = 128
    ndf: int = 128
    num_classes: int = 0
    g_cond: str = "none"
    embed_dim: int = 0  # width of the learned class embedding (g_cond "embed")
    d_cond: str = "none"
    d_norm: str = "batch"
    spectral_norm: bool = False
    code_dim: int = 0  # InfoGAN: G's input grows by the codes (one-hot categoricals, then continuous)
    q_dim: int = 0  # InfoGAN: outputs of D's Q head (category logits, then the continuous codes' parameters)
    minibatch_disc: int = 0  # kernels of minibatch discrimination before D's last layer (0: none)
    minibatch_stddev: int = 0  # group size of the minibatch stddev map before D's last layer (0: none)

    @property
    def stages(self) -> int:
        """Stride-2 layers between 4×4 and the image side."""
        return int(math.log2(self.image_size)) - 2

    @property
    def cond_dim(self) -> int:
        return {"none": 0, "onehot": self.num_classes, "embed": self.embed_dim}[self.g_cond]


def _widths(base: int, stages: int) -> list[int]:
    """Feature widths from the 4×4 map outwards: base·8, base·4, … base (capped at base·8)."""
    return [base * min(8, 2 ** (stages - 1 - i)) for i in range(stages)]


class LatentGenerator(nn.Module):
    """What the latent families' generators share: the class vector (learned embedding, one-hot or none), joined
    to z and the codes before the first layer. A subclass builds its layers and turns that vector into images."""

    def __init__(self, cfg: DCGANNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.g_cond == "embed":
            self.embed = nn.Embedding(cfg.num_classes, cfg.embed_dim)

    @property
    def input_size(self) -> int:
        return self.cfg.z_dim + self.cfg.code_dim + self.cfg.cond_dim

    def class_vector(self, labels: torch.Tensor) -> torch.Tensor:
        """(N,) class indices → (N, cond_dim) conditioning vectors; blend these to interpolate classes."""
        if self.cfg.g_cond == "embed":
            return self.embed(labels)
        if self.cfg.g_cond == "onehot":
            return F.one_hot(labels, self.cfg.num_classes).to(self.embed_dtype)
        return torch.zeros(labels.shape[0], 0, device=labels.device)

    @property
    def embed_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, z_dim + code_dim), cond (N, cond_dim) → images (N, channels, size, size) in [-1, 1]."""
        h = z if cond is None or cond.shape[1] == 0 else torch.cat([z, cond.to(z.dtype)], 1)
        return self.synthesize(h)

    def synthesize(self, h: torch.Tensor) -> torch.Tensor:
        """(N, input_size) joined inputs → images."""
        raise NotImplementedError


class DCGANGenerator(LatentGenerator):
    def __init__(self, cfg: DCGANNetConfig) -> None:
        super().__init__(cfg)
        widths = _widths(cfg.ngf, cfg.stages)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(self.input_size, widths[0], 4, 1, 0, bias=False),  # → 4×4
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], cfg.channels, 4, 2, 1, bias=False), nn.Tanh()]  # → image
        self.main = nn.Sequential(*layers)
        init_weights(self)

    def synthesize(self, h: torch.Tensor) -> torch.Tensor:
        return self.main(h[:, :, None, None])


class DOutput(NamedTuple):
    logits: torch.Tensor  # (N,) real/fake
    classes: torch.Tensor | None  # (N, num_classes) ACGAN's class logits
    codes: torch.Tensor | None  # (N, q_dim) InfoGAN's Q head
    features: torch.Tensor  # (N, C, 4, 4) the trunk's last features ((N, 8·ndf) in InfoGAN's paper net)


class LatentDiscriminator(nn.Module):
    """What the latent families' discriminators share: one-hot label maps on the input (`concat`), the features
    trunk that the subclass builds, and the last touches of initialisation (projection, spectral norm)."""

    def __init__(self, cfg: DCGANNetConfig) -> None:
        super().__init__()
        self.cfg = cfg

    @property
    def input_channels(self) -> int:
        return self.cfg.channels + (self.cfg.num_classes if self.cfg.d_cond == "concat" else 0)

    def finish_init(self) -> None:
        """After the subclass's weight init: the projection embedding, then spectral norm on every layer."""
        if self.cfg.d_cond == "projection":
            nn.init.xavier_uniform_(self.embed.weight)  # as SNGAN's projection D; N(0, 1) starts with huge logits
        if self.cfg.spectral_norm:
            for m in list(self.modules()):
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
                    spectral_norm(m)

    def trunk(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images (and labels, for `concat`) → the features that D's heads and Q share."""
        if self.cfg.d_cond == "concat":  # one constant one-hot map per class appended to the channels
            maps = F.one_hot(labels, self.cfg.num_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, maps.expand(-1, -1, x.shape[2], x.shape[3])], 1)
        return self.features(x)


class DCGANDiscriminator(LatentDiscriminator):
    """Returns a `DOutput`: real/fake logits, and the heads' outputs that the config asks for."""

    def __init__(self, cfg: DCGANNetConfig) -> None:
        super().__init__(cfg)
        widths = _widths(cfg.ndf, cfg.stages)[::-1]  # image side outwards to 4×4
        layers: list[nn.Module] = [
            nn.Conv2d(self.input_channels, widths[0], 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
        ]
        for w_in, w_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False), d_norm(cfg.d_norm, w_out), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)  # → (N, widths[-1], 4, 4)
        last = widths[-1]
        if cfg.minibatch_stddev:
            self.stddev = MinibatchStdDev(cfg.minibatch_stddev)
        self.head = nn.Conv2d(last + (1 if cfg.minibatch_stddev else 0), 1, 4, 1, 0, bias=False)
        if cfg.minibatch_disc:
            # the last layer on [features, o]: a linear map of the concatenation is the head's plus this one's
            self.minibatch = MinibatchDiscrimination(last * 16, cfg.minibatch_disc, MINIBATCH_DIMS)
            self.minibatch_head = nn.Linear(cfg.minibatch_disc, 1, bias=False)
        if cfg.q_dim:
            self.q = nn.Sequential(
                nn.Conv2d(last, Q_HIDDEN, 4, 1, 0, bias=False),
                nn.BatchNorm2d(Q_HIDDEN),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(Q_HIDDEN, cfg.q_dim, 1),
            )
        if cfg.d_cond == "projection":
            self.embed = nn.Embedding(cfg.num_classes, widths[-1])
        if cfg.d_cond == "acgan":
            self.classifier = nn.Conv2d(widths[-1], cfg.num_classes, 4, 1, 0, bias=False)
        init_weights(self)
        if cfg.minibatch_disc:
            nn.init.normal_(self.minibatch_head.weight, 0.0, 0.02)
        self.finish_init()

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DOutput:
        cfg = self.cfg
        h = self.trunk(x, labels)
        logits = self.head(self.stddev(h) if cfg.minibatch_stddev else h).flatten()  # (N,)
        if cfg.minibatch_disc:
            logits = logits + self.minibatch_head(self.minibatch(h)).flatten()
        if cfg.d_cond == "projection":
            logits = logits + (self.embed(labels) * h.sum((2, 3))).sum(1)
        classes = self.classifier(h).flatten(1) if cfg.d_cond == "acgan" else None
        codes = self.q(h).flatten(1) if cfg.q_dim else None
        return DOutput(logits, classes, codes, h)


def d_norm(kind: str, channels: int, conv: bool = True) -> nn.Module:
    """D's `--d-norm` after a conv (or, `conv=False`, a linear layer): batch, layer (WGAN-GP's advice: no batch
    statistics in a critic whose gradients are penalised) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels) if conv else nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels) if conv else nn.LayerNorm(channels)
    return nn.Identity()
