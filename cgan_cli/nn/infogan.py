"""InfoGAN's own networks (Chen et al., NeurIPS 2016, appendix C, Table 1: MNIST; openai/InfoGAN
infogan/models/regularized_gan.py, network_type "mnist"), `cgan train infogan --net paper`. They start at a
quarter of the image side (7×7 at the paper's 28×28, 8×8 at 32, 16×16 at 64), so these sides all work:

    G: z ⊕ codes → FC 1024, BN, ReLU → FC (s/4)²·128, BN, ReLU → 4×4 upconv 64, stride 2, BN, ReLU
       → 4×4 upconv C, stride 2, tanh
    D: 4×4 conv 64, stride 2, lReLU → 4×4 conv 128, stride 2, BN, lReLU → FC 1024, BN, lReLU  (the shared trunk)
       → FC 1 (real/fake)
    Q: on the trunk's 1024 features: FC 128, BN, lReLU → FC (the codes' parameters)

with leaky ReLU slope 0.1 (the paper's; openai/InfoGAN's `leaky_rectify` defaults to 0.01). The widths come
from --ngf and --ndf, whose default 128 gives exactly the paper's: G's FC 8·ngf, then ngf and ngf/2 channels;
D's ndf/2 and ndf channels, then FC 8·ndf. Q's hidden layer is 128 wide at any width. As in the reference,
every layer has a bias except that a layer followed by batch norm has none (the norm's shift cancels it), and
weights start N(0, 0.02), batch-norm scales N(1, 0.02). G ends in tanh, images in [-1, 1], where the reference's
Bernoulli mean is a sigmoid in [0, 1]: the same up to an affine map.

They take the DCGAN backbone's `DCGANNetConfig` and answer as its networks do (`class_vector`, a `DOutput` whose
`features` are the trunk's (N, 8·ndf) vector), so every option of the latent families works with them: the class
conditioning (G's embedding or one-hot joined to z; D's label maps, projection or ACGAN head on the trunk), D's
`--d-norm` (batch, layer, none) and spectral norm, minibatch discrimination and the minibatch stddev feature (a
1024-vector's: one more input of D's last layer).
"""

from __future__ import annotations

import torch
from torch import nn

from cgan_cli.nn.dcgan import (
    MINIBATCH_DIMS,
    Q_HIDDEN,
    DCGANNetConfig,
    DOutput,
    LatentDiscriminator,
    LatentGenerator,
    d_norm,
)
from cgan_cli.nn.minibatch import MinibatchDiscrimination, MinibatchStdDev
from cgan_cli.nn.norm import init_weights

LEAK = 0.1  # the paper's leaky ReLU slope (appendix C)


def generator_widths(ngf: int) -> tuple[int, int, int]:
    """G's FC width, then its channels at s/4 and s/2: (1024, 128, 64) at ngf 128, the paper's."""
    return 8 * ngf, ngf, max(1, ngf // 2)


def discriminator_widths(ndf: int) -> tuple[int, int, int]:
    """D's channels at s/2 and s/4, then its FC width: (64, 128, 1024) at ndf 128, the paper's."""
    return max(1, ndf // 2), ndf, 8 * ndf


def quarter_side(cfg: DCGANNetConfig) -> int:
    """The side of the nets' innermost map: a quarter of the image's, which must divide by 4."""
    if cfg.image_size % 4:
        raise ValueError(f"InfoGAN's paper net needs an image side divisible by 4 (got {cfg.image_size})")
    return cfg.image_size // 4


class InfoGANGenerator(LatentGenerator):
    def __init__(self, cfg: DCGANNetConfig) -> None:
        super().__init__(cfg)
        fc, mid, last = generator_widths(cfg.ngf)
        self.side = side = quarter_side(cfg)
        self.fc = nn.Sequential(
            nn.Linear(self.input_size, fc, bias=False),
            nn.BatchNorm1d(fc),
            nn.ReLU(True),
            nn.Linear(fc, mid * side * side, bias=False),
            nn.BatchNorm1d(mid * side * side),
            nn.ReLU(True),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(mid, last, 4, 2, 1, bias=False),  # → s/2
            nn.BatchNorm2d(last),
            nn.ReLU(True),
            nn.ConvTranspose2d(last, cfg.channels, 4, 2, 1),  # → s
            nn.Tanh(),
        )
        init_weights(self)

    def synthesize(self, h: torch.Tensor) -> torch.Tensor:
        h = self.fc(h)
        return self.conv(h.view(h.shape[0], -1, self.side, self.side))


class InfoGANDiscriminator(LatentDiscriminator):
    """Returns a `DOutput`: real/fake logits, Q's code parameters, and the heads' outputs the config asks for."""

    def __init__(self, cfg: DCGANNetConfig) -> None:
        super().__init__(cfg)
        first, mid, fc = discriminator_widths(cfg.ndf)
        side = quarter_side(cfg)
        batch = cfg.d_norm == "batch"
        self.features = nn.Sequential(
            nn.Conv2d(self.input_channels, first, 4, 2, 1),  # → s/2
            nn.LeakyReLU(LEAK, True),
            nn.Conv2d(first, mid, 4, 2, 1, bias=not batch),  # → s/4
            d_norm(cfg.d_norm, mid),
            nn.LeakyReLU(LEAK, True),
            nn.Flatten(),
            nn.Linear(mid * side * side, fc, bias=not batch),
            d_norm(cfg.d_norm, fc, conv=False),
            nn.LeakyReLU(LEAK, True),
        )  # → (N, fc): the trunk D's head and Q share
        if cfg.minibatch_stddev:
            self.stddev = MinibatchStdDev(cfg.minibatch_stddev)
        self.head = nn.Linear(fc + (1 if cfg.minibatch_stddev else 0), 1)
        if cfg.minibatch_disc:
            self.minibatch = MinibatchDiscrimination(fc, cfg.minibatch_disc, MINIBATCH_DIMS)
            self.minibatch_head = nn.Linear(cfg.minibatch_disc, 1, bias=False)
        if cfg.q_dim:
            self.q = nn.Sequential(
                nn.Linear(fc, Q_HIDDEN, bias=False),
                nn.BatchNorm1d(Q_HIDDEN),
                nn.LeakyReLU(LEAK, True),
                nn.Linear(Q_HIDDEN, cfg.q_dim),
            )
        if cfg.d_cond == "projection":
            self.embed = nn.Embedding(cfg.num_classes, fc)
        if cfg.d_cond == "acgan":
            self.classifier = nn.Linear(fc, cfg.num_classes)
        init_weights(self)
        self.finish_init()

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DOutput:
        cfg = self.cfg
        h = self.trunk(x, labels)
        last = self.stddev(h[:, :, None, None]).flatten(1) if cfg.minibatch_stddev else h
        logits = self.head(last).flatten()  # (N,)
        if cfg.minibatch_disc:
            logits = logits + self.minibatch_head(self.minibatch(h)).flatten()
        if cfg.d_cond == "projection":
            logits = logits + (self.embed(labels) * h).sum(1)
        classes = self.classifier(h) if cfg.d_cond == "acgan" else None
        codes = self.q(h) if cfg.q_dim else None
        return DOutput(logits, classes, codes, h)
