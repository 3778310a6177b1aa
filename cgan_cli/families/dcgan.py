"""DCGAN (Radford et al., ICLR 2016): unconditional image generation from z, and the shared trainer of
the latent-to-image families (`cgan` and `acgan` subclass `LatentGAN`).

Defaults are DCGAN's: z 100, ngf = ndf = 128 (Radford's code; 4×4×1024 at 64×64), BN in G and in D
except its first layer, LeakyReLU 0.2, N(0, 0.02) init, Adam lr 2e-4 with betas (0.5, 0.999), batch
64, 25 epochs at a constant rate (the PyTorch example's `niter`), and the non-saturating loss.
Optional, off by default: spectral norm in D (Miyato et al. 2018; D then drops batch norm, as SN-GAN's
CNN), R1 (Mescheder et al. 2018), one-sided label smoothing (Salimans et al. 2016), an EMA generator,
DiffAugment (Zhao et al. 2020) on everything D sees, and several D steps per G step (`--n-critic`; the
WGAN-GP critic uses layer norm instead of batch norm, as Gulrajani et al. advise).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from cgan_cli.checkpoint import Checkpoint
from cgan_cli.config import TrainConfig, option
from cgan_cli.data.classes import LabelledDataset, LabelledImages, detect_channels, find_images
from cgan_cli.data.grid import grid
from cgan_cli.device import autocast
from cgan_cli.errors import DataError, UsageError
from cgan_cli.families.base import (
    BATCH,
    ExportGraph,
    ExportOptions,
    Family,
    GraphInput,
    SampleOptions,
    Sampler,
    latent_inputs,
    load_net,
    register,
)
from cgan_cli.nn.dcgan import IMAGE_SIZES, DCGANDiscriminator, DCGANGenerator, DCGANNetConfig
from cgan_cli.nn.diffaug import check_policy, diff_augment, parse_policy
from cgan_cli.nn.ema import EMA, warmed_up
from cgan_cli.nn.losses import GAN_LOSSES, SMOOTHABLE, GANLoss, gradient_penalty, r1_penalty

D_NORM_CHOICES = ("auto", "batch", "layer", "none")
GRID_COLUMNS = 8


@dataclass
class LatentConfig(TrainConfig):
    """Options shared by dcgan, cgan and acgan; each family adds its data folder."""

    image_size: int = option(64, "Image side in pixels: 32, 64 or 128 (images are resized and centre-cropped).")
    channels: int = option(0, "Image channels, 1 or 3 (0: detected from the data).", min=0, max=3)
    z_dim: int = option(100, "Latent (noise) dimensions.", min=1)
    ngf: int = option(128, "Generator width: the 4×4 layer has 8·ngf channels at 64×64.", min=1)
    ndf: int = option(128, "Discriminator width of the first layer.", min=1)
    loss: str = option("nonsat", "GAN loss (vanilla: the saturating minimax form).", choices=GAN_LOSSES)
    spectral_norm: bool = option(False, "Spectral normalisation on every D layer (D then has no batch norm).")
    d_norm: str = option("auto", "D normalisation (auto: batch; none with spectral norm; layer with wgangp).",
                         choices=D_NORM_CHOICES)  # fmt: skip
    r1: float = option(0.0, "R1 penalty weight γ on real images (0: off).", min=0.0)
    label_smoothing: float = option(1.0, "D's target for real images: 0.9 is one-sided smoothing (1: off).",
                                    min=0.5, max=1.0)  # fmt: skip
    ema: float = option(0.0, "Keep an EMA generator with this decay, e.g. 0.999 (0: off); sampling uses it.",
                        min=0.0, max=0.99999)  # fmt: skip
    diffaug: str = option("", "DiffAugment policies on real and fake images alike: color,translation,cutout.")
    n_critic: int = option(1, "D steps per G step (each step is one D update on one batch).", min=1)
    lambda_gp: float = option(10.0, "Gradient-penalty weight (with --loss wgangp).", min=0.0)
    flip: bool = option(False, "Random horizontal flips of the training images.")
    batch_size: int = option(64, "Images per step.", min=1)
    epochs: int = option(25, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)
    class_names: tuple[str, ...] = option((), "Class names, from the data.", cli=False)

    def check(self) -> None:
        if self.image_size not in IMAGE_SIZES:
            raise UsageError(f"--image-size must be one of {', '.join(map(str, IMAGE_SIZES))} (got {self.image_size})")
        if self.channels == 2:
            raise UsageError("--channels must be 1 or 3 (or 0 to detect)")
        if self.label_smoothing != 1.0 and self.loss not in SMOOTHABLE:
            raise UsageError(f"--label-smoothing applies to the {', '.join(SMOOTHABLE)} losses, not {self.loss}")
        check_policy(self.diffaug)

    def data_root(self) -> Path:
        raise NotImplementedError

    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        return "none" if self.spectral_norm else "layer" if self.loss == "wgangp" else "batch"

    def net(self) -> DCGANNetConfig:
        return DCGANNetConfig(
            image_size=self.image_size,
            channels=self.channels,
            z_dim=self.z_dim,
            ngf=self.ngf,
            ndf=self.ndf,
            d_norm=self.resolved_d_norm(),
            spectral_norm=self.spectral_norm,
        )


@dataclass
class DCGANConfig(LatentConfig):
    images: str = option("", "Training images: a folder, searched recursively (class subfolders are ignored).",
                         required=True, path=True)  # fmt: skip

    def data_root(self) -> Path:
        return Path(self.images)


class LatentGAN(Family):
    """z (and a class) → image. One step = one D update; G is updated on every `n_critic`-th step."""

    config: LatentConfig
    makes: ClassVar[str] = "samples"
    conditional: ClassVar[bool] = False

    def __init__(self, config: LatentConfig, device: torch.device, compile: bool = False) -> None:
        super().__init__(config, device, compile)
        self._data: LabelledImages | None = None
        if config.channels == 0 or (self.conditional and not config.class_names):
            data = self.data()
            channels = config.channels or detect_channels([p for p, _ in data.items])
            self.config = config = dataclasses.replace(config, channels=channels, class_names=data.names)
        net = self.net_config(config)
        self.G = self.add_net("G", DCGANGenerator(net))
        self.D = self.add_net("D", DCGANDiscriminator(net))
        self.ema = EMA(self.G) if config.ema > 0 else None
        if self.ema is not None:
            self.nets["G_ema"] = self.ema.model
        self.opt_G = self.adam("G", self.G.parameters(), config.lr)
        self.opt_D = self.adam("D", self.D.parameters(), config.lr)
        self.run_G, self.run_D = self.runner("G"), self.runner("D")
        self.gan_loss = GANLoss(config.loss, config.label_smoothing)
        self.policy = parse_policy(config.diffaug)

    @classmethod
    def net_config(cls, config: LatentConfig) -> DCGANNetConfig:
        return config.net()

    # --- data -------------------------------------------------------------------------------
    def find_data(self, root: Path) -> LabelledImages:
        return find_images(root)

    def data(self) -> LabelledImages:
        if self._data is None:
            self._data = self.find_data(self.config.data_root())
            saved = self.config.class_names
            if saved and self._data.names != saved:
                raise DataError(
                    f"{self.config.data_root()}: classes {', '.join(self._data.names)} differ from this run's "
                    f"{', '.join(saved)}"
                )
        return self._data

    def dataset(self) -> LabelledDataset:
        cfg = self.config
        return LabelledDataset(self.data(), cfg.image_size, cfg.channels, flip=cfg.flip)

    def validation_batch(self) -> dict[str, torch.Tensor]:
        """Fixed latents (from --seed): one row per class (up to 10), or 8×8 when unconditional."""
        classes = len(self.config.class_names)
        rows = min(classes, 10) if self.conditional else GRID_COLUMNS
        g = torch.Generator().manual_seed(self.config.seed)
        z = torch.randn(rows * GRID_COLUMNS, self.config.z_dim, generator=g)
        labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS) if self.conditional else torch.zeros(len(z))
        return {"z": z, "label": labels.long()}

    # --- training ---------------------------------------------------------------------------
    def discriminate(
        self, images: torch.Tensor, labels: torch.Tensor, eager: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(real/fake logits, class logits or None) of D on DiffAugmented images (`eager`: never the
        compiled D, for R1's double backward)."""
        D = self.D if eager else self.run_D
        out = D(diff_augment(images, self.policy) if self.policy else images, labels)
        return out if isinstance(out, tuple) else (out, None)

    def class_loss(self, class_logits: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor | None:
        """ACGAN's auxiliary cross-entropy; None for families without a classifier head."""
        return None

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg = self.config
        real, labels = batch["image"], batch["label"]
        g_step = self.step % cfg.n_critic == 0
        z = torch.randn(real.shape[0], cfg.z_dim, device=self.device)
        with torch.set_grad_enabled(g_step), autocast(self.device):
            fake = self.run_G(z, self.G.class_vector(labels))  # (N, C, H, W); fakes share the real labels

        # D: real → real, fake → fake (+ class CE, GP, R1)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        if cfg.r1:
            real = real.detach().requires_grad_(True)
        with autocast(self.device):
            # R1 differentiates D twice: the whole D step runs eager then (a compiled D's batch-norm update
            # would also bump the running statistics the eager graph saved)
            real_logits, real_cls = self.discriminate(real, labels, eager=bool(cfg.r1))
            fake_logits, fake_cls = self.discriminate(fake.detach(), labels, eager=bool(cfg.r1))
            loss_d_real = self.gan_loss(real_logits, real=True)
            loss_d_fake = self.gan_loss(fake_logits, real=False)
        loss_d = loss_d_real + loss_d_fake
        losses = {"D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach()}
        cls_real, cls_fake = self.class_loss(real_cls, labels), self.class_loss(fake_cls, labels)
        if cls_real is not None and cls_fake is not None:
            loss_d = loss_d + cls_real + cls_fake
            losses["D_cls"] = (cls_real + cls_fake).detach()
        if self.gan_loss.uses_gradient_penalty:
            with autocast(self.device):
                gp = gradient_penalty(lambda x: _adversarial(self.D(x, labels)), real, fake, cfg.lambda_gp)
            loss_d = loss_d + gp
            losses["D_gp"] = gp.detach()
        if cfg.r1:
            r1 = r1_penalty(real_logits, real, cfg.r1)
            loss_d = loss_d + r1
            losses["D_r1"] = r1.detach()
        loss_d.backward()
        self.opt_D.step()
        if not g_step:
            return losses

        # G: make D call the fakes real (and of the right class)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with autocast(self.device):
            logits, cls = self.discriminate(fake, labels)
            loss_g = self.gan_loss(logits, real=True, generator=True)
        losses["G"] = loss_g.detach()
        cls_g = self.class_loss(cls, labels)
        if cls_g is not None:
            loss_g = loss_g + cls_g
            losses["G_cls"] = cls_g.detach()
        loss_g.backward()
        self.opt_G.step()
        if self.ema is not None:
            self.ema.update(self.G, warmed_up(cfg.ema, self.step))
        return losses

    @torch.no_grad()
    def sample_grid(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        G = self.ema.model if self.ema is not None else self.G
        was_training = G.training
        G.eval()
        try:
            images = G(batch["z"], G.class_vector(batch["label"])).float()
        finally:
            G.train(was_training)
        return grid([list(images[i : i + GRID_COLUMNS]) for i in range(0, len(images), GRID_COLUMNS)])

    # --- inference --------------------------------------------------------------------------
    @classmethod
    def inference_groups(cls) -> tuple[str, ...]:
        return ("net/G", "net/G_ema")

    @classmethod
    def sampler(cls, ckpt: Checkpoint, device: torch.device, options: SampleOptions) -> Sampler:
        cfg = cls.config_from(ckpt)
        net = DCGANGenerator(cls.net_config(cfg))
        use_ema = options.ema and any(k.startswith("net/G_ema/") for k in ckpt.tensors)
        load_net(net, ckpt, "G_ema" if use_ema else "G")
        net.eval().requires_grad_(False).to(device)
        names = cfg.class_names if cls.conditional else ()
        return Sampler(net, cfg.z_dim, names, net.class_vector, cfg.channels, cfg.image_size, use_ema)

    @classmethod
    def export_graph(cls, ckpt: Checkpoint, options: ExportOptions) -> ExportGraph:
        sampler = cls.sampler(ckpt, torch.device("cpu"), SampleOptions(ema=options.ema))
        z, psi = latent_inputs(sampler.z_dim, "ψ in [0, 1]: z is scaled by it (1: off)")
        names = sampler.class_names
        size = sampler.image_size
        output = f"(N, {sampler.channels}, {size}, {size}) in [-1, 1]"
        weights = "G_ema" if sampler.ema else "G"
        if not names:
            return ExportGraph(LatentGraph(sampler.net), (z, psi), output, weights)
        label = GraphInput("label", (BATCH,), "index", f"class index: {', '.join(names)}", high=len(names))
        return ExportGraph(ClassGraph(sampler.net), (z, label, psi), output, weights, {"classes": list(names)})


class LatentGraph(nn.Module):
    """G(ψ·z): `cgan sample` as one graph."""

    def __init__(self, G: DCGANGenerator) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:
        return self.G(z * truncation)


class ClassGraph(LatentGraph):
    """G(ψ·z, class vector of the label): `cgan sample --class` as one graph."""

    def forward(self, z: torch.Tensor, label: torch.Tensor, truncation: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.G(z * truncation, self.G.class_vector(label))


@register
class DCGAN(LatentGAN):
    name = "dcgan"
    summary = "Unconditional DCGAN (Radford et al. 2016): images from noise."
    Config = DCGANConfig


def _adversarial(out: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The real/fake logits of D's output (ACGAN's D also returns class logits)."""
    return out[0] if isinstance(out, tuple) else out
